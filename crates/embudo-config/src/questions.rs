//! `[questions]`: when to ask (the policy) and what (the bank, `[[questions.bank]]`).
//!
//! Left out, the bank is `embudo_ask::default_bank()` (Spanish with English translations).
//! A `[[questions.bank]]` list replaces it as a whole: every entry names its id, its texts
//! (`es`, `en`), optionally its cost in bits, and its answers, each with its likelihood in the
//! phases I, II and III (`likelihoods = [I, II, III]`; for every phase the answers of a
//! question sum to 1).

use embudo_ask::{Answer, AskPolicy, PHASES, Question, QuestionBank, Text};
use toml::Spanned;

use crate::error::ConfigError;
use crate::phases::{At, Rule, number};
use crate::raw::{RawQuestion, RawQuestions};

/// The cost (bits) of a configured question that names none, unless `[questions] cost` says.
const DEFAULT_COST: f64 = 0.02;

/// The pseudo-count of learning, unless `[questions] learning_pseudo_count` says.
const DEFAULT_PSEUDO_COUNT: f64 = 20.0;

/// What to ask and when.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionsConfig {
    /// Stopping rules and budgets.
    pub policy: AskPolicy,
    /// The questions about the purchase phases I, II and III.
    pub bank: QuestionBank,
    /// How many pseudo-observations per phase keep learned likelihoods near the bank's
    /// (Dirichlet smoothing, see `embudo_ask::reestimate`).
    pub pseudo_count: f64,
}

impl Default for QuestionsConfig {
    fn default() -> QuestionsConfig {
        QuestionsConfig {
            policy: AskPolicy::default(),
            bank: embudo_ask::default_bank(),
            pseudo_count: DEFAULT_PSEUDO_COUNT,
        }
    }
}

pub(crate) fn questions(raw: RawQuestions, at: &At<'_>) -> Result<QuestionsConfig, ConfigError> {
    let mut config = QuestionsConfig::default();
    let policy = &mut config.policy;
    policy.confidence = number(
        raw.confidence,
        "questions.confidence",
        Rule::Probability,
        policy.confidence,
        at,
    )?;
    policy.min_gain = number(
        raw.min_gain,
        "questions.min_gain",
        Rule::NonNegative,
        policy.min_gain,
        at,
    )?;
    policy.max_per_visit = count(
        raw.max_per_visit,
        "questions.max_per_visit",
        policy.max_per_visit,
        at,
    )?;
    policy.max_per_window = count(
        raw.max_per_30_days,
        "questions.max_per_30_days",
        policy.max_per_window,
        at,
    )?;
    config.pseudo_count = number(
        raw.learning_pseudo_count,
        "questions.learning_pseudo_count",
        Rule::Positive,
        config.pseudo_count,
        at,
    )?;
    let cost_given = raw.cost.is_some();
    let cost = number(
        raw.cost,
        "questions.cost",
        Rule::NonNegative,
        DEFAULT_COST,
        at,
    )?;
    let questions = match raw.bank {
        Some(entries) => {
            let mut questions = Vec::with_capacity(entries.len());
            for entry in entries {
                questions.push(question(entry, cost, &questions, at)?);
            }
            questions
        }
        None => {
            let mut questions = config.bank.questions().to_vec();
            if cost_given {
                for question in &mut questions {
                    question.cost = cost;
                }
            }
            questions
        }
    };
    let classes = PHASES.iter().map(|&phase| phase.to_owned()).collect();
    // Every check `QuestionBank::new` makes was made above with the entry's span; this one
    // reports what is left (no entry can reach it) at the start of the file.
    config.bank = QuestionBank::new(classes, questions)
        .map_err(|error| at(0..0, format!("questions.bank: {error}")))?;
    Ok(config)
}

fn count(
    value: Option<Spanned<i64>>,
    key: &str,
    default: usize,
    at: &At<'_>,
) -> Result<usize, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    usize::try_from(*value.get_ref()).map_err(|_| {
        at(
            value.span(),
            format!("{key} must be 0 or more, got {}", value.get_ref()),
        )
    })
}

/// One `[[questions.bank]]` entry, checked with the spans of its fields.
fn question(
    entry: Spanned<RawQuestion>,
    default_cost: f64,
    earlier: &[Question],
    at: &At<'_>,
) -> Result<Question, ConfigError> {
    let entry = entry.into_inner();
    let id = entry.id.get_ref().trim().to_owned();
    let name = format!("questions.bank {id:?}");
    if id.is_empty() {
        return Err(at(
            entry.id.span(),
            "questions.bank: a question's id must not be empty".to_owned(),
        ));
    }
    if earlier.iter().any(|question| question.id == id) {
        return Err(at(entry.id.span(), format!("{name}: the id is used twice")));
    }
    let text = texts(&entry.es, &entry.en, &name, at)?;
    let cost = number(
        entry.cost,
        &format!("{name}.cost"),
        Rule::NonNegative,
        default_cost,
        at,
    )?;
    let answers_span = entry.answers.span();
    let raw_answers = entry.answers.into_inner();
    if raw_answers.len() < 2 {
        return Err(at(
            answers_span,
            format!(
                "{name}: a question needs at least two answers, got {}",
                raw_answers.len()
            ),
        ));
    }
    let mut answers: Vec<Answer> = Vec::with_capacity(raw_answers.len());
    for raw in raw_answers {
        let raw = raw.into_inner();
        let answer_id = raw.id.get_ref().trim().to_owned();
        let answer_name = format!("{name} answer {answer_id:?}");
        if answer_id.is_empty() {
            return Err(at(
                raw.id.span(),
                format!("{name}: an answer's id must not be empty"),
            ));
        }
        if answers.iter().any(|answer| answer.id == answer_id) {
            return Err(at(
                raw.id.span(),
                format!("{answer_name}: the id is used twice"),
            ));
        }
        let text = texts(&raw.es, &raw.en, &answer_name, at)?;
        let span = raw.likelihoods.span();
        let likelihoods = raw.likelihoods.into_inner();
        if likelihoods.len() != PHASES.len()
            || likelihoods
                .iter()
                .any(|l| !(l.is_finite() && (0.0..=1.0).contains(l)))
        {
            return Err(at(
                span,
                format!(
                    "{answer_name}: likelihoods must be three numbers between 0 and 1 [I, II, III], got {likelihoods:?}"
                ),
            ));
        }
        answers.push(Answer {
            id: answer_id,
            text,
            likelihoods,
        });
    }
    for (phase_idx, phase) in PHASES.iter().enumerate() {
        let sum: f64 = answers
            .iter()
            .map(|answer| answer.likelihoods[phase_idx])
            .sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(at(
                answers_span,
                format!("{name}: the answers' likelihoods in phase {phase} sum to {sum}, not 1"),
            ));
        }
    }
    Ok(Question {
        id,
        text,
        answers,
        cost,
    })
}

fn texts(
    es: &Spanned<String>,
    en: &Spanned<String>,
    name: &str,
    at: &At<'_>,
) -> Result<Text, ConfigError> {
    for (text, lang) in [(es, "es"), (en, "en")] {
        if text.get_ref().trim().is_empty() {
            return Err(at(text.span(), format!("{name}.{lang} must not be empty")));
        }
    }
    Ok(Text::new(es.get_ref().trim(), en.get_ref().trim()))
}
