//! A profile's phase, read at "now" from its stored engine state.

use embudo_core::Timestamp;
use embudo_core::phase::Classification;
use embudo_store::{ProfileId, WorkspaceId};

use crate::process::{EngineState, evaluate_at};
use crate::{Embudo, Result};

/// The classification of a profile now, and since when it has been in its phase.
#[derive(Debug, Clone)]
pub struct PhaseView {
    pub profile_id: ProfileId,
    pub classification: Classification,
    /// When the profile last entered its current phase, if recorded.
    pub since: Option<Timestamp>,
}

impl Embudo {
    /// Evaluates a profile at the service's `now` (decay included), without changing it.
    pub async fn phase(&self, workspace: WorkspaceId, id: ProfileId) -> Result<Option<PhaseView>> {
        let Some(record) = self.inner.store.profile(workspace, id).await? else {
            return Ok(None);
        };
        let stored = EngineState::of(&record);
        let state = stored.phase.unwrap_or_default();
        let settings = &self.inner.settings;
        let now = self.now();
        let models = self.loaded_models(workspace).await?;
        let scores = crate::predict::score(
            &models,
            &settings.predict,
            &settings.phase_model,
            &state,
            &record,
            &stored.scores.unwrap_or_default(),
            now,
        );
        let classification =
            evaluate_at(settings, &state, &stored.questions, &scores, &record, now);
        let transitions = self.inner.store.transitions(workspace, record.id).await?;
        let since = transitions
            .iter()
            .rev()
            .find(|transition| transition.dimension == "phase")
            .filter(|transition| transition.to == classification.phase.as_str())
            .map(|transition| transition.at);
        Ok(Some(PhaseView {
            profile_id: record.id,
            classification,
            since,
        }))
    }
}
