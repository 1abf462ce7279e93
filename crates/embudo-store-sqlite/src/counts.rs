//! Live profiles counted by phase, sub-state and stage, in the `phase_counts` table
//! (migration 0006), kept by the writes that change them.
//!
//! An index on the profiles' `(workspace_id, phase, substate, stage)` counted them before. Its
//! keys are nearly all alike (most people are in phase I), so a new profile's entry went into
//! the middle of the index, and each search compared every field down to the rowid. In an
//! import it took a tenth of SQLite's writer's work, more than any other profile index
//! (`docs/benchmarks.md`, fifteenth session). A trigger keeping the counts cost more still.
//!
//! So a processing batch tallies what it changes: +1 for each live profile it writes, −1 for
//! the stored row each one replaces while that row was live, −1 for each live profile a merge
//! absorbs. The tally is applied once, at the end of the batch's transaction, one statement per
//! key it touched; a key's count that reaches zero loses its row.

use embudo_store::{ProfileRecord, StoreResult, WorkspaceId};
use foldhash::{HashMap, HashSet, HashSetExt};
use sqlx::{Sqlite, Transaction};

use crate::map_err;

/// A count's key: the workspace, phase, sub-state and stage (each of the three may be absent).
type Key = (i64, Option<String>, Option<String>, Option<String>);

/// Changes to the counts, by key.
#[derive(Debug, Default)]
pub(crate) struct Tally(HashMap<Key, i64>);

impl Tally {
    fn add(&mut self, key: Key, change: i64) {
        *self.0.entry(key).or_insert(0) += change;
    }

    /// +1 for each of `profiles` that is live (not merged into another). Of two rows with one
    /// id, the last is the one written (they are upserted in order).
    pub(crate) fn written(&mut self, profiles: &[&ProfileRecord]) {
        let mut seen = HashSet::with_capacity(profiles.len());
        for profile in profiles.iter().rev() {
            if !seen.insert(profile.id) || profile.merged_into.is_some() {
                continue;
            }
            let summary = &profile.summary;
            self.add(
                (
                    profile.workspace_id.0,
                    summary.phase.clone(),
                    summary.substate.clone(),
                    summary.stage.clone(),
                ),
                1,
            );
        }
    }

    /// −1 for each stored row of `profiles` (by id) that is live: what writing them replaces.
    /// Called before the write, in its transaction.
    pub(crate) async fn replaced(
        &mut self,
        tx: &mut Transaction<'_, Sqlite>,
        profiles: &[&ProfileRecord],
    ) -> StoreResult<()> {
        if profiles.is_empty() {
            return Ok(());
        }
        // One statement, as `load_profiles` reads profiles by id.
        let ids: Vec<i64> = profiles.iter().map(|profile| profile.id.0).collect();
        let rows: Vec<Key> = sqlx::query_as(
            "SELECT workspace_id, phase, substate, stage FROM profiles \
             WHERE id IN (SELECT value FROM json_each(?)) AND merged_into IS NULL",
        )
        .bind(embudo_store::json::ids_to_json(&ids))
        .fetch_all(&mut **tx)
        .await
        .map_err(map_err)?;
        for key in rows {
            self.add(key, -1);
        }
        Ok(())
    }

    /// −1 for `absorbed` if it is a live profile of `workspace`: what merging it away takes.
    /// Called before the merge, in its transaction.
    pub(crate) async fn absorbed(
        &mut self,
        tx: &mut Transaction<'_, Sqlite>,
        workspace: WorkspaceId,
        absorbed: i64,
    ) -> StoreResult<()> {
        let row: Option<Key> = sqlx::query_as(
            "SELECT workspace_id, phase, substate, stage FROM profiles \
             WHERE workspace_id = ? AND id = ? AND merged_into IS NULL",
        )
        .bind(workspace.0)
        .bind(absorbed)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
        if let Some(key) = row {
            self.add(key, -1);
        }
        Ok(())
    }

    /// Applies the tally to `phase_counts`, in the batch's transaction.
    pub(crate) async fn apply(self, tx: &mut Transaction<'_, Sqlite>) -> StoreResult<()> {
        // Only a count that went down can have reached zero.
        let mut shrank = false;
        for ((workspace, phase, substate, stage), change) in self.0 {
            if change == 0 {
                continue;
            }
            shrank |= change < 0;
            // `IS` matches an absent value to an absent one, as `GROUP BY` did.
            let updated = sqlx::query(
                "UPDATE phase_counts SET n = n + ?1 WHERE workspace_id = ?2 AND phase IS ?3 \
                 AND substate IS ?4 AND stage IS ?5",
            )
            .bind(change)
            .bind(workspace)
            .bind(&phase)
            .bind(&substate)
            .bind(&stage)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
            if updated.rows_affected() == 0 {
                sqlx::query(
                    "INSERT INTO phase_counts (workspace_id, phase, substate, stage, n) \
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(workspace)
                .bind(&phase)
                .bind(&substate)
                .bind(&stage)
                .bind(change)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
            }
        }
        if shrank {
            sqlx::query("DELETE FROM phase_counts WHERE n = 0")
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }
}
