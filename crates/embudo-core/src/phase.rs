//! The phase engine: purchase phase I/II/III and relationship stage for every person.
//!
//! The seeds ask the shop to know, from behaviour and asking as little as possible, in which
//! purchase phase a person is (I: a need, no product chosen; II: weighing features, budget and
//! brands; III: has bought) and where the relationship stands (identify, connect, explore,
//! advise). This module answers both, purely:
//!
//! - [`PhaseState`] is a small per-profile state, folded one event at a time
//!   ([`PhaseState::apply`], O(1) per event, never rescanning history) and mergeable
//!   ([`PhaseState::merge`]) when two identities turn out to be one person.
//! - [`evaluate`] reads the state at any `now` (decay is applied lazily) and returns a
//!   [`Classification`]: a log-linear (softmax) model over decayed, saturated signal levels gives
//!   P(I), P(II), P(III), with the [`Evidence`] behind it, the customer sub-state, the stage and
//!   the qualification.
//! - [`transitions`] compares two classifications and says what changed and why.
//!
//! The weights, half-lives and thresholds live in [`PhaseModel`]; its `Default` follows the
//! seeds and `DOMAIN.md`, and `embudo-config` reads a shop's overrides from TOML.

mod evaluate;
mod evidence;
mod model;
mod state;
mod transition;

pub use evaluate::{
    AudienceFit, Classification, Consents, Context, CustomerInputs, CustomerState, IntentInputs,
    IntentReading, Qualification, Stage, StageChecks, SubstateBasis, evaluate,
};
pub use evidence::{Evidence, FocusKind, Lang};
pub use model::{
    CustomerModel, FocusModel, IntentModel, N_SIGNALS, PhaseModel, Signal, SignalSpec, StageModel,
};
pub use state::{MAX_REMEMBERED_ORDERS, PhaseState};
pub use transition::{Change, Transition, Why, transitions};

/// A purchase phase, as the first seed names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Interest and discovery: a need, no product chosen yet.
    I,
    /// Consideration: weighing features, budget and brands.
    II,
    /// Customer: has bought (an order neither cancelled nor fully refunded).
    III,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::I, Phase::II, Phase::III];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(index: usize) -> Option<Phase> {
        Phase::ALL.get(index).copied()
    }

    /// `I`, `II` or `III`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::I => "I",
            Phase::II => "II",
            Phase::III => "III",
        }
    }

    /// Parses `I`, `II`, `III` (or `1`, `2`, `3`).
    pub fn parse(text: &str) -> Option<Phase> {
        match text.trim() {
            "I" | "i" | "1" => Some(Phase::I),
            "II" | "ii" | "2" => Some(Phase::II),
            "III" | "iii" | "3" => Some(Phase::III),
            _ => None,
        }
    }

    /// What the phase means, for a marketer.
    pub fn describe(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Phase::I, Lang::Es) => "fase I (interés: tiene una necesidad, aún no un producto)",
            (Phase::II, Lang::Es) => {
                "fase II (consideración: compara prestaciones, precio y marcas)"
            }
            (Phase::III, Lang::Es) => "fase III (cliente: ya ha comprado)",
            (Phase::I, Lang::En) => "phase I (interest: has a need, no product chosen yet)",
            (Phase::II, Lang::En) => {
                "phase II (consideration: weighing features, price and brands)"
            }
            (Phase::III, Lang::En) => "phase III (customer: has bought)",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
