//! The import pipeline: one blocking thread reads, decompresses and converts the file; the
//! async side appends its batches through [`Embudo::ingest`] (or, processing them, through
//! [`Embudo::bulk_load`]); a bounded channel between them keeps at most a few batches in
//! memory.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use embudo_core::Event;
use embudo_service::Embudo;
use embudo_service::bulk::Loaded;
use embudo_store::WorkspaceId;

use crate::{Format, ImportError, ImportOptions, Output, Summary};

/// Events read ahead, waiting between the reader and the appender: whole batches, at least one.
const CHANNEL_EVENTS: usize = 100_000;

/// Live counters of an import, for a progress bar.
#[derive(Debug, Default)]
pub struct Progress {
    /// Rows (lines) read.
    pub rows: AtomicU64,
    /// Bytes of the file read (compressed bytes for a `.gz`).
    pub bytes: AtomicU64,
    /// Events stored or found already stored.
    pub events: AtomicU64,
}

/// What an import does with the events it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read and convert only: nothing is stored.
    DryRun,
    /// Append to the log; profile processing follows later (`serve`'s processor).
    Store,
    /// Append each batch processed into profiles ([`Embudo::bulk_load`]: each batch is
    /// processed in memory and written with its events already assigned, while the next one
    /// is read and processed); the processor's steps are at most this many events when it has
    /// to read the log itself.
    StoreAndProcess { step: usize },
}

/// Imports `path` into `workspace`. Rejected rows are written to `rejected` as JSON lines.
pub async fn import(
    embudo: &Embudo,
    workspace: WorkspaceId,
    path: &Path,
    options: &ImportOptions,
    progress: Arc<Progress>,
    rejected: &mut (dyn Write + Send),
    mode: Mode,
) -> Result<Summary, ImportError> {
    let started = Instant::now();
    let file = File::open(path)?;
    let read_ahead = (CHANNEL_EVENTS / options.batch_size.max(1)).max(1);
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Output>(read_ahead);
    // Stored batches' events go back to the reading thread, which allocated them, to be freed
    // there (see `BulkLoad::take_spent`).
    let (spent_sender, spent) = std::sync::mpsc::channel::<Vec<Event>>();
    let reader_options = options.clone();
    let reader_progress = Arc::clone(&progress);
    let reader = tokio::task::spawn_blocking(move || {
        read_file(file, &reader_options, &reader_progress, &sender, &spent)
    });
    let mut summary = Summary::default();
    let mut append_time = Duration::ZERO;
    let mut loader = match mode {
        Mode::StoreAndProcess { step } => Some(embudo.bulk_load(workspace, step)),
        Mode::DryRun | Mode::Store => None,
    };
    let mut failure = None;
    while let Some(output) = receiver.recv().await {
        for issue in &output.skipped {
            *summary.skipped.entry(issue.count_key()).or_default() += 1;
        }
        for issue in &output.rejected {
            *summary.rejected.entry(issue.count_key()).or_default() += 1;
            writeln!(rejected, "{}", issue.to_json()).map_err(ImportError::WriteRejected)?;
        }
        summary.events += output.events.len() as u64;
        if mode == Mode::DryRun || output.events.is_empty() {
            continue;
        }
        let append_started = Instant::now();
        let result = match &mut loader {
            Some(loader) => {
                let loaded = loader.push(output.events).await;
                if let Some(events) = loader.take_spent() {
                    // A reader that has finished frees nothing more: these drop here.
                    let _ = spent_sender.send(events);
                }
                loaded
            }
            None => embudo
                .ingest(workspace, &output.events)
                .await
                .map(|receipt| Loaded {
                    receipt,
                    ..Loaded::default()
                }),
        };
        match result {
            Ok(loaded) => summary.add(&loaded, &progress),
            Err(err) => {
                // Dropping the receiver stops the reader at its next batch.
                failure = Some(ImportError::Ingest(err));
                break;
            }
        }
        append_time += append_started.elapsed();
    }
    if let (Some(loader), None) = (loader, &failure) {
        let append_started = Instant::now();
        match loader.finish().await {
            Ok(loaded) => summary.add(&loaded, &progress),
            Err(err) => failure = Some(ImportError::Ingest(err)),
        }
        append_time += append_started.elapsed();
    }
    if mode != Mode::DryRun {
        // Nothing is stored after this point: what the summary (or the error) says was
        // stored is durable once it is reported, also when the store deferred its flushes
        // (see `Store::sync`).
        let synced = embudo.store().sync().await;
        if let (Err(err), None) = (synced, &failure) {
            failure = Some(ImportError::Ingest(err.into()));
        }
    }
    drop(receiver);
    let read = reader
        .await
        .map_err(|err| ImportError::Thread(err.to_string()))?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    let (format, parse_time) = read?;
    summary.format = Some(format);
    summary.rows = progress.rows.load(Ordering::Relaxed);
    summary.bytes = progress.bytes.load(Ordering::Relaxed);
    summary.parse_time = parse_time;
    summary.append_time = append_time;
    summary.total_time = started.elapsed();
    Ok(summary)
}

impl Summary {
    /// Counts what became durable.
    fn add(&mut self, loaded: &Loaded, progress: &Progress) {
        let receipt = &loaded.receipt;
        self.stored += receipt.inserted as u64;
        self.duplicates += receipt.duplicates as u64;
        for (_, reason) in &receipt.rejected {
            *self
                .rejected
                .entry(format!("(event): {reason}"))
                .or_default() += 1;
        }
        progress.events.fetch_add(
            (receipt.inserted + receipt.duplicates) as u64,
            Ordering::Relaxed,
        );
        self.processed = self.processed.plus(loaded.processed);
    }
}

/// The reading thread: returns the format and the time spent converting (waits for the channel
/// not included).
fn read_file(
    file: File,
    options: &ImportOptions,
    progress: &Progress,
    sender: &tokio::sync::mpsc::Sender<Output>,
    spent: &std::sync::mpsc::Receiver<Vec<Event>>,
) -> Result<(Format, Duration), ImportError> {
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    let counted = Counted {
        inner: file,
        progress,
    };
    let mut buffered = BufReader::with_capacity(1 << 20, counted);
    let gzip = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let mut emit = |output: Output| -> Result<(), ImportError> {
        for events in spent.try_iter() {
            drop(events);
        }
        let wait_started = Instant::now();
        let sent = sender.blocking_send(output);
        waited += wait_started.elapsed();
        // A closed channel means the appender stopped (it reports why).
        sent.map_err(|_| ImportError::Thread("the appender stopped".to_owned()))
    };
    let format = if gzip {
        let decoder = flate2::bufread::MultiGzDecoder::new(buffered);
        crate::read::convert(decoder, options, progress, &mut emit)?
    } else {
        crate::read::convert(buffered, options, progress, &mut emit)?
    };
    Ok((format, started.elapsed().saturating_sub(waited)))
}

/// Counts the bytes read from the file.
struct Counted<'a, R> {
    inner: R,
    progress: &'a Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
