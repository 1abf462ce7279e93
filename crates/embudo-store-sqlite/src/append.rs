//! Appends: the group commit's writer for SQLite ([`embudo_store::group`]: every job waiting
//! at a moment in one transaction and one fsync), and the inserts of a processed batch's
//! events.
//!
//! SQLite has one writer and a durable commit costs an fsync: grouping lets concurrent
//! requests share it. The writer hands out seqs itself (it is alone), so that an insert's
//! count of changes tells whether all its rows were new.

use std::borrow::Cow;

use async_trait::async_trait;
use embudo_core::Event;
use embudo_store::group::{AppendJob, GroupWriter, fail_all, fail_successes};
use embudo_store::{AppendStatus, ProfileId, StoreError, StoreResult, WorkspaceId, json};
use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};

use crate::checkpoint::Checkpointer;
use crate::{Query, Statements, map_err};

/// Events per `INSERT` statement (14 or 15 bound values each; SQLite allows 32766).
const APPEND_CHUNK: usize = 500;

/// One event, encoded for its row.
pub(crate) struct EventRow {
    message_id: String,
    kind: &'static str,
    name: Option<String>,
    anonymous_id: Option<String>,
    user_id: Option<String>,
    previous_id: Option<String>,
    group_id: Option<String>,
    timestamp: i64,
    received_at: i64,
    properties: Cow<'static, str>,
    traits: Cow<'static, str>,
    context: Cow<'static, str>,
}

impl EventRow {
    /// Encodes events for their rows (the JSON text of their structured fields).
    pub(crate) fn encode_all(events: &[Event]) -> Vec<EventRow> {
        events
            .iter()
            .map(|event| EventRow {
                message_id: event.message_id.clone(),
                kind: event.kind.as_str(),
                name: event.name.clone(),
                anonymous_id: event.anonymous_id.clone(),
                user_id: event.user_id.clone(),
                previous_id: event.previous_id.clone(),
                group_id: event.group_id.clone(),
                timestamp: event.timestamp.as_millis(),
                received_at: event.received_at.as_millis(),
                properties: json::event_column(&event.properties),
                traits: json::event_column(&event.traits),
                context: json::event_column(&event.context),
            })
            .collect()
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
    let statements = &Statements::new(rows.len(), APPEND_CHUNK, |n_rows| insert_sql(n_rows, false));
    let mut sizes = crate::chunk_sizes(rows.len(), APPEND_CHUNK);
    let mut rows = rows.into_iter();
    let mut seq = head + 1;
    let mut queries = std::iter::from_fn(move || {
        let n_rows = sizes.next()?;
        let first = seq;
        let mut query = statements.query(n_rows);
        for row in rows.by_ref().take(n_rows) {
            query = bind_row(query, seq, workspace, row);
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
    Ok(statuses)
}

/// Inserts events as the seqs `first_seq ..`, each with its profile (for
/// `append_processed`, which checked that the log ends before `first_seq`). A message id
/// already stored fails the insert with [`StoreError::Conflict`]. Each chunk is encoded and
/// bound while the connection's thread inserts the chunk before it.
pub(crate) async fn insert_processed(
    tx: &mut Transaction<'_, Sqlite>,
    workspace: WorkspaceId,
    events: &[Event],
    first_seq: i64,
    profiles: &[ProfileId],
) -> StoreResult<()> {
    let statements = Statements::new(events.len(), APPEND_CHUNK, |n_rows| {
        insert_sql(n_rows, true)
    });
    let mut next_seq = first_seq;
    let mut queries = crate::chunks(events, APPEND_CHUNK)
        .zip(crate::chunks(profiles, APPEND_CHUNK))
        .map(|(events, profiles)| {
            let first_seq = next_seq;
            next_seq += events.len() as i64;
            let mut query = statements.query(events.len());
            let rows = EventRow::encode_all(events);
            for ((seq, row), profile) in (first_seq..).zip(rows).zip(profiles) {
                query = bind_row(query, seq, workspace, row).bind(profile.0);
            }
            query
        });
    let mut next = queries.next();
    while let Some(query) = next.take() {
        // As in `insert_rows`.
        let (inserted, bound) = tokio::join!(query.execute(&mut **tx), async { queries.next() });
        inserted.map_err(|error| {
            crate::conflict_as(error, || {
                "an event of the batch is already in the log (its message id is taken)".to_owned()
            })
        })?;
        next = bound;
    }
    Ok(())
}

/// Binds one row's values, in the column order of [`insert_sql`]. The texts move into the
/// statement's arguments (borrowed ones would be copied on their way to the connection).
fn bind_row(query: Query<'_>, seq: i64, workspace: WorkspaceId, row: EventRow) -> Query<'_> {
    query
        .bind(seq)
        .bind(workspace.0)
        .bind(row.message_id)
        .bind(row.kind)
        .bind(row.name)
        .bind(row.anonymous_id)
        .bind(row.user_id)
        .bind(row.previous_id)
        .bind(row.group_id)
        .bind(row.timestamp)
        .bind(row.received_at)
        .bind(row.properties)
        .bind(row.traits)
        .bind(row.context)
}

/// An insert of `n_rows` events: appends skip a taken message id; with their profiles, every
/// row must be new.
fn insert_sql(n_rows: usize, with_profile: bool) -> String {
    let mut sql = String::with_capacity(200 + n_rows * 34);
    sql.push_str(
        "INSERT OR FAIL INTO events (seq, workspace_id, message_id, kind, name, anonymous_id, \
         user_id, previous_id, group_id, timestamp, received_at, properties, traits, context",
    );
    if with_profile {
        sql.push_str(", profile_id) VALUES ");
        sql.push_str(&crate::placeholders(n_rows, 15));
    } else {
        sql.push_str(") VALUES ");
        sql.push_str(&crate::placeholders(n_rows, 14));
        sql.push_str(" ON CONFLICT (workspace_id, message_id) DO NOTHING");
    }
    sql
}
