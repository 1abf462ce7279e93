//! Model reports under `/api/v1/models`: what was trained, on what data, how well, and when.

use axum::Json;
use axum::extract::{Path, State};
use embudo_store::ModelInfo;
use serde_json::json;

use crate::AppState;
use crate::api::Admin;
use crate::dto;
use crate::error::ApiError;

/// `GET /api/v1/models`: every stored model version, by kind, newest first.
pub async fn list_models(
    State(state): State<AppState>,
    Admin(workspace): Admin,
) -> Result<Json<serde_json::Value>, ApiError> {
    let models = state.embudo.model_reports(workspace).await?;
    Ok(Json(
        json!({ "items": models.iter().map(model).collect::<Vec<_>>() }),
    ))
}

/// `GET /api/v1/models/{kind}`: the newest model of a kind.
pub async fn model_of_kind(
    State(state): State<AppState>,
    Admin(workspace): Admin,
    Path(kind): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let found = state
        .embudo
        .model_report(workspace, &kind)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no {kind} model yet (train one with `embudo train {kind}`)"
            ))
        })?;
    Ok(Json(model(&found)))
}

fn model(info: &ModelInfo) -> serde_json::Value {
    // The report is JSON written by the service; anything else is shown as text.
    let report = serde_json::from_str::<serde_json::Value>(&info.report)
        .unwrap_or_else(|_| json!(info.report));
    json!({
        "kind": info.kind,
        "version": info.version,
        "built_at": dto::time(info.built_at),
        "size": info.size,
        "report": report,
    })
}
