//! Predictions from the shop's own history: training, scoring, and what the phase engine reads.
//!
//! - Training ([`Embudo::train_btyd`], [`Embudo::train_intent`]) reads the store (orders; the
//!   event log replayed through the pure aggregation), fits the `embudo-predict` models and saves
//!   them with their reports through [`embudo_store::Store::save_model`] (kinds [`BTYD`] and
//!   [`INTENT`]). A scheduler calls these methods; nothing here runs on its own.
//! - Scoring ([`score`]) runs on every evaluated profile: purchase intent with its top signals
//!   for people who never bought, P(alive), expected orders, expected next order and CLV for
//!   customers. The newest models are cached per workspace ([`ModelCache`]) and looked up in the
//!   store at most every [`PredictSettings::model_refresh_seconds`], never per event.
//! - The scores are kept in the profile's engine state ([`Scores`]) and its summary columns
//!   (`intent`, `p_alive`, `clv`), and passed to the phase engine, which derives the phase III
//!   sub-state from P(alive) and the expected next order and phase II "going cold" from intent.
//!
//! [`Embudo::train_btyd`]: crate::Embudo::train_btyd
//! [`Embudo::train_intent`]: crate::Embudo::train_intent

mod features;
mod models;
mod score;
mod train;

#[cfg(test)]
mod tests;

pub use features::{feature_names, features};
pub use models::{BtydPayload, IntentModel, IntentPayload, LoadedModels, ModelCache};
pub use score::{IntentSignal, Scores, score};
pub use train::{TrainError, TrainReport};

/// The model kind of the BTYD models (BG/NBD, Pareto/NBD, Gamma-Gamma).
pub const BTYD: &str = "btyd";
/// The model kind of the purchase-intent model.
pub const INTENT: &str = "intent";

/// How models are trained and scores computed. `Default` is documented field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictSettings {
    /// Purchase intent: the probability of an order within this many days (14).
    pub intent_horizon_days: f64,
    /// Training intent needs at least this many people (200) …
    pub intent_min_people: usize,
    /// … and at least this many of them who ordered within the horizon, and as many who did
    /// not (20).
    pub intent_min_positives: usize,
    /// Training BTYD needs at least this many customers (50) …
    pub btyd_min_customers: usize,
    /// … of whom at least this many ordered more than once (10).
    pub btyd_min_repeat_customers: usize,
    /// Expected orders are counted over this many days (90).
    pub expected_orders_days: f64,
    /// Customer lifetime value horizon in days (365) …
    pub clv_horizon_days: f64,
    /// … discounted at this yearly rate (0.10).
    pub clv_yearly_discount: f64,
    /// How often the cached models are compared with the newest stored versions (60 s).
    pub model_refresh_seconds: i64,
    /// Seed of the held-out split and of the tree ensemble (fixed: retraining on the same data
    /// gives the same model).
    pub seed: u64,
}

impl Default for PredictSettings {
    fn default() -> PredictSettings {
        PredictSettings {
            intent_horizon_days: 14.0,
            intent_min_people: 200,
            intent_min_positives: 20,
            btyd_min_customers: 50,
            btyd_min_repeat_customers: 10,
            expected_orders_days: 90.0,
            clv_horizon_days: 365.0,
            clv_yearly_discount: 0.10,
            model_refresh_seconds: 60,
            seed: 20_260_302,
        }
    }
}
