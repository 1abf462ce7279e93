//! Group commit for appends, shared by the adapters: every
//! [`Store::append_events`](crate::Store::append_events) call becomes a job for one writer
//! task, which writes all the jobs waiting at that moment in one transaction and one durable
//! commit, and then answers each job.
//!
//! A durable commit costs a flush to disk, and appends take turns anyway (seqs must be
//! committed in order): one transaction per request bounds ingest at one request per flush.
//! Grouping keeps every guarantee of a single append (a job is atomic and answered only after
//! the commit that holds it) while concurrent requests share the flush. An adapter's
//! [`GroupWriter`] decides what fails alone (an unknown workspace: that job) and what fails
//! the group (a database error: none of its jobs is stored; their callers retry, and message
//! ids de-duplicate).
//!
//! The task ends when the last sender (the last clone of the store) is dropped. Callers encode
//! their rows before queueing, so that the encoding runs beside the writer, not in it.

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::{AppendStatus, StoreError, StoreResult, WorkspaceId};

/// A group stops taking jobs at this many rows (a bound on the transaction's size).
const MAX_GROUP_ROWS: usize = 50_000;

/// Jobs that may wait for the writer; more callers wait to queue.
const QUEUE: usize = 256;

/// One caller's append, waiting for its group.
pub struct AppendJob<R> {
    pub workspace: WorkspaceId,
    /// The events, encoded for the adapter's rows.
    pub rows: Vec<R>,
    reply: oneshot::Sender<StoreResult<Vec<AppendStatus>>>,
}

/// An adapter's writing of one group.
#[async_trait]
pub trait GroupWriter: Send + 'static {
    type Row: Send + 'static;

    /// Writes `group` in one transaction and returns one result per job, in order.
    async fn write_group(
        &mut self,
        group: &mut [AppendJob<Self::Row>],
    ) -> Vec<StoreResult<Vec<AppendStatus>>>;
}

/// The sending side of a group writer: what the store holds.
pub struct Appends<R> {
    jobs: mpsc::Sender<AppendJob<R>>,
    /// Names the writer in the error a caller gets when it has stopped.
    name: &'static str,
}

impl<R> Clone for Appends<R> {
    fn clone(&self) -> Appends<R> {
        Appends {
            jobs: self.jobs.clone(),
            name: self.name,
        }
    }
}

impl<R> std::fmt::Debug for Appends<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appends").field("name", &self.name).finish()
    }
}

impl<R: Send + 'static> Appends<R> {
    /// Starts the writer task (on the current tokio runtime); `name` names it in errors.
    pub fn start<W: GroupWriter<Row = R>>(writer: W, name: &'static str) -> Appends<R> {
        let (jobs, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, receiver));
        Appends { jobs, name }
    }

    /// Queues `rows` for `workspace` and waits for the commit of their group.
    pub async fn append(
        &self,
        workspace: WorkspaceId,
        rows: Vec<R>,
    ) -> StoreResult<Vec<AppendStatus>> {
        let (reply, answer) = oneshot::channel();
        let job = AppendJob {
            workspace,
            rows,
            reply,
        };
        let stopped =
            || StoreError::Unavailable(format!("the {} append writer stopped", self.name));
        self.jobs.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run<W: GroupWriter>(mut writer: W, mut jobs: mpsc::Receiver<AppendJob<W::Row>>) {
    while let Some(first) = jobs.recv().await {
        let mut size = first.rows.len();
        let mut group = vec![first];
        while size < MAX_GROUP_ROWS {
            match jobs.try_recv() {
                Ok(job) => {
                    size += job.rows.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let results = writer.write_group(&mut group).await;
        debug_assert_eq!(results.len(), group.len(), "one result per job");
        for (job, result) in group.into_iter().zip(results) {
            // A caller that went away misses its answer, not its outcome: what the result says
            // was stored is stored, and a retry is de-duplicated by message id.
            let _ = job.reply.send(result);
        }
    }
}

/// The distinct workspaces a group's jobs name, in increasing order (for the one query that
/// tells which exist).
pub fn workspaces<R>(group: &[AppendJob<R>]) -> Vec<i64> {
    let mut wanted: Vec<i64> = group.iter().map(|job| job.workspace.0).collect();
    wanted.sort_unstable();
    wanted.dedup();
    wanted
}

/// One result per job, each `error` (the group failed before its commit: nothing is stored).
pub fn fail_all<R>(
    group: &[AppendJob<R>],
    error: &StoreError,
) -> Vec<StoreResult<Vec<AppendStatus>>> {
    group.iter().map(|_| Err(same_error(error))).collect()
}

/// `results` with every success turned into `error` (the group's commit failed).
pub fn fail_successes(results: &mut [StoreResult<Vec<AppendStatus>>], error: &StoreError) {
    for result in results {
        if result.is_ok() {
            *result = Err(same_error(error));
        }
    }
}

/// The same error for every job of a failed group.
fn same_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        other => StoreError::other(other.to_string()),
    }
}
