//! Re-evaluation on a schedule: signals decay with time, so a person's phase, customer
//! sub-state and stage can change without any new event (a phase II prospect going cold, a
//! customer at risk, then lapsed). Event processing only sees the people who act.
//!
//! A sweep pages through every live profile, evaluates it at `now` from its stored engine
//! state (no history is read again: the state holds the decayed levels and their times),
//! records the transitions the engine dates between the last evaluation and `now`, and stores
//! the new summary. A profile whose phase, sub-state and stage did not change is not written,
//! so a sweep over a quiet population writes nothing and running it twice changes nothing.
//!
//! Each page is listed and written under the event processor's step lock, through
//! [`embudo_store::Store::commit_processing`] with the processor's own cursor, unmoved: in this
//! process the lock keeps the two apart, and another node that processed events meanwhile makes
//! the commit fail with a conflict, after which the page is listed and evaluated again, so a
//! sweep never overwrites what an event changed.

use embudo_store::{
    Direction, PageCursor, ProcessingBatch, ProfileFilter, ProfileRecord, StoreError, WorkspaceId,
};

use crate::predict::{self, LoadedModels, Scores};
use crate::process::{EngineState, PROFILES_CURSOR, evaluate_at, record_transitions, summary_of};
use crate::{Embudo, Result, ServiceSettings};

/// Profiles read and evaluated per page (one transaction per page that changed).
const PAGE: u32 = 500;

/// How often a page is retried after losing a race with another node's processor.
const MAX_ATTEMPTS: usize = 5;

/// What a sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReevaluateOutcome {
    /// Live profiles evaluated.
    pub profiles: usize,
    /// Profiles whose phase, sub-state or stage changed (and were written).
    pub changed: usize,
    /// Transitions recorded.
    pub transitions: usize,
    /// Pages left for the next sweep after losing [`MAX_ATTEMPTS`] races in a row.
    pub skipped_pages: usize,
}

/// A sweep in progress: where it stands and what it did so far. Made by
/// [`Embudo::start_reevaluation`], advanced one page at a time by [`Embudo::reevaluate_step`],
/// so that a caller can interleave it with event processing.
#[derive(Debug, Clone)]
pub struct Reevaluation {
    /// Workspaces still to visit, the current one last.
    workspaces: Vec<WorkspaceId>,
    after: Option<PageCursor>,
    pub outcome: ReevaluateOutcome,
}

impl Embudo {
    /// Re-evaluates every live profile of every workspace at the service's `now`.
    #[tracing::instrument(skip_all)]
    pub async fn reevaluate_all(&self) -> Result<ReevaluateOutcome> {
        let mut sweep = self.start_reevaluation().await?;
        while self.reevaluate_step(&mut sweep).await? {}
        Ok(sweep.outcome)
    }

    /// A sweep over the workspaces that exist now.
    pub async fn start_reevaluation(&self) -> Result<Reevaluation> {
        let mut workspaces: Vec<WorkspaceId> = self
            .inner
            .store
            .workspaces()
            .await?
            .iter()
            .map(|workspace| workspace.id)
            .collect();
        workspaces.reverse();
        Ok(Reevaluation {
            workspaces,
            after: None,
            outcome: ReevaluateOutcome::default(),
        })
    }

    /// Re-evaluates the sweep's next page of profiles. Returns whether anything is left.
    pub async fn reevaluate_step(&self, sweep: &mut Reevaluation) -> Result<bool> {
        let Some(&workspace) = sweep.workspaces.last() else {
            return Ok(false);
        };
        let filter = ProfileFilter {
            // Keyset order on last_seen, which a sweep never changes: pages neither repeat nor
            // skip a profile.
            direction: Direction::Asc,
            after: sweep.after.take(),
            limit: PAGE,
            ..ProfileFilter::default()
        };
        match self
            .reevaluate_page(workspace, &filter, &mut sweep.outcome)
            .await?
        {
            Some(next) => sweep.after = Some(next),
            None => {
                sweep.workspaces.pop();
            }
        }
        Ok(!sweep.workspaces.is_empty())
    }

    /// Lists one page of live profiles and re-evaluates it, under the processor's step lock so
    /// that no event step of this process runs in between; returns the next page's position.
    async fn reevaluate_page(
        &self,
        workspace: WorkspaceId,
        filter: &ProfileFilter,
        outcome: &mut ReevaluateOutcome,
    ) -> Result<Option<PageCursor>> {
        let store = &self.inner.store;
        let settings = &self.inner.settings;
        let mut next = None;
        let models = self.loaded_models(workspace).await?;
        for _ in 0..MAX_ATTEMPTS {
            let _step = self.inner.processing.lock().await;
            let cursor = store.cursor(PROFILES_CURSOR).await?;
            let page = store.list_profiles(workspace, filter).await?;
            next = page.next;
            let now = self.now();
            let mut batch = ProcessingBatch {
                cursor_name: PROFILES_CURSOR.to_owned(),
                cursor_from: cursor,
                cursor_to: cursor,
                ..ProcessingBatch::default()
            };
            let evaluated = page.items.len();
            for record in page.items {
                if let Some(changed) = reevaluate(record, settings, &models, now, &mut batch) {
                    batch.profiles.push(changed);
                }
            }
            if batch.profiles.is_empty() {
                outcome.profiles += evaluated;
                return Ok(next);
            }
            match store.commit_processing(&batch).await {
                Ok(()) => {
                    outcome.profiles += evaluated;
                    outcome.changed += batch.profiles.len();
                    outcome.transitions += batch.transitions.len();
                    return Ok(next);
                }
                Err(StoreError::Conflict(reason)) => {
                    tracing::debug!(%reason, "re-evaluation raced an event step; retrying the page");
                }
                Err(error) => return Err(error.into()),
            }
        }
        tracing::warn!(
            workspace = %workspace,
            "re-evaluation kept racing event processing; the page waits for the next sweep"
        );
        outcome.skipped_pages += 1;
        Ok(next)
    }
}

/// The profile with its new summary, scores and `updated_at`, when its phase, sub-state, stage
/// or phase II intent changed since it was last evaluated, or its scores moved noticeably (or
/// were made by a newer model); its transitions go into `batch`.
fn reevaluate(
    mut record: ProfileRecord,
    settings: &ServiceSettings,
    models: &LoadedModels,
    now: embudo_core::Timestamp,
    batch: &mut ProcessingBatch,
) -> Option<ProfileRecord> {
    let stored = EngineState::of(&record);
    let state = stored.phase?;
    let questions = stored.questions;
    if now <= record.updated_at {
        return None;
    }
    let old_scores = stored.scores.unwrap_or_default();
    let scores = predict::score(
        models,
        &settings.predict,
        &settings.phase_model,
        &state,
        &record,
        &old_scores,
        now,
    );
    let before = evaluate_at(
        settings,
        &state,
        &questions,
        &old_scores,
        &record,
        record.updated_at,
    );
    let after = evaluate_at(settings, &state, &questions, &scores, &record, now);
    let cold = |c: &embudo_core::phase::Classification| c.intent.map(|intent| intent.cold);
    // Against the stored list: one written before every matched audience was kept (only the
    // best was) is brought up to date too.
    let audiences_kept = after
        .audiences
        .iter()
        .map(|fit| &fit.name)
        .eq(record.summary.audiences.iter());
    if (before.phase, before.substate, before.stage, cold(&before))
        == (after.phase, after.substate, after.stage, cold(&after))
        && audiences_kept
        && !scores_moved(&old_scores, &scores)
    {
        return None;
    }
    record_transitions(
        record.workspace_id,
        record.id,
        Some(&before),
        &after,
        now,
        batch,
    );
    record.summary = summary_of(&after, &record.summary);
    scores.fill(&mut record.summary);
    record.state = EngineState {
        phase: Some(state),
        questions,
        scores: (scores != Scores::default()).then_some(scores),
    }
    .write();
    record.updated_at = now;
    Some(record)
}

/// Whether new scores are worth a write: another model, or a probability moved by at least
/// half a point (CLV by 1 %).
fn scores_moved(old: &Scores, new: &Scores) -> bool {
    let moved = |a: Option<f64>, b: Option<f64>, by: f64| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() >= by,
        (None, None) => false,
        _ => true,
    };
    old.intent_model != new.intent_model
        || old.btyd_model != new.btyd_model
        || moved(old.intent, new.intent, 0.005)
        || moved(old.p_alive, new.p_alive, 0.005)
        || moved(
            old.clv,
            new.clv,
            0.01 * old.clv.unwrap_or(0.0).abs().max(1.0),
        )
}

#[cfg(test)]
mod tests;
