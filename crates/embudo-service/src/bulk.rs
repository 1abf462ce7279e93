//! Bulk loading: a stream of event batches into one workspace, appended and processed into
//! profiles with each event written once (the path of `embudo import`).
//!
//! When the log holds nothing unprocessed, a batch is processed in memory *before* it is
//! appended, and [`Store::append_processed`](embudo_store::Store::append_processed) writes the
//! events already assigned to their profiles together with the profiles, in one transaction.
//! While that transaction runs, the next batch is computed on top of it ([`Overlay`]): the
//! store's writes and the processing share the two cores instead of taking turns.
//!
//! Whatever the fast path cannot take goes the ordinary way ([`Embudo::ingest_and_process`]):
//! a batch with a message id already stored (a re-run import), a log that someone else
//! appended to meanwhile, or a batch after one with merges is computed only once that one is
//! stored. The store's checks (the log's end, the cursor, unique message ids) make the fast
//! path safe against any other writer: a batch it cannot store is stored nothing of, then
//! appended and processed the ordinary way.

use std::sync::Arc;

use embudo_core::Event;
use embudo_store::{LoggedEvent, ProcessingBatch, StoreError, WorkspaceId};
use foldhash::{HashSet, HashSetExt};

use crate::ingest::IngestReceipt;
use crate::process::{IdBlock, MAX_ID_RESERVATION, Overlay, PROFILES_CURSOR, ProcessOutcome};
use crate::{Embudo, Result, ServiceError};

/// What the batches that became durable did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Appended events and repeats; `rejected` holds each batch's rejects by their index in
    /// that batch.
    pub receipt: IngestReceipt,
    pub processed: ProcessOutcome,
}

impl Loaded {
    fn add(&mut self, receipt: IngestReceipt, processed: ProcessOutcome) {
        self.receipt.inserted += receipt.inserted;
        self.receipt.duplicates += receipt.duplicates;
        self.receipt.rejected.extend(receipt.rejected);
        self.processed = self.processed.plus(processed);
    }
}

/// A batch computed and being stored.
struct InFlight {
    task: tokio::task::JoinHandle<embudo_store::StoreResult<()>>,
    batch: Arc<ProcessingBatch>,
    events: Arc<Vec<Event>>,
    /// Events of the input that repeated an earlier one of the batch.
    repeats: usize,
    rejected: Vec<(usize, String)>,
    processed: ProcessOutcome,
}

/// Loads batches into one workspace; see the module documentation. Call
/// [`BulkLoad::finish`] at the end: a batch is durable only when a call has returned it in
/// its [`Loaded`].
pub struct BulkLoad<'a> {
    embudo: &'a Embudo,
    workspace: WorkspaceId,
    /// Events per processing step on the ordinary path.
    step: usize,
    ids: IdBlock,
    in_flight: Option<InFlight>,
    /// The batch stored last, freed once the next one is on its way to the writer (or when
    /// the load ends): freeing a batch takes the processing task some milliseconds, which the
    /// writer spent waiting when it came first. Its events go to `spent` then.
    retired: Option<(Arc<ProcessingBatch>, Arc<Vec<Event>>)>,
    /// The events of the last batch retired, for the caller to take ([`BulkLoad::take_spent`]);
    /// dropped when the next batch retires.
    spent: Option<Vec<Event>>,
    /// The last batch found stored events: the next goes the ordinary way too.
    ordinary_next: bool,
}

impl Embudo {
    /// Starts a bulk load into `workspace`; `step` is the processing step of the ordinary
    /// path.
    pub fn bulk_load(&self, workspace: WorkspaceId, step: usize) -> BulkLoad<'_> {
        BulkLoad {
            embudo: self,
            workspace,
            step: step.max(1),
            ids: IdBlock::default(),
            in_flight: None,
            retired: None,
            spent: None,
            ordinary_next: false,
        }
    }
}

impl BulkLoad<'_> {
    /// Takes a batch. Returns what became durable meanwhile: usually the batch before this
    /// one (this one is being stored when the call returns).
    pub async fn push(&mut self, events: Vec<Event>) -> Result<Loaded> {
        let (valid, rejected) = self.embudo.split_valid(events);
        let mut loaded = Loaded::default();
        if self.ordinary_next || valid.is_empty() {
            loaded = self.settle().await?.0;
            self.ordinary(valid, rejected, &mut loaded).await?;
            return Ok(loaded);
        }
        let in_flight_merges = self
            .in_flight
            .as_ref()
            .is_some_and(|in_flight| !in_flight.batch.merges.is_empty());
        if in_flight_merges {
            // Its merges re-point rows it does not list: compute on top of the store.
            loaded = self.settle().await?.0;
            if self.ordinary_next {
                self.ordinary(valid, rejected, &mut loaded).await?;
                return Ok(loaded);
            }
        }
        let store = &self.embudo.inner.store;
        let cursor = match &self.in_flight {
            Some(in_flight) => in_flight.batch.cursor_to,
            None => {
                let cursor = store.cursor(PROFILES_CURSOR).await?;
                if store.log_head().await? != cursor {
                    // Events wait in the log: the ordinary path processes them first.
                    self.ordinary(valid, rejected, &mut loaded).await?;
                    return Ok(loaded);
                }
                cursor
            }
        };
        let (log, repeats) = first_occurrences(self.workspace, valid, cursor);
        let overlay = self
            .in_flight
            .as_ref()
            .and_then(|in_flight| Overlay::new(self.workspace, Arc::clone(&in_flight.batch)));
        // The ids this batch may need were reserved before the batch in flight was sent, so
        // that computing never waits for the writer.
        self.ids
            .ensure(self.embudo, log.len() + 1, MAX_ID_RESERVATION)
            .await?;
        let computed = self
            .embudo
            .compute_step(cursor, &log, overlay.as_ref(), &mut self.ids)
            .await;
        drop(overlay);
        // Unwrapped before waiting for the batch in flight: once it is stored, the writer waits
        // for this one.
        let events: Vec<Event> = log.into_iter().map(|logged| logged.event).collect();
        let (settled, as_computed) = self.settle().await?;
        loaded.add(settled.receipt, settled.processed);
        if !as_computed {
            // The batch in flight was not stored as computed, and this one was computed on top
            // of it.
            self.ordinary(events, rejected, &mut loaded).await?;
            loaded.receipt.duplicates += repeats;
            return Ok(loaded);
        }
        let (batch, processed) = computed?;
        // Reserved now, while the writer is free, for the next batch.
        self.ids
            .ensure(self.embudo, 2 * events.len() + 1, MAX_ID_RESERVATION)
            .await?;
        let batch = Arc::new(batch);
        let events = Arc::new(events);
        let task = {
            let store = Arc::clone(&self.embudo.inner.store);
            let (batch, events) = (Arc::clone(&batch), Arc::clone(&events));
            let workspace = self.workspace;
            tokio::spawn(async move { store.append_processed(workspace, &events, &batch).await })
        };
        self.in_flight = Some(InFlight {
            task,
            batch,
            events,
            repeats,
            rejected,
            processed,
        });
        if let Some((batch, events)) = self.retired.take() {
            drop(batch);
            // The writer is done with them: the events are this load's alone.
            self.spent = Arc::try_unwrap(events).ok();
        }
        Ok(loaded)
    }

    /// The events of a batch that was stored, once this load is done with them. The caller
    /// that made them can free them on its own thread: mimalloc frees memory that another
    /// thread allocated on a slower path, and a batch's events were a tenth of the processing
    /// task's work. Left here, they are freed with the next batch.
    pub fn take_spent(&mut self) -> Option<Vec<Event>> {
        self.spent.take()
    }

    /// Waits for the batch in flight. Returns what became durable.
    pub async fn finish(mut self) -> Result<Loaded> {
        Ok(self.settle().await?.0)
    }

    /// Waits for the batch in flight; one the store refused as computed (a taken message
    /// id, a log someone else appended to) is appended and processed the ordinary way.
    /// Returns what became durable, and whether it was stored as computed (true when nothing
    /// was in flight).
    async fn settle(&mut self) -> Result<(Loaded, bool)> {
        let mut loaded = Loaded::default();
        let Some(in_flight) = self.in_flight.take() else {
            return Ok((loaded, true));
        };
        let stored = in_flight.task.await.map_err(|error| {
            ServiceError::Unavailable(format!("the writing task failed: {error}"))
        })?;
        match stored {
            Ok(()) => {
                self.ordinary_next = false;
                let receipt = IngestReceipt {
                    inserted: in_flight.events.len(),
                    duplicates: in_flight.repeats,
                    rejected: in_flight.rejected,
                };
                loaded.add(receipt, in_flight.processed);
                self.retired = Some((in_flight.batch, in_flight.events));
                return Ok((loaded, true));
            }
            Err(StoreError::Conflict(reason)) => {
                tracing::debug!(%reason, "bulk batch goes the ordinary way");
                drop(in_flight.batch);
                let events = Arc::try_unwrap(in_flight.events)
                    .unwrap_or_else(|shared| shared.as_ref().clone());
                let mut receipt = IngestReceipt {
                    rejected: in_flight.rejected,
                    ..IngestReceipt::default()
                };
                let processed = self.ordinary_receipt(events, &mut receipt).await?;
                receipt.duplicates += in_flight.repeats;
                loaded.add(receipt, processed);
            }
            Err(other) => return Err(other.into()),
        }
        Ok((loaded, false))
    }

    /// Appends and processes `events` the ordinary way; the next batch goes the ordinary way
    /// too when some were stored already.
    async fn ordinary(
        &mut self,
        events: Vec<Event>,
        rejected: Vec<(usize, String)>,
        loaded: &mut Loaded,
    ) -> Result<()> {
        let mut receipt = IngestReceipt {
            rejected,
            ..IngestReceipt::default()
        };
        let processed = self.ordinary_receipt(events, &mut receipt).await?;
        loaded.add(receipt, processed);
        Ok(())
    }

    async fn ordinary_receipt(
        &mut self,
        events: Vec<Event>,
        receipt: &mut IngestReceipt,
    ) -> Result<ProcessOutcome> {
        if events.is_empty() {
            return Ok(ProcessOutcome::default());
        }
        let (appended, processed) = self
            .embudo
            .ingest_and_process(self.workspace, events, self.step)
            .await?;
        receipt.inserted += appended.inserted;
        receipt.duplicates += appended.duplicates;
        // The events were validated before: nothing is rejected here.
        receipt.rejected.extend(appended.rejected);
        self.ordinary_next = appended.duplicates > 0;
        Ok(processed)
    }
}

/// The batch as the log after `cursor`, each message id once (the first occurrence), and how
/// many repeats were left out.
fn first_occurrences(
    workspace: WorkspaceId,
    events: Vec<Event>,
    cursor: i64,
) -> (Vec<LoggedEvent>, usize) {
    let n = events.len();
    let first: Vec<bool> = {
        let mut seen: HashSet<&str> = HashSet::with_capacity(n);
        events
            .iter()
            .map(|event| seen.insert(event.message_id.as_str()))
            .collect()
    };
    let mut log = Vec::with_capacity(n);
    for (event, first) in events.into_iter().zip(first) {
        if !first {
            continue;
        }
        log.push(LoggedEvent {
            seq: cursor + 1 + log.len() as i64,
            workspace_id: workspace,
            event,
            profile_id: None,
        });
    }
    let repeats = n - log.len();
    (log, repeats)
}

#[cfg(test)]
mod tests;
