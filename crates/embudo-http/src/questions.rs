//! Survey questions over HTTP: the next question for a person and their answer (write key,
//! like the tracking API), the embeddable script that shows them, and the admin figures.
//!
//! - `GET /v1/questions/next?anonymousId=…|userId=…&lang=es`: `{"ask": true, "question": …}`
//!   or `{"ask": false, "reason": code, "message": …}`. The write key as the HTTP Basic user
//!   or as `writeKey` in the query (so a browser needs no preflight).
//! - `POST /v1/answers` with `{anonymousId|userId, questionId, answerId}` (and `writeKey` when
//!   not in the header): stored as a `Question Answered` event; `{"success": true}` only after
//!   the commit.
//! - `GET /v1/questions.js`: the script (`static/questions.js`).
//! - `GET /api/v1/questions` (admin token): per question, times asked and answered, answer
//!   rate, answer counts and information value.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use embudo_core::phase::Lang;
use embudo_service::questions::{NextQuestion, Person, QuestionStats, describe_stop, stop_code};
use embudo_store::{KeyKind, WorkspaceId};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::api::Admin;
use crate::error::ApiError;
use crate::tracking::basic_user;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextParams {
    anonymous_id: Option<String>,
    user_id: Option<String>,
    lang: Option<String>,
    write_key: Option<String>,
}

pub async fn next(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<NextParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let workspace = write_workspace(&state, &headers, params.write_key.as_deref()).await?;
    let person = person(params.anonymous_id, params.user_id, "query")?;
    let lang = match params.lang.as_deref() {
        None => Lang::Es,
        Some(text) => Lang::parse(text).ok_or_else(|| {
            ApiError::bad_request("invalid", format!("lang: {text:?} is not es or en"))
        })?,
    };
    let next = state.embudo.next_question(workspace, &person, lang).await?;
    Ok(Json(next_json(&next, lang)))
}

fn next_json(next: &NextQuestion, lang: Lang) -> serde_json::Value {
    let posterior = json!({
        "I": next.posterior[0], "II": next.posterior[1], "III": next.posterior[2]
    });
    match &next.outcome {
        Ok(question) => json!({
            "ask": true,
            "question": {
                "id": question.question_id,
                "text": question.text,
                "answers": question.answers.iter()
                    .map(|(id, text)| json!({ "id": id, "text": text }))
                    .collect::<Vec<_>>(),
                "gain_bits": question.gain,
            },
            "posterior": posterior,
        }),
        Err(reason) => json!({
            "ask": false,
            "reason": stop_code(reason),
            "message": describe_stop(reason, lang),
            "posterior": posterior,
        }),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AnswerBody {
    anonymous_id: Option<String>,
    user_id: Option<String>,
    question_id: Option<String>,
    answer_id: Option<String>,
    write_key: Option<String>,
}

/// The body is read as JSON whatever its content type: the script posts `text/plain` so that
/// browsers send it without a preflight, as the tracker does.
pub async fn answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body: AnswerBody = serde_json::from_slice(&body).map_err(|error| {
        ApiError::bad_request(
            "invalid_json",
            format!("the body is not a valid answer: {error}"),
        )
    })?;
    let workspace = write_workspace(&state, &headers, body.write_key.as_deref()).await?;
    if !state.allow(workspace.0) {
        return Err(ApiError::RateLimited);
    }
    let person = person(body.anonymous_id, body.user_id, "body")?;
    let question_id = body
        .question_id
        .ok_or_else(|| ApiError::bad_request("invalid", "questionId is required"))?;
    let answer_id = body
        .answer_id
        .ok_or_else(|| ApiError::bad_request("invalid", "answerId is required"))?;
    state
        .embudo
        .answer_question(workspace, &person, &question_id, &answer_id)
        .await?;
    Ok(Json(json!({ "success": true })))
}

pub async fn script() -> axum::response::Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/questions.js"),
    )
        .into_response()
}

pub async fn admin_list(
    State(state): State<AppState>,
    Admin(workspace): Admin,
) -> Result<Json<serde_json::Value>, ApiError> {
    let stats = state.embudo.question_stats(workspace).await?;
    Ok(Json(stats_json(&stats)))
}

/// The admin figures as JSON (the CLI prints the same object with `--json`).
pub fn stats_json(stats: &QuestionStats) -> serde_json::Value {
    let questions: Vec<serde_json::Value> = stats
        .questions
        .iter()
        .map(|question| {
            json!({
                "id": question.question_id,
                "text": { "es": question.text.es, "en": question.text.en },
                "asked": question.asked,
                "answered": question.answered,
                "answer_rate": question.answer_rate,
                "answers": question.answers.iter().map(|(id, text, count)| json!({
                    "id": id, "text": { "es": text.es, "en": text.en }, "count": count,
                })).collect::<Vec<_>>(),
                "information_value": {
                    "gain_at_prior_bits": question.gain_at_prior,
                    "mean_gain_when_asked_bits": question.mean_gain_when_asked,
                },
            })
        })
        .collect();
    json!({
        "learned": stats.learned.as_ref().map(|model| json!({
            "version": model.version,
            "built_at": crate::dto::time(model.built_at),
        })),
        "questions": questions,
    })
}

fn person(
    anonymous_id: Option<String>,
    user_id: Option<String>,
    place: &str,
) -> Result<Person, ApiError> {
    let clean = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    match (clean(user_id), clean(anonymous_id)) {
        (Some(user), _) => Ok(Person::User(user)),
        (None, Some(anonymous)) => Ok(Person::Anonymous(anonymous)),
        (None, None) => Err(ApiError::bad_request(
            "invalid",
            format!("the {place} needs anonymousId or userId"),
        )),
    }
}

async fn write_workspace(
    state: &AppState,
    headers: &HeaderMap,
    fallback: Option<&str>,
) -> Result<WorkspaceId, ApiError> {
    let key = basic_user(headers)
        .or_else(|| fallback.map(str::to_owned))
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "no write key: send it as the HTTP Basic user name (empty password) or as writeKey"
                    .to_owned(),
            )
        })?;
    match state.embudo.authenticate(&key).await? {
        Some(principal) if principal.kind == KeyKind::Write => Ok(principal.workspace_id),
        Some(_) => Err(ApiError::Forbidden(
            "this is an admin token; questions and answers take a write key".to_owned(),
        )),
        None => Err(ApiError::Unauthorized(
            "unknown or revoked write key".to_owned(),
        )),
    }
}
