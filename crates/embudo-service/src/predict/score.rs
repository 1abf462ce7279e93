//! Scoring one person with the newest models: cheap enough for every event (a few hundred
//! nanoseconds for BTYD, one tree-ensemble pass for intent).

use std::collections::BTreeMap;

use embudo_core::phase::{CustomerInputs, IntentInputs, PhaseModel, PhaseState};
use embudo_core::profile::Aggregates;
use embudo_core::time::MILLIS_PER_DAY;
use embudo_core::{Timestamp, phase};
use embudo_predict::btyd::{self, ClvOptions, History, RepeatModel};
use embudo_store::{ProfileRecord, ProfileSummary};
use serde::{Deserialize, Serialize};

use crate::predict::PredictSettings;
use crate::predict::features::features;
use crate::predict::models::{BtydPayload, LoadedModels};

/// How many contributing signals an intent score keeps.
const TOP_SIGNALS: usize = 5;

/// A person's scores, kept in the profile's engine state (JSON) next to the phase state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// P(orders within the intent horizon), calibrated; people who never bought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<f64>,
    /// The highest intent since the person entered phase II (for "going cold").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_peak: Option<f64>,
    /// The signals that moved the intent most, strongest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intent_signals: Vec<IntentSignal>,
    /// The intent model version used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_model: Option<i64>,
    /// BTYD probability that the customer is still active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_alive: Option<f64>,
    /// Expected orders in the next `expected_orders_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_orders: Option<f64>,
    /// The expected date of the next order: the last one plus the expected gap between orders
    /// of this customer if still active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_next_order: Option<Timestamp>,
    /// That expected gap, in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_gap_days: Option<f64>,
    /// Discounted customer lifetime value over the CLV horizon (needs Gamma-Gamma).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clv: Option<f64>,
    /// The BTYD model version used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub btyd_model: Option<i64>,
    /// When scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scored_at: Option<Timestamp>,
}

/// One signal's share of an intent score, on the log-odds scale (positive: toward buying).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentSignal {
    pub signal: String,
    pub contribution: f64,
}

impl Scores {
    /// The scores stored in a profile record (none when it was never scored).
    pub fn of(record: &ProfileRecord) -> Scores {
        crate::process::EngineState::of(record)
            .scores
            .unwrap_or_default()
    }

    /// What the phase engine reads for the customer sub-state.
    pub fn customer_inputs(&self) -> CustomerInputs {
        CustomerInputs {
            repurchase_interval_days: self.order_gap_days,
            p_alive: self.p_alive,
            expected_next_order: self.expected_next_order,
        }
    }

    /// What the phase engine reads for phase II "going cold".
    pub fn intent_inputs(&self) -> Option<IntentInputs> {
        self.intent.map(|current| IntentInputs {
            current,
            peak: self.intent_peak.unwrap_or(current),
        })
    }

    /// Writes the scores into the summary's sortable columns.
    pub fn fill(&self, summary: &mut ProfileSummary) {
        summary.intent = self.intent;
        summary.p_alive = self.p_alive;
        summary.clv = self.clv;
    }
}

/// Scores a person at `now`. `previous` is what was stored (for the intent's peak), `phase_before`
/// the phase the person was in at the last evaluation.
pub fn score(
    models: &LoadedModels,
    settings: &PredictSettings,
    phase_model: &PhaseModel,
    state: &PhaseState,
    record: &ProfileRecord,
    previous: &Scores,
    now: Timestamp,
) -> Scores {
    let mut scores = Scores::default();
    let customer = record.aggregates.n_orders() > 0;
    if customer {
        if let Some((version, btyd)) = &models.btyd {
            score_customer(btyd, settings, &record.aggregates, now, &mut scores);
            scores.btyd_model = Some(*version);
        }
    } else if let Some((version, intent)) = &models.intent {
        let row = features(state, &record.aggregates, now, phase_model);
        if row.len() == intent.features.len() {
            let raw = intent.model.predict_proba(&row);
            let p = intent.calibration.apply(raw);
            scores.intent = Some(p);
            let in_phase_two = record.summary.phase.as_deref() == Some(phase::Phase::II.as_str());
            scores.intent_peak = Some(match previous.intent_peak {
                Some(peak) if in_phase_two => peak.max(p),
                _ => p,
            });
            scores.intent_signals = intent
                .model
                .explain(&row)
                .top(TOP_SIGNALS)
                .iter()
                .map(|contribution| IntentSignal {
                    signal: contribution.name.clone(),
                    contribution: contribution.value,
                })
                .collect();
            scores.intent_model = Some(*version);
        }
    }
    if scores != Scores::default() {
        scores.scored_at = Some(now);
    }
    scores
}

/// A customer's BTYD history at `now` from their kept orders: purchases on one day count as
/// one (as in training), times in the model's unit. Also the mean value of the repeat days.
pub(crate) fn history_of(
    aggregates: &Aggregates,
    now: Timestamp,
    days_per_unit: f64,
) -> Option<(History, f64, Timestamp)> {
    let mut by_day: BTreeMap<i64, f64> = BTreeMap::new();
    let mut last_order = None;
    for order in aggregates.orders.values().filter(|order| order.is_kept()) {
        let day = order.placed_at.as_millis().div_euclid(MILLIS_PER_DAY);
        *by_day.entry(day).or_default() += (order.total - order.refunded).max(0.0);
        last_order = last_order.max(Some(order.placed_at));
    }
    let (&first, _) = by_day.first_key_value()?;
    let (&last, _) = by_day.last_key_value()?;
    let today = now.as_millis().div_euclid(MILLIS_PER_DAY).max(last);
    let x = u32::try_from(by_day.len() - 1).unwrap_or(u32::MAX);
    let repeat_value: f64 = by_day.iter().skip(1).map(|(_, value)| value).sum();
    let mean_repeat_value = if x > 0 {
        repeat_value / f64::from(x)
    } else {
        0.0
    };
    let history = History::new(
        x,
        (last - first) as f64 / days_per_unit,
        (today - first) as f64 / days_per_unit,
    )
    .ok()?;
    Some((history, mean_repeat_value, last_order?))
}

fn score_customer(
    btyd: &BtydPayload,
    settings: &PredictSettings,
    aggregates: &Aggregates,
    now: Timestamp,
    scores: &mut Scores,
) {
    let unit = btyd.days_per_unit;
    let Some((history, mean_repeat_value, last_order)) = history_of(aggregates, now, unit) else {
        return;
    };
    let model = &btyd.bgnbd;
    let next = btyd::expected_next_order(model, &history);
    scores.p_alive = Some(next.p_alive).filter(|p| p.is_finite());
    scores.expected_orders = Some(
        model.conditional_expected_transactions(&history, settings.expected_orders_days / unit),
    )
    .filter(|n| n.is_finite());
    if next.rate_if_alive.is_finite() && next.rate_if_alive > 0.0 {
        let gap_days = unit / next.rate_if_alive;
        scores.order_gap_days = Some(gap_days);
        scores.expected_next_order = Some(last_order.plus_days(gap_days));
    }
    if let Some(spend) = &btyd.gamma_gamma {
        let discount = (1.0 + settings.clv_yearly_discount).powf(unit / 365.0) - 1.0;
        let options = ClvOptions::new(settings.clv_horizon_days / unit, discount);
        let value_of = if history.x > 0 {
            mean_repeat_value
        } else {
            0.0
        };
        scores.clv = btyd::clv(model, spend, &history, value_of, &options)
            .ok()
            .filter(|clv| clv.is_finite());
    }
}
