//! The configuration file as written: every key optional, spans kept for error messages.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) phases: Option<RawPhases>,
    pub(crate) audiences: Option<Vec<Spanned<RawAudience>>>,
    pub(crate) pages: Option<RawPages>,
    pub(crate) questions: Option<RawQuestions>,
    pub(crate) recommend: Option<RawRecommend>,
    /// The binary's own section (listen address, database URL, …): the same file holds it,
    /// and `embudo::settings` reads and validates it. Skipped here, whatever it holds, so that
    /// `check` accepts the whole file while still rejecting any other unknown section.
    #[allow(
        dead_code,
        reason = "present only so that `[server]` is not an unknown key"
    )]
    pub(crate) server: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPhases {
    pub(crate) prior: Option<Spanned<RawPrior>>,
    pub(crate) answers_weight: Option<Spanned<f64>>,
    pub(crate) signals: Option<BTreeMap<Spanned<String>, Spanned<RawSignal>>>,
    pub(crate) focus: Option<RawFocus>,
    pub(crate) customer: Option<RawCustomer>,
    pub(crate) intent: Option<RawIntent>,
    pub(crate) stage: Option<RawStage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrior {
    pub(crate) i: f64,
    pub(crate) ii: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSignal {
    pub(crate) weights: Option<Spanned<Vec<f64>>>,
    pub(crate) half_life_days: Option<Spanned<f64>>,
    pub(crate) saturation: Option<Spanned<f64>>,
    pub(crate) engagement: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFocus {
    pub(crate) half_life_days: Option<Spanned<f64>>,
    pub(crate) max_groups: Option<Spanned<i64>>,
    pub(crate) streak_reset_below: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCustomer {
    pub(crate) weight: Option<Spanned<f64>>,
    pub(crate) saturation: Option<Spanned<f64>>,
    pub(crate) repurchase_interval_days: Option<Spanned<f64>>,
    pub(crate) at_risk_after: Option<Spanned<f64>>,
    pub(crate) lapsed_after: Option<Spanned<f64>>,
    pub(crate) p_alive_at_risk: Option<Spanned<f64>>,
    pub(crate) p_alive_lapsed: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIntent {
    pub(crate) cold_below: Option<Spanned<f64>>,
    pub(crate) cold_drop: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStage {
    pub(crate) min_fit: Option<Spanned<f64>>,
    pub(crate) min_engagement: Option<Spanned<f64>>,
    pub(crate) min_evidence: Option<Spanned<f64>>,
    pub(crate) future_customer_min: Option<Spanned<f64>>,
    pub(crate) min_advocacy: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAudience {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    pub(crate) condition: Spanned<String>,
    pub(crate) fit: Spanned<RawFit>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawFit {
    Number(f64),
    Expression(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPages {
    pub(crate) replace_defaults: Option<bool>,
    pub(crate) rules: Option<Vec<Spanned<RawRule>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub(crate) category: String,
    pub(crate) pattern: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuestions {
    pub(crate) confidence: Option<Spanned<f64>>,
    pub(crate) min_gain: Option<Spanned<f64>>,
    pub(crate) cost: Option<Spanned<f64>>,
    pub(crate) max_per_visit: Option<Spanned<i64>>,
    pub(crate) max_per_30_days: Option<Spanned<i64>>,
    pub(crate) learning_pseudo_count: Option<Spanned<f64>>,
    pub(crate) bank: Option<Vec<Spanned<RawQuestion>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecommend {
    pub(crate) results: Option<Spanned<i64>>,
    pub(crate) inactive_after_days: Option<Spanned<f64>>,
    pub(crate) inactive_products: Option<Spanned<Vec<String>>>,
    pub(crate) consumables: Option<Spanned<Vec<String>>>,
    pub(crate) consumable_categories: Option<Spanned<Vec<String>>>,
    pub(crate) learn_consumables: Option<bool>,
    pub(crate) min_reorder_rate: Option<Spanned<f64>>,
    pub(crate) reorder_window_days: Option<Spanned<f64>>,
    pub(crate) rules: Option<Vec<Spanned<RawRecommendRule>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuestion {
    pub(crate) id: Spanned<String>,
    pub(crate) es: Spanned<String>,
    pub(crate) en: Spanned<String>,
    pub(crate) cost: Option<Spanned<f64>>,
    pub(crate) answers: Spanned<Vec<Spanned<RawAnswer>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnswer {
    pub(crate) id: Spanned<String>,
    pub(crate) es: Spanned<String>,
    pub(crate) en: Spanned<String>,
    pub(crate) likelihoods: Spanned<Vec<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecommendRule {
    pub(crate) bought: Option<String>,
    pub(crate) never: Option<String>,
    pub(crate) within: Option<String>,
}
