//! A person's survey questions, kept in the engine state: what was asked when, what was
//! answered, and the likelihoods each answer carried when it was processed.

use embudo_ask::{AskedQuestion, QuestionBank};
use embudo_core::event::Action;
use embudo_core::{Event, Timestamp};

/// The track event that records a question shown to a person.
pub const QUESTION_ASKED: &str = "Question Asked";
/// The track event of an answer (properties `question_id`, `answer_id`).
pub const QUESTION_ANSWERED: &str = "Question Answered";

/// A visit ends after this much inactivity (the usual web-analytics session rule).
pub(crate) const VISIT_GAP_MILLIS: i64 = 30 * 60 * 1000;

/// Most records kept per person (oldest dropped first); the budgets allow a few a month.
const MAX_RECORDS: usize = 100;

/// A person's questions, asked and answered, oldest first.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuestionHistory {
    #[serde(default)]
    pub records: Vec<QuestionRecord>,
    /// When the current (or last) visit started: the first event after 30 minutes without any.
    #[serde(default)]
    pub visit_started_at: Option<Timestamp>,
    /// The person's last event.
    #[serde(default)]
    pub last_activity: Option<Timestamp>,
}

/// One question put to the person, or answered without being asked (a shop's own form).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuestionRecord {
    pub question_id: String,
    /// When embudo asked it (`Question Asked`); `None` for an answer nobody asked for.
    #[serde(default)]
    pub asked_at: Option<Timestamp>,
    /// Its expected information gain when asked, in bits.
    #[serde(default)]
    pub gain: Option<f64>,
    #[serde(default)]
    pub answer_id: Option<String>,
    #[serde(default)]
    pub answered_at: Option<Timestamp>,
    /// P(answer | I, II, III) from the bank in effect when the answer was processed; `None`
    /// when the bank did not know the question or the answer.
    #[serde(default)]
    pub likelihoods: Option<[f64; 3]>,
}

impl QuestionRecord {
    /// When it counts against the budgets: asked, else answered.
    pub fn at(&self) -> Timestamp {
        self.asked_at
            .or(self.answered_at)
            .unwrap_or(Timestamp::from_millis(0))
    }
}

impl QuestionHistory {
    /// True when there is nothing worth storing (the visit clock alone is not).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Folds one event of the person in: every event moves the visit clock; `Question Asked`
    /// adds a record; `Question Answered` answers the latest open record of its question (or
    /// adds one) with the answer's likelihoods in `bank`.
    pub fn observe(&mut self, event: &Event, action: &Action, bank: &QuestionBank) {
        let at = event.timestamp;
        let new_visit = self
            .last_activity
            .is_none_or(|last| at.as_millis() - last.as_millis() > VISIT_GAP_MILLIS);
        if new_visit {
            self.visit_started_at = Some(at);
        }
        self.last_activity = Some(self.last_activity.map_or(at, |last| last.max(at)));
        match action {
            Action::QuestionAsked { question } => {
                if question.is_empty() {
                    return;
                }
                self.push(QuestionRecord {
                    question_id: question.clone(),
                    asked_at: Some(at),
                    gain: event.properties.get("gain").and_then(|v| v.as_f64()),
                    answer_id: None,
                    answered_at: None,
                    likelihoods: None,
                });
            }
            Action::QuestionAnswered { question, answer } => {
                let likelihoods = likelihoods(bank, question, answer);
                let open =
                    self.records.iter_mut().rev().find(|record| {
                        &record.question_id == question && record.answer_id.is_none()
                    });
                match open {
                    Some(record) => {
                        record.answer_id = Some(answer.clone());
                        record.answered_at = Some(at);
                        record.likelihoods = likelihoods;
                    }
                    None => self.push(QuestionRecord {
                        question_id: question.clone(),
                        asked_at: None,
                        gain: None,
                        answer_id: Some(answer.clone()),
                        answered_at: Some(at),
                        likelihoods,
                    }),
                }
            }
            _ => {}
        }
    }

    /// Takes in the history of a profile merged into this one.
    pub fn merge(&mut self, other: &QuestionHistory) {
        self.records.extend(other.records.iter().cloned());
        self.records.sort_by_key(QuestionRecord::at);
        self.trim();
        if other.last_activity > self.last_activity {
            self.last_activity = other.last_activity;
            self.visit_started_at = other.visit_started_at;
        }
    }

    /// The phase posterior from the answers alone (uniform prior, Bayes' rule in log space),
    /// for the engine's `Context::answers`; `None` without a usable answer.
    pub fn answers_posterior(&self) -> Option<[f64; 3]> {
        let mut logs = [0.0f64; 3];
        let mut any = false;
        for likelihoods in self.records.iter().filter_map(|record| record.likelihoods) {
            any = true;
            for (log, likelihood) in logs.iter_mut().zip(likelihoods) {
                *log += likelihood.max(1e-9).ln();
            }
        }
        if !any {
            return None;
        }
        let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights = logs.map(|log| (log - max).exp());
        let total: f64 = weights.iter().sum();
        Some(weights.map(|weight| weight / total))
    }

    /// The history as `embudo_ask` reads it (answers by their index in `bank`).
    pub fn asked(&self, bank: &QuestionBank) -> Vec<AskedQuestion> {
        self.records
            .iter()
            .map(|record| AskedQuestion {
                question_id: record.question_id.clone(),
                asked_at: record.at().as_millis().div_euclid(1000),
                answer: record.answer_id.as_ref().and_then(|answer| {
                    let question = &bank.questions()[bank.position(&record.question_id)?];
                    question.answers.iter().position(|a| &a.id == answer)
                }),
            })
            .collect()
    }

    /// When the visit that `now` belongs to started: a new one after 30 minutes of silence.
    pub fn visit_start(&self, now: Timestamp) -> Timestamp {
        match (self.visit_started_at, self.last_activity) {
            (Some(start), Some(last)) if now.as_millis() - last.as_millis() <= VISIT_GAP_MILLIS => {
                start
            }
            _ => now,
        }
    }

    fn push(&mut self, record: QuestionRecord) {
        self.records.push(record);
        self.trim();
    }

    fn trim(&mut self) {
        if self.records.len() > MAX_RECORDS {
            let excess = self.records.len() - MAX_RECORDS;
            self.records.drain(..excess);
        }
    }
}

/// The likelihoods of an answer in a three-phase bank.
fn likelihoods(bank: &QuestionBank, question: &str, answer: &str) -> Option<[f64; 3]> {
    let question = &bank.questions()[bank.position(question)?];
    let answer = question.answers.iter().find(|a| a.id == answer)?;
    match answer.likelihoods.as_slice() {
        [i, ii, iii] => Some([*i, *ii, *iii]),
        _ => None,
    }
}

/// Checks a `Question Answered` event against the bank: a specific reason when its question or
/// answer is missing or unknown.
pub fn check_answer(bank: &QuestionBank, event: &Event) -> Result<(), String> {
    let question_id = event
        .properties
        .get("question_id")
        .and_then(|v| v.as_id())
        .ok_or("properties.question_id: a Question Answered event needs the question's id")?;
    let answer_id = event
        .properties
        .get("answer_id")
        .and_then(|v| v.as_id())
        .ok_or("properties.answer_id: a Question Answered event needs the answer's id")?;
    check_ids(bank, &question_id, &answer_id)
}

/// Checks a question and answer id against the bank.
pub fn check_ids(bank: &QuestionBank, question_id: &str, answer_id: &str) -> Result<(), String> {
    let Some(index) = bank.position(question_id) else {
        let known: Vec<&str> = bank.questions().iter().map(|q| q.id.as_str()).collect();
        return Err(format!(
            "questionId: unknown question {question_id:?} (known: {})",
            known.join(", ")
        ));
    };
    let question = &bank.questions()[index];
    if question.answers.iter().any(|answer| answer.id == answer_id) {
        return Ok(());
    }
    let known: Vec<&str> = question.answers.iter().map(|a| a.id.as_str()).collect();
    Err(format!(
        "answerId: question {question_id:?} has no answer {answer_id:?} (known: {})",
        known.join(", ")
    ))
}
