//! Appends through the group commit ([`embudo_store::group`]): every job waiting at a moment
//! in one transaction, under the append lock once, with one commit. Appends take turns under
//! the lock anyway (seqs must become visible in order), so concurrent requests that each
//! waited for the lock and then for their own commit's flush now share both.
//!
//! A job's rows are its events as the caller gave them (cloned); their columns are encoded in
//! the writer's task, where the time is PostgreSQL's anyway.

use std::collections::HashMap;

use async_trait::async_trait;
use embudo_core::Event;
use embudo_store::group::{AppendJob, GroupWriter, fail_all, fail_successes};
use embudo_store::{AppendStatus, StoreError, StoreResult, WorkspaceId};
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Row, Transaction};

use crate::{APPEND_CHUNK, APPEND_SQL, bind_event_columns, lock_appends, map_err};

/// The group writer: the store's pool.
pub(crate) struct Writer {
    pub(crate) pool: PgPool,
}

#[async_trait]
impl GroupWriter for Writer {
    type Row = Event;

    /// One result per job. A job for a workspace that does not exist fails alone; a database
    /// error fails the whole group, which then stores nothing.
    async fn write_group(
        &mut self,
        group: &mut [AppendJob<Event>],
    ) -> Vec<StoreResult<Vec<AppendStatus>>> {
        let mut tx = match self.pool.begin().await {
            Ok(tx) => tx,
            Err(error) => return fail_all(group, &map_err(error)),
        };
        let workspaces = match existing_workspaces(&mut tx, group).await {
            Ok(workspaces) => workspaces,
            Err(error) => return fail_all(group, &error),
        };
        if let Err(error) = lock_appends(&mut tx).await {
            return fail_all(group, &error);
        }
        let mut results = Vec::with_capacity(group.len());
        for job in group.iter() {
            if !workspaces.contains(&job.workspace.0) {
                results.push(Err(StoreError::NotFound(format!(
                    "workspace {}",
                    job.workspace
                ))));
                continue;
            }
            match insert_rows(&mut tx, job.workspace, &job.rows).await {
                Ok(statuses) => results.push(Ok(statuses)),
                Err(error) => {
                    // PostgreSQL aborts the transaction on any error: nothing of it commits.
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
}

/// Which of the group's workspaces exist.
async fn existing_workspaces(
    tx: &mut Transaction<'_, Postgres>,
    group: &[AppendJob<Event>],
) -> StoreResult<Vec<i64>> {
    sqlx::query_scalar("SELECT id FROM workspaces WHERE id = ANY($1)")
        .bind(embudo_store::group::workspaces(group))
        .fetch_all(&mut **tx)
        .await
        .map_err(map_err)
}

/// Inserts one job's events, skipping stored message ids; the statuses in input order (a
/// repeat inside the job is a duplicate of its first occurrence).
async fn insert_rows(
    tx: &mut Transaction<'_, Postgres>,
    workspace: WorkspaceId,
    events: &[Event],
) -> StoreResult<Vec<AppendStatus>> {
    let mut statuses = vec![AppendStatus::Duplicate; events.len()];
    let first = first_occurrences(events);
    for chunk in events.chunks(APPEND_CHUNK) {
        let query = bind_event_columns(sqlx::query(APPEND_SQL).bind(workspace.0), chunk);
        for row in query.fetch_all(&mut **tx).await.map_err(map_err)? {
            let seq: i64 = row.try_get(0).map_err(map_err)?;
            let message_id: &str = row.try_get(1).map_err(map_err)?;
            if let Some(&index) = first.get(message_id) {
                statuses[index] = AppendStatus::Inserted { seq };
            }
        }
    }
    Ok(statuses)
}

/// The index of each message id's first occurrence.
fn first_occurrences(events: &[Event]) -> HashMap<&str, usize> {
    let mut first = HashMap::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        first.entry(event.message_id.as_str()).or_insert(index);
    }
    first
}
