//! The choice of the next question, and when to ask nothing.

use crate::bank::QuestionBank;
use crate::info::expected_information_gain;

/// Seconds in the default budget window (30 days).
const THIRTY_DAYS: i64 = 30 * 24 * 3600;

/// When to ask and how much.
#[derive(Debug, Clone, PartialEq)]
pub struct AskPolicy {
    /// Ask nothing once the most probable class has at least this probability.
    pub confidence: f64,
    /// Ask nothing unless the best question's expected gain minus its cost reaches this
    /// (bits).
    pub min_gain: f64,
    /// At most this many questions per visit (asked, answered or not).
    pub max_per_visit: usize,
    /// At most this many questions per window (asked, answered or not).
    pub max_per_window: usize,
    /// The length of the budget window in seconds (30 days by default).
    pub window_seconds: i64,
}

impl Default for AskPolicy {
    fn default() -> Self {
        Self {
            confidence: 0.9,
            min_gain: 0.05,
            max_per_visit: 1,
            max_per_window: 3,
            window_seconds: THIRTY_DAYS,
        }
    }
}

/// A question put to the person earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskedQuestion {
    /// The question's id.
    pub question_id: String,
    /// When it was shown, in seconds since the Unix epoch.
    pub asked_at: i64,
    /// The index of the answer given, `None` when unanswered.
    pub answer: Option<usize>,
}

/// Why no question is asked.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// The posterior is confident enough already.
    Confident {
        /// The most probable class.
        class: usize,
        /// Its probability.
        probability: f64,
    },
    /// The visit's question budget is spent.
    VisitBudgetSpent,
    /// The window's (30 days) question budget is spent.
    WindowBudgetSpent,
    /// Every question left would gain less than the minimum (net of cost).
    NothingGainsEnough {
        /// The best net gain found, in bits.
        best_net_gain: f64,
    },
    /// Every question of the bank was asked within the window.
    NoQuestionLeft,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Ask this question.
    Ask {
        /// Index in the bank.
        question: usize,
        /// Its expected information gain, in bits.
        gain: f64,
    },
    /// Ask nothing.
    Stop(StopReason),
}

/// Chooses the next question for a person whose class posterior is `posterior`.
///
/// `history` lists the questions put to the person (any time); the ones asked at or after
/// `visit_started_at` count against the visit budget, and the ones asked within
/// `policy.window_seconds` before `now` against the window budget. A question asked within
/// the window is not asked again. Checks run in this order: confidence, visit budget, window
/// budget, then the best question by gain minus cost (ties to the earlier question).
pub fn next_question(
    bank: &QuestionBank,
    posterior: &[f64],
    history: &[AskedQuestion],
    visit_started_at: i64,
    now: i64,
    policy: &AskPolicy,
) -> Decision {
    let (class, probability) =
        posterior
            .iter()
            .copied()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |best, (c, p)| {
                if p > best.1 { (c, p) } else { best }
            });
    if probability >= policy.confidence {
        return Decision::Stop(StopReason::Confident { class, probability });
    }
    let window_start = now - policy.window_seconds;
    let in_visit = history
        .iter()
        .filter(|q| q.asked_at >= visit_started_at && q.asked_at <= now)
        .count();
    if in_visit >= policy.max_per_visit {
        return Decision::Stop(StopReason::VisitBudgetSpent);
    }
    let in_window: Vec<&AskedQuestion> = history
        .iter()
        .filter(|q| q.asked_at > window_start && q.asked_at <= now)
        .collect();
    if in_window.len() >= policy.max_per_window {
        return Decision::Stop(StopReason::WindowBudgetSpent);
    }
    let mut best: Option<(usize, f64, f64)> = None;
    for (index, question) in bank.questions().iter().enumerate() {
        if in_window.iter().any(|q| q.question_id == question.id) {
            continue;
        }
        let gain = expected_information_gain(posterior, question);
        let net = gain - question.cost;
        if best.is_none_or(|(_, _, best_net)| net > best_net) {
            best = Some((index, gain, net));
        }
    }
    match best {
        None => Decision::Stop(StopReason::NoQuestionLeft),
        Some((_, _, net)) if net < policy.min_gain => {
            Decision::Stop(StopReason::NothingGainsEnough { best_net_gain: net })
        }
        Some((question, gain, _)) => Decision::Ask { question, gain },
    }
}
