//! The management API under `/api/v1`, for admin tokens (`Authorization: Bearer …`).

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use embudo_store::{
    Direction, IdentityKind, KeyKind, PageCursor, ProfileFilter, ProfileId, SortField, WorkspaceId,
};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::dto;
use crate::error::ApiError;

/// An authenticated admin of one workspace.
pub struct Admin(pub WorkspaceId);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Admin, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "send the admin token as `Authorization: Bearer <token>`".to_owned(),
                )
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "the Authorization header must be `Bearer <admin token>`".to_owned(),
                )
            })?;
        match state.embudo.authenticate(token.trim()).await? {
            Some(principal) if principal.kind == KeyKind::Admin => {
                Ok(Admin(principal.workspace_id))
            }
            Some(_) => Err(ApiError::Forbidden(
                "a write key can only send events; use an admin token".to_owned(),
            )),
            None => Err(ApiError::Unauthorized(
                "unknown or revoked admin token".to_owned(),
            )),
        }
    }
}

/// The OpenAPI document of this API.
pub async fn openapi() -> axum::response::Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("../openapi.json"),
    )
        .into_response()
}

use axum::response::IntoResponse;

pub async fn workspace(
    State(state): State<AppState>,
    Admin(workspace): Admin,
) -> Result<Json<serde_json::Value>, ApiError> {
    let found = state
        .embudo
        .store()
        .workspace(workspace)
        .await
        .map_err(embudo_service::ServiceError::from)?
        .ok_or_else(|| ApiError::NotFound(format!("workspace {workspace}")))?;
    Ok(Json(
        json!({ "id": found.id.0, "name": found.name, "created_at": dto::time(found.created_at) }),
    ))
}

/// Query of `GET /api/v1/profiles`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    user_id: Option<String>,
    anonymous_id: Option<String>,
    email: Option<String>,
    phase: Option<String>,
    substate: Option<String>,
    stage: Option<String>,
    audience: Option<String>,
    sort: Option<String>,
    direction: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

/// Lists profiles, or looks one up by `user_id`, `anonymous_id` or `email` (then the page has
/// at most one item).
pub async fn list_profiles(
    State(state): State<AppState>,
    Admin(workspace): Admin,
    Query(query): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let lookup = [
        (IdentityKind::User, &query.user_id),
        (IdentityKind::Anonymous, &query.anonymous_id),
        (IdentityKind::Email, &query.email),
    ];
    if let Some((kind, Some(value))) = lookup.iter().find(|(_, value)| value.is_some()) {
        let found = state
            .embudo
            .profile_by_identity(workspace, *kind, value)
            .await?;
        let items: Vec<_> = found.iter().map(dto::profile).collect();
        return Ok(Json(json!({ "items": items, "next": null })));
    }
    let sort = match query.sort.as_deref() {
        None | Some("last_seen") => SortField::LastSeen,
        Some("intent") => SortField::Intent,
        Some("p_alive") => SortField::PAlive,
        Some("clv") => SortField::Clv,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("sort={other:?} is not one of last_seen, intent, p_alive, clv"),
            ));
        }
    };
    let direction = match query.direction.as_deref() {
        None | Some("desc") => Direction::Desc,
        Some("asc") => Direction::Asc,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("direction={other:?} is not asc or desc"),
            ));
        }
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit={limit} is not between 1 and 1000"),
        ));
    }
    let filter = ProfileFilter {
        phase: query.phase,
        substate: query.substate,
        stage: query.stage,
        audience: query.audience,
        sort,
        direction,
        after: query.after.map(PageCursor),
        limit,
    };
    let page = state.embudo.list_profiles(workspace, &filter).await?;
    Ok(Json(json!({
        "items": page.items.iter().map(dto::profile).collect::<Vec<_>>(),
        "next": page.next.map(|cursor| cursor.0),
    })))
}

pub async fn profile(
    State(state): State<AppState>,
    Admin(workspace): Admin,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let record = state
        .embudo
        .profile(workspace, ProfileId(id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("profile {id}")))?;
    Ok(Json(dto::profile(&record)))
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

pub async fn profile_events(
    State(state): State<AppState>,
    Admin(workspace): Admin,
    Path(id): Path<i64>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_profile(&state, workspace, id).await?;
    let events = state
        .embudo
        .profile_events(
            workspace,
            ProfileId(id),
            query.before,
            query.limit.unwrap_or(50),
        )
        .await?;
    let next = events.last().map(|last| last.seq);
    Ok(Json(
        json!({ "items": events.iter().map(dto::event).collect::<Vec<_>>(), "next_before": next }),
    ))
}

pub async fn profile_orders(
    State(state): State<AppState>,
    Admin(workspace): Admin,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_profile(&state, workspace, id).await?;
    let orders = state
        .embudo
        .profile_orders(workspace, ProfileId(id))
        .await?;
    Ok(Json(
        json!({ "items": orders.iter().map(dto::order).collect::<Vec<_>>() }),
    ))
}

pub async fn profile_transitions(
    State(state): State<AppState>,
    Admin(workspace): Admin,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_profile(&state, workspace, id).await?;
    let transitions = state.embudo.transitions(workspace, ProfileId(id)).await?;
    Ok(Json(
        json!({ "items": transitions.iter().map(dto::transition).collect::<Vec<_>>() }),
    ))
}

pub async fn phase_summary(
    State(state): State<AppState>,
    Admin(workspace): Admin,
) -> Result<Json<serde_json::Value>, ApiError> {
    let counts = state.embudo.phase_counts(workspace).await?;
    let items: Vec<_> = counts
        .iter()
        .map(|count| json!({ "phase": count.phase, "substate": count.substate, "stage": count.stage, "count": count.count }))
        .collect();
    let total: u64 = counts.iter().map(|count| count.count).sum();
    Ok(Json(json!({ "total": total, "items": items })))
}

async fn require_profile(
    state: &AppState,
    workspace: WorkspaceId,
    id: i64,
) -> Result<(), ApiError> {
    match state.embudo.profile(workspace, ProfileId(id)).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound(format!("profile {id}"))),
    }
}

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

/// A profile's purchase phase (probabilities, evidence, since when), sub-state and stage.
pub async fn profile_phase(
    State(state): State<AppState>,
    Admin(workspace): Admin,
    Path(id): Path<i64>,
    Query(query): Query<LangQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let lang = match query.lang.as_deref() {
        None => embudo_core::phase::Lang::Es,
        Some(text) => embudo_core::phase::Lang::parse(text).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("lang={text:?} is not es or en"))
        })?,
    };
    let view = state
        .embudo
        .phase(workspace, ProfileId(id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("profile {id}")))?;
    Ok(Json(dto::phase(&view, lang)))
}
