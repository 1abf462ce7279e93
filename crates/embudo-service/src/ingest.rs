//! Ingest: validated events into the durable log.
//!
//! An append returns only after the store committed it; profile processing follows from the log.

use embudo_core::Event;
use embudo_store::{AppendStatus, LoggedEvent, WorkspaceId};

use crate::{Embudo, Result};

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngestReceipt {
    pub inserted: usize,
    /// Messages whose id was already stored: retries, stored once.
    pub duplicates: usize,
    /// Events the store would not take, by index in the input, with the reason. The others
    /// were stored.
    pub rejected: Vec<(usize, String)>,
}

impl Embudo {
    /// Appends events to the log, durably, and wakes the processor.
    #[tracing::instrument(skip_all, fields(workspace_id = %workspace, n_events = events.len()))]
    pub async fn ingest(&self, workspace: WorkspaceId, events: &[Event]) -> Result<IngestReceipt> {
        let rejected = self.check_all(events);
        // The common case (all valid) appends the caller's slice as it is.
        let valid: Vec<Event>;
        let to_append: &[Event] = if rejected.is_empty() {
            events
        } else {
            valid = events
                .iter()
                .enumerate()
                .filter(|(index, _)| !rejected.iter().any(|(bad, _)| bad == index))
                .map(|(_, event)| event.clone())
                .collect();
            &valid
        };
        if to_append.is_empty() {
            return Ok(IngestReceipt {
                rejected,
                ..IngestReceipt::default()
            });
        }
        let statuses = self.inner.store.append_events(workspace, to_append).await?;
        Ok(self.receipt(&statuses, rejected))
    }

    /// Appends events (as [`Embudo::ingest`] does) and then processes them into profiles, from
    /// memory when they are all of the log after the processor's cursor (a bulk import into a
    /// store no one else writes to), else by processing the log up to them in `batch_size`
    /// steps. Returns what each half did.
    pub async fn ingest_and_process(
        &self,
        workspace: WorkspaceId,
        events: Vec<Event>,
        batch_size: usize,
    ) -> Result<(IngestReceipt, crate::ProcessOutcome)> {
        let (valid, rejected) = self.split_valid(events);
        if valid.is_empty() {
            let receipt = IngestReceipt {
                rejected,
                ..IngestReceipt::default()
            };
            return Ok((receipt, crate::ProcessOutcome::default()));
        }
        let statuses = self.inner.store.append_events(workspace, &valid).await?;
        let receipt = self.receipt(&statuses, rejected);
        let appended: Vec<LoggedEvent> = valid
            .into_iter()
            .zip(statuses)
            .filter_map(|(event, status)| match status {
                AppendStatus::Inserted { seq } => Some(LoggedEvent {
                    seq,
                    workspace_id: workspace,
                    event,
                    profile_id: None,
                }),
                AppendStatus::Duplicate => None,
            })
            .collect();
        let outcome = self.process_appended(appended, batch_size).await?;
        Ok((receipt, outcome))
    }

    /// The events that pass validation, and every one that fails, by index, with the reason.
    pub(crate) fn split_valid(&self, events: Vec<Event>) -> (Vec<Event>, Vec<(usize, String)>) {
        let rejected = self.check_all(&events);
        if rejected.is_empty() {
            return (events, rejected);
        }
        let valid = events
            .into_iter()
            .enumerate()
            .filter(|(index, _)| !rejected.iter().any(|(bad, _)| bad == index))
            .map(|(_, event)| event)
            .collect();
        (valid, rejected)
    }

    /// Every event that fails validation, by index, with the reason.
    fn check_all(&self, events: &[Event]) -> Vec<(usize, String)> {
        events
            .iter()
            .enumerate()
            .filter_map(|(index, event)| {
                embudo_store::validate_event(event)
                    .map_err(|err| err.to_string())
                    .and_then(|()| self.check_question_answer(event))
                    .err()
                    .map(|reason| (index, reason))
            })
            .collect()
    }

    /// The receipt of an append, waking the processor when something new was stored.
    fn receipt(&self, statuses: &[AppendStatus], rejected: Vec<(usize, String)>) -> IngestReceipt {
        let inserted = statuses
            .iter()
            .filter(|status| matches!(status, AppendStatus::Inserted { .. }))
            .count();
        let receipt = IngestReceipt {
            inserted,
            duplicates: statuses.len() - inserted,
            rejected,
        };
        if inserted > 0 {
            self.inner.log_grew.notify_one();
        }
        receipt
    }

    /// A `Question Answered` track event must name a question and answer of the bank.
    fn check_question_answer(&self, event: &Event) -> Result<(), String> {
        if event.kind != embudo_core::EventKind::Track
            || event.name.as_deref() != Some(crate::questions::QUESTION_ANSWERED)
        {
            return Ok(());
        }
        crate::questions::check_answer(&self.inner.settings.questions.bank, event)
    }

    /// Waits until new events may be in the log (or returns at once if they arrived meanwhile).
    pub async fn log_grew(&self) {
        self.inner.log_grew.notified().await;
    }
}
