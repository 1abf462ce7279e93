//! The features of a person for purchase intent, from the engine state and the aggregates at
//! one moment. Pure: training computes them at a cutoff from replayed events, scoring at `now`
//! from the stored profile, with the same function.

use embudo_core::Timestamp;
use embudo_core::phase::{PhaseModel, PhaseState, Signal};
use embudo_core::profile::Aggregates;

/// Features beside the decayed signal levels, in column order after them.
const OTHER: [&str; 7] = [
    "days_since_last_seen",
    "days_since_first_seen",
    "events",
    "products_viewed",
    "categories_viewed",
    "cart_adds",
    "checkouts",
];

/// Column names: every decayed signal of the phase engine (its level at the moment), then
/// recency, tenure and counts (counts as ln(1 + n)).
pub fn feature_names() -> Vec<String> {
    Signal::DECAYED
        .iter()
        .map(|signal| signal.key().to_owned())
        .chain(OTHER.iter().map(|name| (*name).to_owned()))
        .collect()
}

/// One person's features at `at`, in [`feature_names`] order; unknown values are NaN.
pub fn features(
    state: &PhaseState,
    aggregates: &Aggregates,
    at: Timestamp,
    model: &PhaseModel,
) -> Vec<f32> {
    let mut row: Vec<f32> = Signal::DECAYED
        .iter()
        .map(|&signal| state.level(signal, at, model) as f32)
        .collect();
    let days = |since: Option<Timestamp>| {
        since.map_or(f32::NAN, |since| since.days_until(at).max(0.0) as f32)
    };
    let count = |n: u64| (n as f64).ln_1p() as f32;
    row.extend([
        days(aggregates.last_seen),
        days(aggregates.first_seen),
        count(aggregates.n_events),
        count(aggregates.n_distinct_products_viewed),
        count(aggregates.categories_viewed.len() as u64),
        count(aggregates.n_cart_adds),
        count(aggregates.n_checkouts),
    ]);
    row
}
