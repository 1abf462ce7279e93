//! The stored models (their payloads) and the per-workspace cache of the newest ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use embudo_core::Timestamp;
use embudo_predict::btyd::{BgNbd, GammaGamma};
use embudo_predict::intent::{BoostedTrees, Calibration, Explanation, LogisticRegression};
use embudo_store::WorkspaceId;
use serde::{Deserialize, Serialize};

use crate::predict::{BTYD, INTENT};
use crate::{Embudo, Result};

/// The payload of a [`BTYD`] model: what scoring needs (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BtydPayload {
    /// Days per model time unit (7: the models are fitted in weeks).
    pub days_per_unit: f64,
    /// The count model used for scoring.
    pub bgnbd: BgNbd,
    /// The order-value model, when there were enough repeat customers to fit it.
    pub gamma_gamma: Option<GammaGamma>,
}

/// The fitted intent model, either family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum IntentModel {
    LogisticRegression(LogisticRegression),
    GradientBoosting(BoostedTrees),
}

impl IntentModel {
    /// The key of the family in reports.
    pub fn key(&self) -> &'static str {
        match self {
            IntentModel::LogisticRegression(_) => "logistic_regression",
            IntentModel::GradientBoosting(_) => "gradient_boosting",
        }
    }

    pub fn predict_proba(&self, row: &[f32]) -> f64 {
        match self {
            IntentModel::LogisticRegression(model) => model.predict_proba(row),
            IntentModel::GradientBoosting(model) => model.predict_proba(row),
        }
    }

    pub fn explain(&self, row: &[f32]) -> Explanation {
        match self {
            IntentModel::LogisticRegression(model) => model.explain(row),
            IntentModel::GradientBoosting(model) => model.explain(row),
        }
    }
}

/// The payload of an [`INTENT`] model (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentPayload {
    /// The feature columns the model reads (see [`crate::predict::feature_names`]).
    pub features: Vec<String>,
    pub horizon_days: f64,
    pub model: IntentModel,
    /// Maps the model's probability to a calibrated one.
    pub calibration: Calibration,
}

/// The newest models of one workspace, with their versions.
#[derive(Debug, Clone, Default)]
pub struct LoadedModels {
    pub intent: Option<(i64, Arc<IntentPayload>)>,
    pub btyd: Option<(i64, Arc<BtydPayload>)>,
}

/// The newest models per workspace, and when the store was last asked about them.
#[derive(Debug, Default)]
pub struct ModelCache {
    entries: Mutex<HashMap<WorkspaceId, (Timestamp, Arc<LoadedModels>)>>,
}

impl ModelCache {
    fn get(&self, workspace: WorkspaceId) -> Option<(Timestamp, Arc<LoadedModels>)> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        entries.get(&workspace).cloned()
    }

    fn put(&self, workspace: WorkspaceId, checked_at: Timestamp, models: Arc<LoadedModels>) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        entries.insert(workspace, (checked_at, models));
    }
}

impl Embudo {
    /// The newest models of a workspace: from the cache, compared with the store's newest
    /// versions at most every `model_refresh_seconds` (a payload is read only when its version
    /// changed). A payload that cannot be read is logged and treated as no model.
    pub async fn loaded_models(&self, workspace: WorkspaceId) -> Result<Arc<LoadedModels>> {
        let now = self.now();
        let refresh_ms = self.inner.settings.predict.model_refresh_seconds.max(0) * 1000;
        let cached = self.inner.models.get(workspace);
        if let Some((checked_at, models)) = &cached
            && now.as_millis() < checked_at.as_millis() + refresh_ms
        {
            return Ok(models.clone());
        }
        let infos = self.inner.store.models(workspace).await?;
        let newest = |kind: &str| {
            infos
                .iter()
                .filter(|info| info.kind == kind)
                .map(|info| info.version)
                .max()
        };
        let current = cached.map(|(_, models)| models).unwrap_or_default();
        let intent = match newest(INTENT) {
            None => None,
            Some(version) if current.intent.as_ref().is_some_and(|(v, _)| *v == version) => {
                current.intent.clone()
            }
            Some(_) => self.read_payload(workspace, INTENT).await?,
        };
        let btyd = match newest(BTYD) {
            None => None,
            Some(version) if current.btyd.as_ref().is_some_and(|(v, _)| *v == version) => {
                current.btyd.clone()
            }
            Some(_) => self.read_payload(workspace, BTYD).await?,
        };
        let loaded = Arc::new(LoadedModels { intent, btyd });
        self.inner.models.put(workspace, now, loaded.clone());
        Ok(loaded)
    }

    async fn read_payload<T: serde::de::DeserializeOwned>(
        &self,
        workspace: WorkspaceId,
        kind: &str,
    ) -> Result<Option<(i64, Arc<T>)>> {
        let Some(record) = self.inner.store.model(workspace, kind).await? else {
            return Ok(None);
        };
        match serde_json::from_slice::<T>(&record.payload) {
            Ok(payload) => Ok(Some((record.info.version, Arc::new(payload)))),
            Err(error) => {
                tracing::warn!(
                    workspace = %workspace,
                    kind,
                    version = record.info.version,
                    %error,
                    "stored model cannot be read; scoring goes on without it"
                );
                Ok(None)
            }
        }
    }

    /// Puts a model just saved by this process into the cache, so that the next event is
    /// scored with it.
    pub(crate) fn cache_saved_model(
        &self,
        workspace: WorkspaceId,
        intent: Option<(i64, Arc<IntentPayload>)>,
        btyd: Option<(i64, Arc<BtydPayload>)>,
    ) {
        let (checked_at, current) = self
            .inner
            .models
            .get(workspace)
            .unwrap_or((Timestamp::from_millis(i64::MIN / 2), Arc::default()));
        let mut models = (*current).clone();
        if intent.is_some() {
            models.intent = intent;
        }
        if btyd.is_some() {
            models.btyd = btyd;
        }
        self.inner
            .models
            .put(workspace, checked_at, Arc::new(models));
    }
}

impl Embudo {
    /// The stored models' descriptions and reports (no payloads), by kind, newest first.
    pub async fn model_reports(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Vec<embudo_store::ModelInfo>> {
        Ok(self.inner.store.models(workspace).await?)
    }

    /// The newest model of a kind: its description and report.
    pub async fn model_report(
        &self,
        workspace: WorkspaceId,
        kind: &str,
    ) -> Result<Option<embudo_store::ModelInfo>> {
        Ok(self
            .inner
            .store
            .models(workspace)
            .await?
            .into_iter()
            .filter(|info| info.kind == kind)
            .max_by_key(|info| info.version))
    }
}
