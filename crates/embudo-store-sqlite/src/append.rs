//! Appends: the group commit's writer for SQLite ([`embudo_store::group`]: every job waiting
//! at a moment in one transaction and one fsync), and the inserts of a processed batch's
//! events.
//!
//! SQLite has one writer and a durable commit costs an fsync: grouping lets concurrent
//! requests share it. The writer hands out seqs itself (it is alone), so that an insert's
//! count of changes tells whether all its rows were new.

use async_trait::async_trait;
use embudo_core::Event;
use embudo_store::group::{AppendJob, GroupWriter, fail_all, fail_successes};
use embudo_store::{AppendStatus, ProfileId, StoreError, StoreResult, WorkspaceId};
use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};

use crate::blocks::{self, BLOCK_EVENTS};
use crate::checkpoint::Checkpointer;
use crate::{Statements, map_err};

/// Events per `INSERT` statement of their rows (three or four bound values each; SQLite
/// allows 32766).
const APPEND_CHUNK: usize = BLOCK_EVENTS;

/// Blocks per `INSERT` statement.
const BLOCK_CHUNK: usize = 32;

/// One event, encoded for its row: the first event of each run of [`BLOCK_EVENTS`] carries
/// the block of the run's bodies.
pub(crate) struct EventRow {
    message_id: String,
    block: Option<Vec<u8>>,
}

impl EventRow {
    /// Encodes events for their rows, and their bodies into blocks.
    pub(crate) fn encode_all(events: &[Event]) -> Vec<EventRow> {
        let mut rows = Vec::with_capacity(events.len());
        for run in events.chunks(BLOCK_EVENTS) {
            let mut block = Some(blocks::encode(run));
            rows.extend(run.iter().map(|event| EventRow {
                message_id: event.message_id.clone(),
                block: block.take(),
            }));
        }
        rows
    }
}

/// The group writer: the store's writer connection, and the checkpointer to nudge after each
/// commit.
pub(crate) struct Writer {
    pub(crate) pool: SqlitePool,
    pub(crate) checkpointer: Option<Checkpointer>,
}

#[async_trait]
impl GroupWriter for Writer {
    type Row = EventRow;

    async fn write_group(
        &mut self,
        group: &mut [AppendJob<EventRow>],
    ) -> Vec<StoreResult<Vec<AppendStatus>>> {
        let results = write_group(&self.pool, group).await;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.nudge();
        }
        results
    }
}

/// Writes a group in one transaction: one result per job. A job for a workspace that does not
/// exist fails alone; a database error fails the whole group, which then stores nothing.
/// Round trips to the connection's thread are what cost here, so the group's reads (the log
/// head, which workspaces exist) are made once.
async fn write_group(
    writer: &SqlitePool,
    group: &mut [AppendJob<EventRow>],
) -> Vec<StoreResult<Vec<AppendStatus>>> {
    let mut tx = match crate::begin_write(writer).await {
        Ok(tx) => tx,
        Err(error) => return fail_all(group, &map_err(error)),
    };
    let prepared = match group_reads(&mut tx, group).await {
        Ok(prepared) => prepared,
        Err(error) => return fail_all(group, &error),
    };
    let (mut head, workspaces) = prepared;
    let mut results = Vec::with_capacity(group.len());
    for job in group.iter_mut() {
        if !workspaces.contains(&job.workspace.0) {
            results.push(Err(StoreError::NotFound(format!(
                "workspace {}",
                job.workspace
            ))));
            continue;
        }
        let rows = std::mem::take(&mut job.rows);
        match insert_rows(&mut tx, job.workspace, rows, head).await {
            Ok(statuses) => {
                head = statuses
                    .iter()
                    .filter_map(|status| match status {
                        AppendStatus::Inserted { seq } => Some(*seq),
                        AppendStatus::Duplicate => None,
                    })
                    .fold(head, i64::max);
                results.push(Ok(statuses));
            }
            Err(error) => {
                // Only the database fails an insert (a taken message id is a duplicate, not an
                // error), and SQLite may have rolled the whole transaction back: the group
                // fails as one, and nothing of it is committed.
                drop(tx);
                return fail_all(group, &error);
            }
        }
    }
    if let Err(error) = tx.commit().await {
        fail_successes(&mut results, &map_err(error));
    }
    results
}

/// The log head and which of the group's workspaces exist.
async fn group_reads(
    tx: &mut Transaction<'_, Sqlite>,
    group: &[AppendJob<EventRow>],
) -> StoreResult<(i64, Vec<i64>)> {
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
        .fetch_one(&mut **tx)
        .await
        .map_err(map_err)?;
    let ids = embudo_store::group::workspaces(group)
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let found: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM workspaces WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(format!("[{ids}]"))
    .fetch_all(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok((head, found))
}

/// Inserts a job's rows after `head`. The writer is alone: seqs are handed out here, in input
/// order, so that a stored row's seq names its input. A duplicate's seq is not stored: it
/// stays a gap, or a later append takes it when it was the last (a seq is only ever committed
/// once).
///
/// A chunk whose rows were all stored (the common case: retries are rare) needs no answer but
/// its count of changes; only a chunk with duplicates reads back which of its seqs it stored.
/// The transaction holds the write lock, so a seq of the chunk's range that is stored now is
/// one of its rows. (`RETURNING seq` would hand every row back through the connection's
/// thread, one message each.)
async fn insert_rows(
    tx: &mut Transaction<'_, Sqlite>,
    workspace: WorkspaceId,
    rows: Vec<EventRow>,
    head: i64,
) -> StoreResult<Vec<AppendStatus>> {
    let mut statuses = Vec::with_capacity(rows.len());
    let statements = &Statements::new(rows.len(), APPEND_CHUNK, insert_sql);
    let mut sizes = crate::chunk_sizes(rows.len(), APPEND_CHUNK);
    let mut rows = rows.into_iter();
    let mut seq = head + 1;
    // Each block with the seq of its first event.
    let mut blocks = Vec::new();
    let mut queries = std::iter::from_fn(|| {
        let n_rows = sizes.next()?;
        let first = seq;
        let mut query = statements.query(n_rows);
        for row in rows.by_ref().take(n_rows) {
            if let Some(block) = row.block {
                blocks.push((seq, block));
            }
            query = query.bind(seq).bind(workspace.0).bind(row.message_id);
            seq += 1;
        }
        Some((first, n_rows, query))
    });
    let mut next = queries.next();
    while let Some((first, n_rows, query)) = next.take() {
        // `join!` polls the insert first: its statement is on its way to the connection's
        // thread while the next one is bound.
        let (inserted, bound) = tokio::join!(query.execute(&mut **tx), async { queries.next() });
        let last = first + n_rows as i64 - 1;
        if inserted.map_err(map_err)?.rows_affected() == n_rows as u64 {
            statuses.extend((first..=last).map(|seq| AppendStatus::Inserted { seq }));
        } else {
            let stored: Vec<i64> = sqlx::query_scalar(
                "SELECT seq FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq",
            )
            .bind(first)
            .bind(last)
            .fetch_all(&mut **tx)
            .await
            .map_err(map_err)?;
            let mut stored = stored.into_iter().peekable();
            statuses.extend((first..=last).map(|seq| {
                if stored.next_if_eq(&seq).is_some() {
                    AppendStatus::Inserted { seq }
                } else {
                    AppendStatus::Duplicate
                }
            }));
        }
        next = bound;
    }
    // A block none of whose events was stored is not: a later append may start at its seq.
    blocks.retain(|(first, _)| {
        let from = (first - head - 1) as usize;
        statuses[from..statuses.len().min(from + BLOCK_EVENTS)]
            .iter()
            .any(|status| matches!(status, AppendStatus::Inserted { .. }))
    });
    insert_blocks(tx, blocks).await?;
    Ok(statuses)
}

/// Inserts events as the seqs `first_seq ..`, each with its profile (for
/// `append_processed`, which checked in this transaction that the log ends before
/// `first_seq`). A message id already stored fails the insert with [`StoreError::Conflict`].
/// Each chunk's rows are bound and its block encoded while the connection's thread inserts the
/// chunk before it.
///
/// A row binds its message id and profile only: the workspace id is written into the
/// statement, and the seq is the rowid SQLite gives a row appended to the table, one past the
/// largest (the log's end, as checked). Each chunk's last rowid is checked against it. Binding,
/// and unbinding after the statement, are per value, and were an eighth of the writer's work.
pub(crate) async fn insert_processed(
    tx: &mut Transaction<'_, Sqlite>,
    workspace: WorkspaceId,
    events: &[Event],
    first_seq: i64,
    profiles: &[ProfileId],
) -> StoreResult<()> {
    let row = format!("({}, ?, ?)", workspace.0);
    let statements = Statements::new(events.len(), APPEND_CHUNK, |n_rows| {
        format!(
            "INSERT OR FAIL INTO events (workspace_id, message_id, profile_id) VALUES {}",
            crate::rows_of(n_rows, &row)
        )
    });
    let mut next_seq = first_seq;
    let mut blocks = Vec::with_capacity(events.len().div_ceil(APPEND_CHUNK));
    let mut queries = crate::chunks(events, APPEND_CHUNK)
        .zip(crate::chunks(profiles, APPEND_CHUNK))
        .map(|(events, profiles)| {
            let first_seq = next_seq;
            next_seq += events.len() as i64;
            let mut query = statements.query(events.len());
            for (event, profile) in events.iter().zip(profiles) {
                query = query.bind(event.message_id.clone()).bind(profile.0);
            }
            let last_seq = next_seq - 1;
            (query, last_seq, (first_seq, blocks::encode(events)))
        });
    let mut next = queries.next();
    while let Some((query, last_seq, block)) = next.take() {
        // As in `insert_rows`.
        let (inserted, bound) = tokio::join!(query.execute(&mut **tx), async { queries.next() });
        let inserted = inserted.map_err(|error| {
            crate::conflict_as(error, || {
                "an event of the batch is already in the log (its message id is taken)".to_owned()
            })
        })?;
        if inserted.last_insert_rowid() != last_seq {
            return Err(StoreError::other(format!(
                "events were stored up to seq {}, not {last_seq}",
                inserted.last_insert_rowid()
            )));
        }
        blocks.push(block);
        next = bound;
    }
    insert_blocks(tx, blocks).await
}

/// Inserts blocks of event bodies, each at the seq of its first event.
async fn insert_blocks(
    tx: &mut Transaction<'_, Sqlite>,
    blocks: Vec<(i64, Vec<u8>)>,
) -> StoreResult<()> {
    let statements = Statements::new(blocks.len(), BLOCK_CHUNK, |n_rows| {
        format!(
            "INSERT OR FAIL INTO event_blocks (first_seq, body) VALUES {}",
            crate::placeholders(n_rows, 2)
        )
    });
    let mut blocks = blocks.into_iter();
    for n_rows in crate::chunk_sizes(blocks.len(), BLOCK_CHUNK) {
        let mut query = statements.query(n_rows);
        for (first_seq, body) in blocks.by_ref().take(n_rows) {
            query = query.bind(first_seq).bind(body);
        }
        query.execute(&mut **tx).await.map_err(map_err)?;
    }
    Ok(())
}

/// An insert of `n_rows` events' rows that skips a taken message id.
fn insert_sql(n_rows: usize) -> String {
    let mut sql = String::with_capacity(100 + n_rows * 8);
    sql.push_str("INSERT OR FAIL INTO events (seq, workspace_id, message_id) VALUES ");
    sql.push_str(&crate::placeholders(n_rows, 3));
    sql.push_str(" ON CONFLICT (message_id, workspace_id) DO NOTHING");
    sql
}
