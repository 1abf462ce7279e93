//! The use-case façade of embudo: what HTTP, the CLI and jobs call.
//!
//! [`Embudo`] owns a [`Store`] and a [`Clock`]; it authenticates keys, appends events to the
//! durable log, turns the log into profiles (identity resolution, aggregates, phases) and answers
//! reads. Plain data in and out: it knows nothing of HTTP or SQL.

use std::sync::Arc;

use embudo_core::Timestamp;
use embudo_store::Store;

pub mod bulk;
pub mod clock;
pub mod ingest;
pub mod keys;
pub mod phase;
pub mod predict;
pub mod process;
pub mod questions;
pub mod read;
pub mod recommend;
pub mod reevaluate;
#[cfg(test)]
mod test_support;

pub use clock::{Clock, FixedClock, SystemClock};
pub use ingest::IngestReceipt;
pub use keys::{NewWorkspaceKeys, Principal};
pub use phase::PhaseView;
pub use process::ProcessOutcome;
pub use reevaluate::{ReevaluateOutcome, Reevaluation};

/// What can go wrong in a use case, by audience: callers map these to responses.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("storage error")]
    Store(#[source] embudo_store::StoreError),
}

impl From<embudo_store::StoreError> for ServiceError {
    fn from(err: embudo_store::StoreError) -> ServiceError {
        use embudo_store::StoreError;
        match err {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            StoreError::Conflict(what) => ServiceError::Conflict(what),
            StoreError::Unavailable(what) => ServiceError::Unavailable(what),
            StoreError::Invalid(what) => ServiceError::Invalid(what),
            other => ServiceError::Store(other),
        }
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Settings of the service layer, chosen by the binary.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Page path rules for classifying page views.
    pub page_rules: embudo_core::page::PageRules,
    /// How many log events one processing step takes at most.
    pub process_batch: usize,
    /// The phase engine's model.
    pub phase_model: embudo_core::phase::PhaseModel,
    /// The shop's target audiences (stage identify), CEL conditions over traits and
    /// aggregates.
    pub audiences: embudo_config::Audiences,
    /// The survey questions (bank and policy) of `[questions]`.
    pub questions: embudo_config::QuestionsConfig,
    /// Training and scoring of the prediction models.
    pub predict: predict::PredictSettings,
    /// Cross-sell: results, inactive products, consumables, category rules.
    pub recommend: embudo_config::RecommendSettings,
}

impl Default for ServiceSettings {
    fn default() -> ServiceSettings {
        ServiceSettings {
            page_rules: embudo_core::page::PageRules::default(),
            process_batch: 5_000,
            phase_model: embudo_core::phase::PhaseModel::default(),
            audiences: embudo_config::Audiences::default(),
            questions: embudo_config::QuestionsConfig::default(),
            predict: predict::PredictSettings::default(),
            recommend: embudo_config::RecommendSettings::default(),
        }
    }
}

/// The façade. Cheap to clone.
#[derive(Clone)]
pub struct Embudo {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: ServiceSettings,
    /// Woken when new events are in the log.
    log_grew: tokio::sync::Notify,
    /// Serialises processing steps within this process (the cursor makes it safe across
    /// processes too: a step commits only if the cursor it read is still current).
    processing: tokio::sync::Mutex<()>,
    keys: keys::KeyCache,
    /// The newest prediction models per workspace.
    models: predict::ModelCache,
    recommend: recommend::ModelCache,
}

impl Embudo {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: ServiceSettings) -> Embudo {
        Embudo {
            inner: Arc::new(Inner {
                store,
                clock,
                settings,
                log_grew: tokio::sync::Notify::new(),
                processing: tokio::sync::Mutex::new(()),
                keys: keys::KeyCache::default(),
                models: predict::ModelCache::default(),
                recommend: recommend::ModelCache::default(),
            }),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn settings(&self) -> &ServiceSettings {
        &self.inner.settings
    }

    /// Readiness: the store answers.
    pub async fn ready(&self) -> Result<()> {
        self.inner.store.ping().await?;
        Ok(())
    }
}
