//! Transitions: what changed between two evaluations of the same person, and why.
//!
//! The caller evaluates after each event (and on a schedule, for decay), compares with the
//! previous classification and persists the transitions; time in phase and paths follow.

use crate::phase::Phase;
use crate::phase::evaluate::{
    Classification, CustomerState, IntentReading, Stage, SubstateBasis, percent,
};
use crate::phase::evidence::{Evidence, Lang};
use crate::phase::model::Signal;
use crate::time::Timestamp;

/// How many reasons a transition keeps.
const MAX_WHY: usize = 3;

/// Changes of push smaller than this (logit points) are not reasons.
const MIN_PUSH: f64 = 0.1;

/// One change of phase, customer sub-state or stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub change: Change,
    pub at: Timestamp,
    /// The signals that explain it, strongest first.
    pub why: Vec<Why>,
    /// For a sub-state change decided by a BTYD model: P(alive) or the expected next order.
    pub basis: Option<SubstateBasis>,
    /// For a phase II intent change: the intent and its peak.
    pub intent: Option<IntentReading>,
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Phase {
        from: Phase,
        to: Phase,
    },
    Substate {
        from: Option<CustomerState>,
        to: Option<CustomerState>,
    },
    Stage {
        from: Option<Stage>,
        to: Option<Stage>,
    },
    /// A phase II person went cold (the purchase intent fell) or warmed up again.
    Cooling {
        cold: bool,
    },
}

/// One reason: a signal, and how much it pushed toward the new value rather than the old
/// one before and after (logit points).
#[derive(Debug, Clone, PartialEq)]
pub struct Why {
    pub evidence: Evidence,
    pub before: f64,
    pub after: f64,
    /// The reason is that the signal faded (or, for a purchase, was refunded or cancelled),
    /// not that it grew.
    pub fading: bool,
}

/// The changes from `before` to `after`, stamped `now`: phase first, then sub-state, then
/// stage, then a phase II person going cold or warming up (when both have an intent). Empty
/// when nothing changed.
pub fn transitions(
    before: &Classification,
    after: &Classification,
    now: Timestamp,
) -> Vec<Transition> {
    let mut out = Vec::new();
    if before.phase != after.phase {
        out.push(Transition {
            change: Change::Phase {
                from: before.phase,
                to: after.phase,
            },
            at: now,
            why: phase_reasons(before, after),
            basis: None,
            intent: None,
        });
    }
    if before.substate != after.substate {
        let why = after
            .evidence
            .iter()
            .chain(&before.evidence)
            .find(|evidence| evidence.signal == Signal::Purchase)
            .map(|evidence| Why {
                evidence: evidence.clone(),
                before: 0.0,
                after: 0.0,
                fading: false,
            })
            .into_iter()
            .collect();
        out.push(Transition {
            change: Change::Substate {
                from: before.substate,
                to: after.substate,
            },
            at: now,
            why,
            basis: after.substate_basis,
            intent: None,
        });
    }
    if before.stage != after.stage {
        out.push(Transition {
            change: Change::Stage {
                from: before.stage,
                to: after.stage,
            },
            at: now,
            why: stage_reasons(before, after),
            basis: None,
            intent: None,
        });
    }
    if let (Phase::II, Phase::II, Some(old), Some(new)) =
        (before.phase, after.phase, before.intent, after.intent)
        && old.cold != new.cold
    {
        out.push(Transition {
            change: Change::Cooling { cold: new.cold },
            at: now,
            why: Vec::new(),
            basis: None,
            intent: Some(new),
        });
    }
    out
}

/// The signals whose push toward `to` rather than `from` changed most.
fn phase_reasons(before: &Classification, after: &Classification) -> Vec<Why> {
    let (from, to) = (before.phase.index(), after.phase.index());
    let push = |evidence: &Evidence| evidence.contribution[to] - evidence.contribution[from];
    let mut reasons: Vec<Why> = Vec::new();
    for evidence in &after.evidence {
        let old = before
            .evidence
            .iter()
            .find(|old| old.signal == evidence.signal)
            .map_or(0.0, push);
        let new = push(evidence);
        reasons.push(Why {
            evidence: evidence.clone(),
            before: old,
            after: new,
            fading: new <= 0.0,
        });
    }
    for evidence in &before.evidence {
        if !after
            .evidence
            .iter()
            .any(|new| new.signal == evidence.signal)
        {
            reasons.push(Why {
                evidence: evidence.clone(),
                before: push(evidence),
                after: 0.0,
                fading: true,
            });
        }
    }
    // Only what supports the change: signals that grew toward the new phase, or that held the
    // person in the old one and faded.
    reasons.retain(|why| why.after - why.before > MIN_PUSH);
    reasons.sort_by(|a, b| {
        (b.after - b.before)
            .total_cmp(&(a.after - a.before))
            .then(a.evidence.signal.cmp(&b.evidence.signal))
    });
    reasons.truncate(MAX_WHY);
    reasons
}

/// The evidence behind the condition of a stage: for a move forward, the evidence of the new
/// stage's condition now; for a move back, the evidence of the old one that faded.
fn stage_reasons(before: &Classification, after: &Classification) -> Vec<Why> {
    let forward = after.stage > before.stage;
    let stage = if forward { after.stage } else { before.stage };
    let relevant = |signal: Signal| match stage {
        Some(Stage::Advise) => signal == Signal::Purchase || signal.is_advocacy(),
        Some(Stage::Explore) => !signal.is_advocacy(),
        Some(Stage::Connect) => !matches!(signal, Signal::Purchase | Signal::SurveyAnswers),
        Some(Stage::Identify) | None => false,
    };
    let strength = |evidence: &Evidence| evidence.contribution.iter().map(|c| c.abs()).sum::<f64>();
    let (source, other) = if forward {
        (after, before)
    } else {
        (before, after)
    };
    source
        .evidence
        .iter()
        .filter(|evidence| relevant(evidence.signal))
        .take(MAX_WHY)
        .map(|evidence| {
            let then = other
                .evidence
                .iter()
                .find(|old| old.signal == evidence.signal)
                .map_or(0.0, strength);
            let (before, after) = if forward {
                (then, strength(evidence))
            } else {
                (strength(evidence), then)
            };
            Why {
                evidence: evidence.clone(),
                before,
                after,
                fading: !forward,
            }
        })
        .collect()
}

impl Transition {
    /// The transition in words, e.g. "fase II → fase I: comparó precios 2 veces… (se enfría)".
    pub fn describe(&self, lang: Lang) -> String {
        let es = lang == Lang::Es;
        let head = match self.change {
            Change::Phase { from, to } => {
                format!("{} {from} → {to}", if es { "fase" } else { "phase" })
            }
            Change::Substate { from, to } => format!(
                "{} {} → {}",
                if es { "cliente" } else { "customer" },
                from.map_or("-", |state| state.describe(lang)),
                to.map_or("-", |state| state.describe(lang)),
            ),
            Change::Stage { from, to } => format!(
                "{} {} → {}",
                if es { "etapa" } else { "stage" },
                from.map_or("-", |stage| stage.describe(lang)),
                to.map_or("-", |stage| stage.describe(lang)),
            ),
            Change::Cooling { cold } => match (cold, es) {
                (true, true) => "fase II se enfría".to_owned(),
                (true, false) => "phase II going cold".to_owned(),
                (false, true) => "fase II se reactiva".to_owned(),
                (false, false) => "phase II warming up again".to_owned(),
            },
        };
        let reasons: Vec<String> = self
            .why
            .iter()
            .map(|why| {
                let text = why.evidence.describe(lang);
                match (why.fading, why.evidence.signal, es) {
                    (false, _, _) => text,
                    (true, Signal::Purchase, true) => format!("{text} (reembolsado o cancelado)"),
                    (true, Signal::Purchase, false) => format!("{text} (refunded or cancelled)"),
                    (true, _, true) => format!("{text} (se enfría)"),
                    (true, _, false) => format!("{text} (fading)"),
                }
            })
            .collect();
        let mut reasons = reasons;
        if let Some(text) = self.basis.and_then(|basis| basis.describe(lang)) {
            reasons.insert(0, text);
        }
        if let Some(intent) = self.intent {
            reasons.push(match es {
                true => format!(
                    "intención de compra {} (máximo {})",
                    percent(intent.intent, lang),
                    percent(intent.peak, lang)
                ),
                false => format!(
                    "purchase intent {} (peak {})",
                    percent(intent.intent, lang),
                    percent(intent.peak, lang)
                ),
            });
        }
        if reasons.is_empty() {
            head
        } else {
            format!("{head}: {}", reasons.join("; "))
        }
    }
}
