//! Survey questions: ask as little as possible.
//!
//! [`Embudo::next_question`] takes a person's phase posterior from the engine (behaviour and
//! the answers processed so far), their question history (budgets per visit and per 30 days,
//! unanswered questions count) and the workspace's bank, and returns the question with the
//! largest expected information gain net of its cost, or why it asks nothing
//! (`embudo_ask::next_question`). A question asked is recorded as a `Question Asked` track event
//! through the normal ingest path, so budgets survive restarts; an answer is a
//! `Question Answered` event ([`Embudo::answer_question`], or any `track` call), checked against
//! the bank, which processing folds into the phase posterior at once.
//!
//! [`Embudo::learn_questions`] re-estimates the answer likelihoods from the shop's answers and
//! the phase each person reached by behaviour, smoothed toward the configured bank, and saves
//! them as the model of kind [`MODEL_KIND`]; the newest one is the bank used from then on.
//! [`Embudo::question_stats`] counts, per question, how often it was asked and answered.

mod history;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use embudo_ask::{Decision, Observation, QuestionBank, StopReason, Text};
use embudo_core::phase::{Lang, PhaseState};
use embudo_core::{Event, EventKind, Map, Timestamp, Value};
use embudo_store::{
    IdentityKind, LoggedEvent, ModelInfo, NewModel, ProfileFilter, ProfileId, ProfileRecord,
    WorkspaceId,
};

use crate::predict::Scores;
use crate::process::{EngineState, evaluate_at, new_profile};
use crate::{Embudo, IngestReceipt, Result, ServiceError};

pub use history::{
    QUESTION_ANSWERED, QUESTION_ASKED, QuestionHistory, QuestionRecord, check_answer, check_ids,
};

/// The model kind of learned question banks.
pub const MODEL_KIND: &str = "questions";

/// Who is asked: the shop's anonymous id (the tracker's) or its user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Person {
    Anonymous(String),
    User(String),
}

impl Person {
    fn kind(&self) -> IdentityKind {
        match self {
            Person::Anonymous(_) => IdentityKind::Anonymous,
            Person::User(_) => IdentityKind::User,
        }
    }

    fn value(&self) -> &str {
        match self {
            Person::Anonymous(value) | Person::User(value) => value,
        }
    }
}

/// A question to show, in one language.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionToAsk {
    pub question_id: String,
    pub text: String,
    /// (answer id, text), in the bank's order.
    pub answers: Vec<(String, String)>,
    /// Expected information gain about the phase, in bits.
    pub gain: f64,
}

/// What [`Embudo::next_question`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct NextQuestion {
    /// The person's profile, `None` for someone embudo has not seen yet.
    pub profile_id: Option<ProfileId>,
    /// P(I), P(II), P(III) the choice was made on.
    pub posterior: [f64; 3],
    /// The question to show, or why nothing is asked.
    pub outcome: Result<QuestionToAsk, StopReason>,
}

/// A stable code for why nothing is asked.
pub fn stop_code(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::Confident { .. } => "confident",
        StopReason::VisitBudgetSpent => "visit_budget_spent",
        StopReason::WindowBudgetSpent => "window_budget_spent",
        StopReason::NothingGainsEnough { .. } => "nothing_gains_enough",
        StopReason::NoQuestionLeft => "no_question_left",
    }
}

/// Why nothing is asked, in words.
pub fn describe_stop(reason: &StopReason, lang: Lang) -> String {
    match (reason, lang) {
        (StopReason::Confident { class, probability }, Lang::Es) => format!(
            "la fase {} ya es segura al {:.0} %",
            phase_name(*class),
            probability * 100.0
        ),
        (StopReason::Confident { class, probability }, Lang::En) => format!(
            "phase {} is already {:.0} % certain",
            phase_name(*class),
            probability * 100.0
        ),
        (StopReason::VisitBudgetSpent, Lang::Es) => "ya se le preguntó en esta visita".to_owned(),
        (StopReason::VisitBudgetSpent, Lang::En) => "already asked during this visit".to_owned(),
        (StopReason::WindowBudgetSpent, Lang::Es) => {
            "ya se le preguntó lo permitido en 30 días".to_owned()
        }
        (StopReason::WindowBudgetSpent, Lang::En) => {
            "the 30-day question budget is spent".to_owned()
        }
        (StopReason::NothingGainsEnough { best_net_gain }, Lang::Es) => {
            format!("ninguna pregunta aclara bastante (la mejor, {best_net_gain:.3} bits netos)")
        }
        (StopReason::NothingGainsEnough { best_net_gain }, Lang::En) => {
            format!("no question gains enough (the best, {best_net_gain:.3} net bits)")
        }
        (StopReason::NoQuestionLeft, Lang::Es) => {
            "ya se le hicieron todas las preguntas en 30 días".to_owned()
        }
        (StopReason::NoQuestionLeft, Lang::En) => {
            "every question was asked within 30 days".to_owned()
        }
    }
}

fn phase_name(class: usize) -> &'static str {
    embudo_ask::PHASES.get(class).copied().unwrap_or("?")
}

/// One question's figures for the admin API and the CLI.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionStat {
    pub question_id: String,
    pub text: Text,
    pub asked: u64,
    /// Answers received (including ones to questions embudo did not ask).
    pub answered: u64,
    /// Of the questions embudo asked, the share answered; `None` before the first.
    pub answer_rate: Option<f64>,
    /// (answer id, text, times given).
    pub answers: Vec<(String, Text, u64)>,
    /// Expected information gain at the prior (a person embudo knows nothing about), bits.
    pub gain_at_prior: f64,
    /// Average expected gain when it was asked, bits; `None` before the first.
    pub mean_gain_when_asked: Option<f64>,
}

/// The question figures of a workspace, and which bank they are about.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionStats {
    /// The learned model in use, `None` when the configured bank is.
    pub learned: Option<ModelInfo>,
    pub questions: Vec<QuestionStat>,
}

impl Embudo {
    /// The bank in use for a workspace: the configured one, with the newest learned
    /// likelihoods laid over it for every question and answer both still know.
    pub async fn question_bank(&self, workspace: WorkspaceId) -> Result<QuestionBank> {
        Ok(self.learned_bank(workspace).await?.0)
    }

    async fn learned_bank(
        &self,
        workspace: WorkspaceId,
    ) -> Result<(QuestionBank, Option<ModelInfo>)> {
        let configured = &self.inner.settings.questions.bank;
        let Some(model) = self.inner.store.model(workspace, MODEL_KIND).await? else {
            return Ok((configured.clone(), None));
        };
        match apply_learned(configured, &model.payload) {
            Ok(bank) => Ok((bank, Some(model.info))),
            Err(error) => {
                tracing::warn!(%workspace, version = model.info.version, %error, "learned question bank unusable; using the configured one");
                Ok((configured.clone(), None))
            }
        }
    }

    /// Chooses the next question for a person, or says why none. An unknown person gets the
    /// prior. A question chosen is recorded at once as a `Question Asked` event (one per
    /// person, question and day, so a repeated call before processing stores it once).
    #[tracing::instrument(skip_all, fields(workspace_id = %workspace))]
    pub async fn next_question(
        &self,
        workspace: WorkspaceId,
        person: &Person,
        lang: Lang,
    ) -> Result<NextQuestion> {
        let value = person.value().trim();
        if value.is_empty() {
            return Err(ServiceError::Invalid(
                "anonymousId or userId must not be empty".to_owned(),
            ));
        }
        let now = self.now();
        let record = self
            .inner
            .store
            .profile_by_identity(workspace, person.kind(), value)
            .await?;
        let (state, questions, scores, record) = match record {
            Some(record) => {
                let stored = EngineState::of(&record);
                let scores = stored.scores.unwrap_or_default();
                (
                    stored.phase.unwrap_or_default(),
                    stored.questions,
                    scores,
                    record,
                )
            }
            None => (
                PhaseState::default(),
                QuestionHistory::default(),
                Scores::default(),
                new_profile(workspace, ProfileId(0), now, now),
            ),
        };
        let profile_id = (record.id.0 != 0).then_some(record.id);
        let classification = evaluate_at(
            &self.inner.settings,
            &state,
            &questions,
            &scores,
            &record,
            now,
        );
        let posterior = classification.probabilities;
        let bank = self.question_bank(workspace).await?;
        let decision = embudo_ask::next_question(
            &bank,
            &posterior,
            &questions.asked(&bank),
            questions.visit_start(now).as_millis().div_euclid(1000),
            now.as_millis().div_euclid(1000),
            &self.inner.settings.questions.policy,
        );
        let (index, gain) = match decision {
            Decision::Stop(reason) => {
                return Ok(NextQuestion {
                    profile_id,
                    posterior,
                    outcome: Err(reason),
                });
            }
            Decision::Ask { question, gain } => (question, gain),
        };
        let question = &bank.questions()[index];
        let day = now
            .as_millis()
            .div_euclid(embudo_core::time::MILLIS_PER_DAY);
        let message_id = format!(
            "question-asked:{}:{}:{}:{day}",
            identity_tag(person),
            value,
            question.id
        );
        let event = question_event(
            person,
            value,
            message_id,
            QUESTION_ASKED,
            [
                ("question_id", Value::from(question.id.as_str())),
                ("gain", Value::Number(gain)),
            ],
            now,
        );
        self.ingest(workspace, &[event]).await?;
        Ok(NextQuestion {
            profile_id,
            posterior,
            outcome: Ok(QuestionToAsk {
                question_id: question.id.clone(),
                text: pick(&question.text, lang).to_owned(),
                answers: question
                    .answers
                    .iter()
                    .map(|answer| (answer.id.clone(), pick(&answer.text, lang).to_owned()))
                    .collect(),
                gain,
            }),
        })
    }

    /// Stores an answer as a `Question Answered` event (after checking it against the bank),
    /// durably: it returns after the commit. Processing folds it into the phase posterior.
    #[tracing::instrument(skip_all, fields(workspace_id = %workspace))]
    pub async fn answer_question(
        &self,
        workspace: WorkspaceId,
        person: &Person,
        question_id: &str,
        answer_id: &str,
    ) -> Result<IngestReceipt> {
        let value = person.value().trim();
        if value.is_empty() {
            return Err(ServiceError::Invalid(
                "anonymousId or userId must not be empty".to_owned(),
            ));
        }
        let (question_id, answer_id) = (question_id.trim(), answer_id.trim());
        check_ids(&self.inner.settings.questions.bank, question_id, answer_id)
            .map_err(ServiceError::Invalid)?;
        let now = self.now();
        let message_id = format!(
            "question-answered:{}:{value}:{question_id}:{answer_id}:{}",
            identity_tag(person),
            now.as_millis()
        );
        let event = question_event(
            person,
            value,
            message_id,
            QUESTION_ANSWERED,
            [
                ("question_id", Value::from(question_id)),
                ("answer_id", Value::from(answer_id)),
            ],
            now,
        );
        self.ingest(workspace, &[event]).await
    }

    /// Re-estimates the answer likelihoods from every answer of the workspace and the phase
    /// its person reached by behaviour (orders make III), smoothed toward the configured bank
    /// (`[questions] learning_pseudo_count`), and saves them as a new model of kind
    /// [`MODEL_KIND`]. The scheduler calls this.
    #[tracing::instrument(skip_all, fields(workspace_id = %workspace))]
    pub async fn learn_questions(&self, workspace: WorkspaceId) -> Result<ModelInfo> {
        let settings = &self.inner.settings;
        let configured = &settings.questions.bank;
        let now = self.now();
        let mut observations = Vec::new();
        let no_answers = QuestionHistory::default();
        self.for_each_profile(workspace, |record, engine| {
            let state = engine.phase.clone().unwrap_or_default();
            let scores = engine.scores.clone().unwrap_or_default();
            let mut outcome = None;
            for answered in &engine.questions.records {
                let Some(answer_id) = &answered.answer_id else {
                    continue;
                };
                let Some(question) = configured.position(&answered.question_id) else {
                    continue;
                };
                let Some(answer) = configured.questions()[question]
                    .answers
                    .iter()
                    .position(|a| &a.id == answer_id)
                else {
                    continue;
                };
                // The outcome by behaviour alone, so that answers do not confirm themselves.
                let class = *outcome.get_or_insert_with(|| {
                    evaluate_at(settings, &state, &no_answers, &scores, record, now)
                        .phase
                        .index()
                });
                observations.push(Observation {
                    question,
                    answer,
                    class,
                });
            }
        })
        .await?;
        let learned =
            embudo_ask::reestimate(configured, &observations, settings.questions.pseudo_count)
                .map_err(|error| ServiceError::Invalid(format!("learning questions: {error}")))?;
        let prior = self.prior_posterior(workspace);
        let report = learn_report(
            &learned,
            &observations,
            settings.questions.pseudo_count,
            &prior,
        );
        let payload = learned_payload(&learned);
        let info = self
            .inner
            .store
            .save_model(
                workspace,
                &NewModel {
                    kind: MODEL_KIND.to_owned(),
                    built_at: now,
                    report: report.to_string(),
                    payload: payload.to_string().into_bytes(),
                },
            )
            .await?;
        tracing::info!(
            observations = observations.len(),
            version = info.version,
            "question bank learned"
        );
        Ok(info)
    }

    /// Per question of the bank in use: times asked, answered, answer rate, answer counts and
    /// information value.
    #[tracing::instrument(skip_all, fields(workspace_id = %workspace))]
    pub async fn question_stats(&self, workspace: WorkspaceId) -> Result<QuestionStats> {
        let (bank, learned) = self.learned_bank(workspace).await?;
        let prior = self.prior_posterior(workspace);
        let mut stats: Vec<QuestionStat> = bank
            .questions()
            .iter()
            .map(|question| QuestionStat {
                question_id: question.id.clone(),
                text: question.text.clone(),
                asked: 0,
                answered: 0,
                answer_rate: None,
                answers: question
                    .answers
                    .iter()
                    .map(|answer| (answer.id.clone(), answer.text.clone(), 0))
                    .collect(),
                gain_at_prior: embudo_ask::expected_information_gain(&prior, question),
                mean_gain_when_asked: None,
            })
            .collect();
        let mut asked_answered = vec![0u64; stats.len()];
        let mut gains = vec![(0.0f64, 0u64); stats.len()];
        self.for_each_profile(workspace, |_, engine| {
            for record in &engine.questions.records {
                let Some(index) = bank.position(&record.question_id) else {
                    continue;
                };
                let stat = &mut stats[index];
                if record.asked_at.is_some() {
                    stat.asked += 1;
                    if record.answer_id.is_some() {
                        asked_answered[index] += 1;
                    }
                }
                if let Some(gain) = record.gain {
                    gains[index].0 += gain;
                    gains[index].1 += 1;
                }
                if let Some(answer) = &record.answer_id {
                    stat.answered += 1;
                    if let Some(slot) = stat.answers.iter_mut().find(|(id, _, _)| id == answer) {
                        slot.2 += 1;
                    }
                }
            }
        })
        .await?;
        for (index, stat) in stats.iter_mut().enumerate() {
            stat.answer_rate =
                (stat.asked > 0).then(|| asked_answered[index] as f64 / stat.asked as f64);
            let (sum, n) = gains[index];
            stat.mean_gain_when_asked = (n > 0).then(|| sum / n as f64);
        }
        Ok(QuestionStats {
            learned,
            questions: stats,
        })
    }

    /// The posterior of a person embudo knows nothing about.
    fn prior_posterior(&self, workspace: WorkspaceId) -> [f64; 3] {
        let now = self.now();
        evaluate_at(
            &self.inner.settings,
            &PhaseState::default(),
            &QuestionHistory::default(),
            &Scores::default(),
            &new_profile(workspace, ProfileId(0), now, now),
            now,
        )
        .probabilities
    }

    /// Calls `visit` with every live profile of the workspace that has a question history.
    async fn for_each_profile(
        &self,
        workspace: WorkspaceId,
        mut visit: impl FnMut(&ProfileRecord, &EngineState),
    ) -> Result<()> {
        let mut filter = ProfileFilter {
            limit: 1000,
            ..ProfileFilter::default()
        };
        loop {
            let page = self.inner.store.list_profiles(workspace, &filter).await?;
            for record in &page.items {
                let engine = EngineState::of(record);
                if !engine.questions.is_empty() {
                    visit(record, &engine);
                }
            }
            match page.next {
                Some(next) => filter.after = Some(next),
                None => return Ok(()),
            }
        }
    }
}

/// The bank a processing step reads answers with: the workspace's learned one when the step
/// has question events (one store read), else the configured one.
pub(crate) async fn bank_for_step(
    embudo: &Embudo,
    workspace: WorkspaceId,
    events: &[&LoggedEvent],
) -> Result<Arc<QuestionBank>> {
    let has_answers = events.iter().any(|logged| {
        logged.event.kind == EventKind::Track
            && logged.event.name.as_deref() == Some(QUESTION_ANSWERED)
    });
    if has_answers {
        Ok(Arc::new(embudo.question_bank(workspace).await?))
    } else {
        Ok(Arc::new(embudo.inner.settings.questions.bank.clone()))
    }
}

fn pick(text: &Text, lang: Lang) -> &str {
    match lang {
        Lang::Es => &text.es,
        Lang::En => &text.en,
    }
}

fn identity_tag(person: &Person) -> &'static str {
    match person {
        Person::Anonymous(_) => "anonymous",
        Person::User(_) => "user",
    }
}

fn question_event<const N: usize>(
    person: &Person,
    value: &str,
    message_id: String,
    name: &str,
    properties: [(&str, Value); N],
    now: Timestamp,
) -> Event {
    let (anonymous_id, user_id) = match person {
        Person::Anonymous(_) => (Some(embudo_core::Text::from(value)), None),
        Person::User(_) => (None, Some(embudo_core::Text::from(value))),
    };
    Event {
        message_id,
        kind: EventKind::Track,
        name: Some(embudo_core::Text::from(name)),
        anonymous_id,
        user_id,
        previous_id: None,
        group_id: None,
        timestamp: now,
        received_at: now,
        properties: Value::Map(
            properties
                .into_iter()
                .map(|(key, value)| (key.into(), value))
                .collect(),
        ),
        traits: Value::Map(Map::default()),
        context: Value::Map(Map::default()),
    }
}

/// The learned likelihoods as stored: `{question: {answer: [I, II, III]}}`.
fn learned_payload(bank: &QuestionBank) -> serde_json::Value {
    let questions: serde_json::Map<String, serde_json::Value> = bank
        .questions()
        .iter()
        .map(|question| {
            let answers: serde_json::Map<String, serde_json::Value> = question
                .answers
                .iter()
                .map(|answer| (answer.id.clone(), serde_json::json!(answer.likelihoods)))
                .collect();
            (question.id.clone(), serde_json::Value::Object(answers))
        })
        .collect();
    serde_json::json!({ "version": 1, "likelihoods": questions })
}

/// The configured bank with the learned likelihoods of every question whose answers are
/// still exactly the learned ones (a question changed in the config since keeps its own).
fn apply_learned(configured: &QuestionBank, payload: &[u8]) -> Result<QuestionBank, String> {
    let payload: serde_json::Value =
        serde_json::from_slice(payload).map_err(|error| error.to_string())?;
    let learned = payload
        .get("likelihoods")
        .and_then(serde_json::Value::as_object)
        .ok_or("no likelihoods in the payload")?;
    let mut questions = configured.questions().to_vec();
    for question in &mut questions {
        let Some(answers) = learned.get(&question.id).and_then(|a| a.as_object()) else {
            continue;
        };
        if answers.len() != question.answers.len() {
            continue;
        }
        let parsed: Option<Vec<Vec<f64>>> = question
            .answers
            .iter()
            .map(|answer| {
                let values = answers.get(&answer.id)?.as_array()?;
                values.iter().map(serde_json::Value::as_f64).collect()
            })
            .collect();
        let Some(parsed) = parsed else { continue };
        for (answer, likelihoods) in question.answers.iter_mut().zip(parsed) {
            answer.likelihoods = likelihoods;
        }
    }
    QuestionBank::new(configured.classes().to_vec(), questions).map_err(|error| error.to_string())
}

fn learn_report(
    learned: &QuestionBank,
    observations: &[Observation],
    pseudo_count: f64,
    prior: &[f64; 3],
) -> serde_json::Value {
    let questions: Vec<serde_json::Value> = learned
        .questions()
        .iter()
        .enumerate()
        .map(|(question_idx, question)| {
            let answers: Vec<serde_json::Value> = question
                .answers
                .iter()
                .enumerate()
                .map(|(answer_idx, answer)| {
                    let mut by_phase = [0u64; 3];
                    for observation in observations
                        .iter()
                        .filter(|o| o.question == question_idx && o.answer == answer_idx)
                    {
                        if let Some(slot) = by_phase.get_mut(observation.class) {
                            *slot += 1;
                        }
                    }
                    serde_json::json!({
                        "answer_id": answer.id,
                        "n_by_phase": by_phase,
                        "likelihoods": answer.likelihoods,
                    })
                })
                .collect();
            serde_json::json!({
                "question_id": question.id,
                "n_answers": observations.iter().filter(|o| o.question == question_idx).count(),
                "gain_at_prior": embudo_ask::expected_information_gain(prior, question),
                "answers": answers,
            })
        })
        .collect();
    serde_json::json!({
        "observations": observations.len(),
        "pseudo_count": pseudo_count,
        "questions": questions,
    })
}
