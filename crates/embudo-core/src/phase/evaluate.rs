//! Evaluation: a [`PhaseState`] read at `now` becomes a [`Classification`].
//!
//! The phase is a softmax over logits: `z_k = prior_k + Σ_s w_{s,k} · sat_s(level_s(now))`,
//! where each level decays with the signal's half-life. Phase III exists only for customers
//! (an order neither cancelled nor fully refunded); its logit adds `weight · sat(orders)`,
//! which does not decay: a customer who goes quiet lapses (sub-state), never back to phase I.
//! A person with no signals at all gets the prior: phase I with low confidence.

use crate::phase::evidence::Evidence;
use crate::phase::model::{N_SIGNALS, PhaseModel, Signal};
use crate::phase::state::PhaseState;
use crate::phase::{Lang, Phase};
use crate::profile::Aggregates;
use crate::time::{MILLIS_PER_DAY, Timestamp};
use crate::value::Value;

/// What the caller knows beside the state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// The profile's traits (`email`, `phone`, …), for reachability.
    pub traits: Option<&'a Value>,
    /// The channels the person consented to.
    pub consents: Consents,
    /// The shop's target audiences this profile matched, with their fit (computed by the
    /// caller from the audience conditions, see `embudo-config`).
    pub audiences: &'a [AudienceFit],
    /// The phase posterior from survey answers (`embudo-ask`), if any: P(I), P(II), P(III).
    pub answers: Option<[f64; 3]>,
    pub customer: CustomerInputs,
    /// The predicted purchase intent, when an intent model exists (phase II "going cold").
    pub intent: Option<IntentInputs>,
}

/// The predicted purchase intent of a person and its peak since they entered phase II (the
/// caller keeps the peak between evaluations).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntentInputs {
    /// P(buys within the model's horizon), now.
    pub current: f64,
    /// The highest intent since the person entered phase II (at least `current`).
    pub peak: f64,
}

/// What the engine read from the intent: whether a phase II person is going cold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntentReading {
    pub intent: f64,
    pub peak: f64,
    /// In phase II, with the intent below `intent.cold_below` or fallen by `intent.cold_drop`
    /// from its peak. Always false outside phase II.
    pub cold: bool,
}

/// Why a customer has the sub-state they have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SubstateBasis {
    /// Days since the last order against the repurchase interval (no BTYD model).
    Recency,
    /// The BTYD probability that the customer is still alive.
    PAlive(f64),
    /// Lateness against the BTYD expected next order: `days_late` after `expected` (negative
    /// when it is still ahead).
    Overdue { expected: Timestamp, days_late: f64 },
}

impl SubstateBasis {
    /// The basis in words, for a model-driven sub-state (`None` for [`SubstateBasis::Recency`],
    /// which the purchase evidence already tells).
    pub fn describe(&self, lang: Lang) -> Option<String> {
        let es = lang == Lang::Es;
        match *self {
            SubstateBasis::Recency => None,
            SubstateBasis::PAlive(p) if es => Some(format!(
                "probabilidad de seguir activo {}",
                percent(p, lang)
            )),
            SubstateBasis::PAlive(p) => {
                Some(format!("probability still active {}", percent(p, lang)))
            }
            SubstateBasis::Overdue {
                expected,
                days_late,
            } => {
                let date = expected.date_string();
                Some(match (days_late > 0.0, es) {
                    (true, true) => format!(
                        "pedido esperado hacia el {date}, {:.0} días de retraso",
                        days_late
                    ),
                    (true, false) => {
                        format!("order expected around {date}, {days_late:.0} days late")
                    }
                    (false, true) => format!("próximo pedido esperado hacia el {date}"),
                    (false, false) => format!("next order expected around {date}"),
                })
            }
        }
    }
}

/// A probability as a percentage, with the language's decimal separator.
pub(crate) fn percent(p: f64, lang: Lang) -> String {
    let text = format!("{:.0} %", 100.0 * p);
    match lang {
        Lang::Es => text.replace('.', ","),
        Lang::En => text,
    }
}

/// Consented channels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consents {
    pub email: bool,
    pub sms: bool,
    pub push: bool,
}

/// One matched audience.
#[derive(Debug, Clone, PartialEq)]
pub struct AudienceFit {
    pub name: String,
    /// In [0, 1].
    pub fit: f64,
}

/// What the shop knows about repeat purchases.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CustomerInputs {
    /// The shop's typical days between orders (e.g. the median inter-order time of its
    /// repeat customers); `None` uses the model's default.
    pub repurchase_interval_days: Option<f64>,
    /// BTYD probability that the customer is still alive, when predicted.
    pub p_alive: Option<f64>,
    /// BTYD expected time of the next order, when predicted.
    pub expected_next_order: Option<Timestamp>,
}

/// The phase III sub-state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CustomerState {
    Active,
    AtRisk,
    Lapsed,
}

impl CustomerState {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerState::Active => "active",
            CustomerState::AtRisk => "at_risk",
            CustomerState::Lapsed => "lapsed",
        }
    }

    pub fn describe(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (CustomerState::Active, Lang::Es) => "activo",
            (CustomerState::AtRisk, Lang::Es) => "en riesgo",
            (CustomerState::Lapsed, Lang::Es) => "perdido",
            (CustomerState::Active, Lang::En) => "active",
            (CustomerState::AtRisk, Lang::En) => "at risk",
            (CustomerState::Lapsed, Lang::En) => "lapsed",
        }
    }
}

/// The relationship stage (second seed), furthest first in [`Stage::ALL`] order reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Identify,
    Connect,
    Explore,
    Advise,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Identify,
        Stage::Connect,
        Stage::Explore,
        Stage::Advise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Identify => "identify",
            Stage::Connect => "connect",
            Stage::Explore => "explore",
            Stage::Advise => "advise",
        }
    }

    pub fn describe(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Stage::Identify, Lang::Es) => "identificar",
            (Stage::Connect, Lang::Es) => "conectar",
            (Stage::Explore, Lang::Es) => "explorar",
            (Stage::Advise, Lang::Es) => "asesorar",
            (Stage::Identify, Lang::En) => "identify",
            (Stage::Connect, Lang::En) => "connect",
            (Stage::Explore, Lang::En) => "explore",
            (Stage::Advise, Lang::En) => "advise",
        }
    }
}

/// The outcome of exploring a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qualification {
    FutureCustomer,
    StillUnsure,
}

impl Qualification {
    pub fn as_str(self) -> &'static str {
        match self {
            Qualification::FutureCustomer => "future_customer",
            Qualification::StillUnsure => "still_unsure",
        }
    }

    pub fn describe(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Qualification::FutureCustomer, Lang::Es) => "cliente futuro",
            (Qualification::StillUnsure, Lang::Es) => "todavía inseguro",
            (Qualification::FutureCustomer, Lang::En) => "future customer",
            (Qualification::StillUnsure, Lang::En) => "still unsure",
        }
    }
}

/// Which stage conditions hold. The stage is the furthest one that holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageChecks {
    /// The best audience fit reaches `stage.min_fit`.
    pub identify: bool,
    /// A consented, addressable channel and engagement ≥ `stage.min_engagement`.
    pub connect: bool,
    /// Qualified (see [`Qualification`]).
    pub explore: bool,
    /// A customer, or advocacy ≥ `stage.min_advocacy`.
    pub advise: bool,
}

/// Everything the engine says about one person at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// P(I), P(II), P(III); they sum to 1. P(III) is 0 for a person who never kept an order.
    pub probabilities: [f64; 3],
    /// The most likely phase (ties go to the later phase).
    pub phase: Phase,
    /// The probability of `phase`.
    pub confidence: f64,
    /// Phase III sub-state, for customers (whatever their most likely phase).
    pub substate: Option<CustomerState>,
    /// What decided the sub-state.
    pub substate_basis: Option<SubstateBasis>,
    /// The purchase intent, when the caller passed one.
    pub intent: Option<IntentReading>,
    /// The furthest stage whose condition holds; `None` when none does.
    pub stage: Option<Stage>,
    pub stage_checks: StageChecks,
    pub qualification: Option<Qualification>,
    /// Signals that moved the phase, strongest first.
    pub evidence: Vec<Evidence>,
    /// Decayed engagement score (stage connect).
    pub engagement: f64,
    /// Kept orders and the last one.
    pub n_orders: u32,
    pub last_order_at: Option<Timestamp>,
    /// Every matched audience, best fit first.
    pub audiences: Vec<AudienceFit>,
    /// When evaluated.
    pub at: Timestamp,
}

/// Evaluates a state at `now`. Pure: same state, aggregates, context, `now` and model give the
/// same classification. `aggregates` supplies orders imported without events (they count as
/// purchases when the state's ledger knows fewer).
pub fn evaluate(
    state: &PhaseState,
    aggregates: &Aggregates,
    context: &Context<'_>,
    now: Timestamp,
    model: &PhaseModel,
) -> Classification {
    let mut logits = [model.prior[0], model.prior[1], 0.0];
    let mut evidence = Vec::new();
    let mut engagement = 0.0;
    let mut advocacy = 0.0;
    let mut behaviour = 0.0;
    for (index, signal) in Signal::DECAYED.into_iter().enumerate() {
        let level = state.level(signal, now, model);
        if level <= 1e-3 {
            continue;
        }
        let spec = &model.signals[index];
        let x = spec.saturate(level);
        let contribution = [
            spec.weights[0] * x,
            spec.weights[1] * x,
            spec.weights[2] * x,
        ];
        for k in 0..3 {
            logits[k] += contribution[k];
        }
        engagement += spec.engagement * x;
        if signal.is_advocacy() {
            advocacy += level;
        }
        behaviour += contribution[0].abs() + contribution[1].abs();
        evidence.push(Evidence::from_signal(
            state,
            signal,
            level,
            contribution,
            now,
            model,
        ));
    }

    // Phase III: the order ledger, or the aggregates when they know more (imported orders).
    let summary = state.order_summary();
    let (mut n_orders, mut last_order_ms) = (summary.n_kept, summary.last_ms);
    let aggregate_orders = u32::try_from(aggregates.n_orders()).unwrap_or(u32::MAX);
    if aggregate_orders > n_orders {
        n_orders = aggregate_orders;
        last_order_ms = aggregates.last_order_at().map(Timestamp::as_millis);
    }
    let customer = n_orders > 0;
    if customer {
        let orders = f64::from(n_orders);
        let x = if model.customer.saturation > 0.0 {
            model.customer.saturation * (1.0 - (-orders / model.customer.saturation).exp())
        } else {
            orders
        };
        let contribution = [0.0, 0.0, model.customer.weight * x];
        logits[2] += contribution[2];
        evidence.push(Evidence::purchase(
            n_orders,
            last_order_ms.map(Timestamp::from_millis),
            contribution,
        ));
    }

    if let Some(answers) = context.answers {
        let mut contribution = [0.0; 3];
        for k in 0..3 {
            contribution[k] = model.answers_weight * answers[k].max(1e-6).ln();
        }
        // Only the differences matter to a softmax: centre the contribution on the phases
        // that can win so that the evidence reads as "toward II", not "away from everything".
        let live = if customer { 3 } else { 2 };
        let mean = contribution[..live].iter().sum::<f64>() / live as f64;
        for k in 0..live {
            contribution[k] -= mean;
            logits[k] += contribution[k];
        }
        if !customer {
            contribution[2] = 0.0;
        }
        evidence.push(Evidence::answers(contribution));
    }

    let probabilities = softmax(logits, customer);
    let mut best = 0;
    for k in 1..3 {
        if probabilities[k] >= probabilities[best] {
            best = k;
        }
    }
    let phase = Phase::from_index(best).unwrap_or(Phase::I);
    evidence.sort_by(|a, b| {
        b.influence(phase)
            .total_cmp(&a.influence(phase))
            .then(a.signal.cmp(&b.signal))
    });

    let (substate, substate_basis) = last_order_ms
        .filter(|_| customer)
        .map(|last| customer_state(Timestamp::from_millis(last), context, now, model))
        .unzip();
    let intent = context
        .intent
        .filter(|intent| intent.current.is_finite())
        .map(|intent| {
            let peak = if intent.peak.is_finite() {
                intent.peak.max(intent.current)
            } else {
                intent.current
            };
            IntentReading {
                intent: intent.current,
                peak,
                cold: phase == Phase::II
                    && (intent.current < model.intent.cold_below
                        || peak - intent.current >= model.intent.cold_drop),
            }
        });

    // The stage: each condition on its own, the furthest that holds wins.
    let mut audiences: Vec<AudienceFit> = context
        .audiences
        .iter()
        .filter(|audience| audience.fit.is_finite())
        .cloned()
        .collect();
    audiences.sort_by(|a, b| b.fit.total_cmp(&a.fit));
    let explored = state.count(Signal::SignUp) > 0
        || state.count(Signal::QuestionAnswered) > 0
        || context.answers.is_some()
        || customer
        || behaviour >= model.stage.min_evidence;
    let qualification = explored.then(|| {
        if probabilities[1] + probabilities[2] >= model.stage.future_customer_min {
            Qualification::FutureCustomer
        } else {
            Qualification::StillUnsure
        }
    });
    let stage_checks = StageChecks {
        identify: audiences
            .first()
            .is_some_and(|best| best.fit >= model.stage.min_fit),
        connect: reachable(context) && engagement >= model.stage.min_engagement,
        explore: qualification.is_some(),
        advise: customer || advocacy >= model.stage.min_advocacy,
    };
    let stage = [
        (stage_checks.advise, Stage::Advise),
        (stage_checks.explore, Stage::Explore),
        (stage_checks.connect, Stage::Connect),
        (stage_checks.identify, Stage::Identify),
    ]
    .into_iter()
    .find(|(holds, _)| *holds)
    .map(|(_, stage)| stage);

    Classification {
        probabilities,
        phase,
        confidence: probabilities[best],
        substate,
        substate_basis,
        intent,
        stage,
        stage_checks,
        qualification,
        evidence,
        engagement,
        n_orders,
        last_order_at: last_order_ms
            .filter(|_| customer)
            .map(Timestamp::from_millis),
        audiences,
        at: now,
    }
}

/// Whether a consented channel has an address: e-mail needs `traits.email`, SMS needs
/// `traits.phone`; push needs only the consent (the device token is the channel's business).
fn reachable(context: &Context<'_>) -> bool {
    let has = |key: &str| {
        context
            .traits
            .and_then(|traits| traits.str_field(key))
            .is_some()
    };
    (context.consents.email && has("email"))
        || (context.consents.sms && has("phone"))
        || context.consents.push
}

/// The sub-state and what decided it. With a BTYD P(alive) and an expected next order, the
/// worse of the two; with P(alive) alone, P(alive); without a model, the days since the last
/// order against the repurchase interval.
fn customer_state(
    last_order: Timestamp,
    context: &Context<'_>,
    now: Timestamp,
    model: &PhaseModel,
) -> (CustomerState, SubstateBasis) {
    let customer = &model.customer;
    let by_lateness = |overdue: f64| {
        if overdue > customer.lapsed_after {
            CustomerState::Lapsed
        } else if overdue > customer.at_risk_after {
            CustomerState::AtRisk
        } else {
            CustomerState::Active
        }
    };
    let interval = context
        .customer
        .repurchase_interval_days
        .filter(|days| days.is_finite() && *days > 0.0)
        .unwrap_or(customer.repurchase_interval_days);
    // With an expected next order, lateness is measured from it: one interval late is as
    // late as `at_risk_after` intervals since the last order without a prediction.
    let by_date = match context.customer.expected_next_order {
        Some(expected) => {
            let days_late = (now.as_millis() - expected.as_millis()) as f64 / MILLIS_PER_DAY as f64;
            (
                by_lateness(days_late / interval + customer.at_risk_after - 1.0),
                SubstateBasis::Overdue {
                    expected,
                    days_late,
                },
            )
        }
        None => (
            by_lateness(last_order.days_until(now) / interval),
            SubstateBasis::Recency,
        ),
    };
    let Some(p_alive) = context.customer.p_alive.filter(|p| p.is_finite()) else {
        return by_date;
    };
    let by_p_alive = if p_alive < customer.p_alive_lapsed {
        CustomerState::Lapsed
    } else if p_alive < customer.p_alive_at_risk {
        CustomerState::AtRisk
    } else {
        CustomerState::Active
    };
    if context.customer.expected_next_order.is_some() && by_date.0 > by_p_alive {
        by_date
    } else {
        (by_p_alive, SubstateBasis::PAlive(p_alive))
    }
}

fn softmax(logits: [f64; 3], customer: bool) -> [f64; 3] {
    let live = if customer { 3 } else { 2 };
    let top = logits[..live]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let mut out = [0.0; 3];
    let mut total = 0.0;
    for k in 0..live {
        out[k] = (logits[k] - top).exp();
        total += out[k];
    }
    for value in &mut out {
        *value /= total;
    }
    out
}

const _: () = assert!(N_SIGNALS == Signal::DECAYED.len());
