//! The Segment-compatible tracking API: `/v1/identify`, `/track`, `/page`, `/screen`, `/group`,
//! `/alias`, `/batch` and `/import`.
//!
//! The write key comes as the HTTP Basic user (empty password), as Segment's libraries send it,
//! or as `writeKey` in the body. `{"success": true}` is answered only after the accepted events
//! are committed to the log. A batch with some bad messages keeps the good ones and answers 200
//! with every rejected message listed (`rejected`: index, field, reason); a request whose every
//! message is bad answers 400 with the same list.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use base64::Engine;
use embudo_core::EventKind;
use embudo_segment::{Endpoint, Rejection, parse_body};
use embudo_store::KeyKind;
use serde_json::json;

use crate::AppState;
use crate::dto::RejectionDto;
use crate::error::ApiError;

macro_rules! single {
    ($name:ident, $kind:expr) => {
        pub async fn $name(
            State(state): State<AppState>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Result<Json<serde_json::Value>, ApiError> {
            receive(&state, Endpoint::Single($kind), &headers, &body).await
        }
    };
}

single!(identify, EventKind::Identify);
single!(track, EventKind::Track);
single!(page, EventKind::Page);
single!(screen, EventKind::Screen);
single!(group, EventKind::Group);
single!(alias, EventKind::Alias);

pub async fn batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    receive(&state, Endpoint::Batch, &headers, &body).await
}

async fn receive(
    state: &AppState,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Json<serde_json::Value>, ApiError> {
    let started = Instant::now();
    let embudo = &state.embudo;
    let received_at = embudo.now();
    // Authenticate before parsing when the key is in the header.
    let header_key = basic_user(headers);
    let mut workspace = match &header_key {
        Some(key) => Some(write_workspace(state, key).await?),
        None => None,
    };
    let parsed = parse_body(endpoint, body, received_at)?;
    if workspace.is_none() {
        let key = parsed.write_key.as_deref().ok_or_else(|| {
            ApiError::Unauthorized(
                "no write key: send it as the HTTP Basic user name (empty password) or as writeKey in the body"
                    .to_owned(),
            )
        })?;
        workspace = Some(write_workspace(state, key).await?);
    }
    let Some(workspace) = workspace else {
        return Err(ApiError::Unauthorized("no write key".to_owned()));
    };
    if !state.allow(workspace.0) {
        return Err(ApiError::RateLimited);
    }
    let mut rejected: Vec<Rejection> = parsed.rejected;
    metrics::counter!("embudo_ingest_rejected_total").increment(rejected.len() as u64);
    if parsed.events.is_empty() {
        return Err(if rejected.is_empty() {
            ApiError::bad_request("empty_batch", "the batch has no messages")
        } else {
            ApiError::rejected(&rejected)
        });
    }
    let (positions, events): (Vec<usize>, Vec<_>) = parsed.events.into_iter().unzip();
    let receipt = embudo.ingest(workspace, &events).await?;
    for (index, reason) in &receipt.rejected {
        let position = positions[*index];
        rejected.push(Rejection {
            index: matches!(endpoint, Endpoint::Batch).then_some(position),
            message_id: Some(events[*index].message_id.clone()),
            field: "(message)".to_owned(),
            reason: reason.clone(),
        });
    }
    if receipt.inserted + receipt.duplicates == 0 {
        return Err(ApiError::rejected(&rejected));
    }
    rejected.sort_by_key(|rejection| rejection.index);
    metrics::counter!("embudo_ingest_events_total").increment(receipt.inserted as u64);
    metrics::counter!("embudo_ingest_duplicates_total").increment(receipt.duplicates as u64);
    metrics::histogram!("embudo_ingest_seconds").record(started.elapsed().as_secs_f64());
    let mut answer = json!({ "success": true });
    if matches!(endpoint, Endpoint::Batch) || !rejected.is_empty() {
        answer["accepted"] = json!(receipt.inserted + receipt.duplicates);
        answer["duplicates"] = json!(receipt.duplicates);
        answer["rejected"] = json!(rejected.iter().map(RejectionDto::from).collect::<Vec<_>>());
    }
    Ok(Json(answer))
}

async fn write_workspace(
    state: &AppState,
    key: &str,
) -> Result<embudo_store::WorkspaceId, ApiError> {
    match state.embudo.authenticate(key).await? {
        Some(principal) if principal.kind == KeyKind::Write => Ok(principal.workspace_id),
        Some(_) => Err(ApiError::Forbidden(
            "this is an admin token; the tracking API takes a write key".to_owned(),
        )),
        None => Err(ApiError::Unauthorized(
            "unknown or revoked write key".to_owned(),
        )),
    }
}

/// The user name of HTTP Basic authentication (Segment sends the write key there).
pub(crate) fn basic_user(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map_or(text.as_str(), |(user, _)| user);
    (!user.is_empty()).then(|| user.to_owned())
}
