//! Cross-sell, seasons and reorder timing under `/api/v1`, for admin tokens:
//! `GET /api/v1/profiles/{id}/recommendations`, `GET /api/v1/products/{id}` and
//! `GET /api/v1/products`.

use axum::Json;
use axum::extract::{Path, Query, State};
use embudo_core::phase::Lang;
use embudo_service::recommend::{
    ExpectedOrder, ProductRef, ProductSort, ProductView, ProfileRecommendations,
};
use embudo_store::ProfileId;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::api::Admin;
use crate::dto;
use crate::error::ApiError;

/// Query of `GET /api/v1/profiles/{id}/recommendations`.
#[derive(Debug, Deserialize)]
pub struct RecommendationsQuery {
    limit: Option<usize>,
    lang: Option<String>,
}

/// A person's recommendations, expected next order and reorder suggestions.
pub async fn profile_recommendations(
    State(state): State<AppState>,
    Admin(workspace): Admin,
    Path(id): Path<i64>,
    Query(query): Query<RecommendationsQuery>,
) -> Result<Json<Value>, ApiError> {
    let lang = match query.lang.as_deref() {
        None => Lang::Es,
        Some(text) => Lang::parse(text).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("lang={text:?} is not es or en"))
        })?,
    };
    let answer = state
        .embudo
        .recommendations(workspace, ProfileId(id), query.limit, lang)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("profile {id}")))?;
    Ok(Json(recommendations(&answer)))
}

/// Query of `GET /api/v1/products`.
#[derive(Debug, Deserialize)]
pub struct ProductsQuery {
    sort: Option<String>,
    limit: Option<usize>,
}

/// The top products with their season and reorder interval.
pub async fn products(
    State(state): State<AppState>,
    Admin(workspace): Admin,
    Query(query): Query<ProductsQuery>,
) -> Result<Json<Value>, ApiError> {
    let sort = match query.sort.as_deref() {
        None => ProductSort::Customers,
        Some(text) => ProductSort::parse(text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("sort={text:?} is not one of {}", ProductSort::NAMES),
            )
        })?,
    };
    let views = state
        .embudo
        .products(workspace, sort, query.limit.unwrap_or(20))
        .await?;
    Ok(Json(json!({
        "items": views.iter().map(product).collect::<Vec<_>>(),
    })))
}

/// A product's page: associations, season, reorder interval.
pub async fn product_page(
    State(state): State<AppState>,
    Admin(workspace): Admin,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let view =
        state.embudo.product(workspace, &id).await?.ok_or_else(|| {
            ApiError::NotFound(format!("product {id:?} (not in the newest model)"))
        })?;
    Ok(Json(product(&view)))
}

fn product_ref(product: &ProductRef) -> Value {
    json!({ "id": product.id, "name": product.name, "category": product.category })
}

fn expected(order: &ExpectedOrder) -> Value {
    json!({
        "last_at": dto::time(order.last_at),
        "expected_at": dto::time(order.expected_at),
        "interval_days": order.interval_days,
        "own_intervals": order.own_intervals,
    })
}

fn recommendations(answer: &ProfileRecommendations) -> Value {
    json!({
        "profile_id": answer.profile_id.0,
        "model": { "version": answer.model_version, "built_at": dto::time(answer.model_built_at) },
        "items": answer.items.iter().map(|item| json!({
            "product": product_ref(&item.product),
            "score": item.score,
            "reason": {
                "kind": item.reason.kind,
                "text": item.reason.text,
                "anchor": item.reason.anchor.as_ref().map(product_ref),
                "customers": item.reason.customers,
                "confidence": item.reason.confidence,
                "lift": item.reason.lift,
            },
        })).collect::<Vec<_>>(),
        "next_order": answer.next_order.as_ref().map(expected),
        "reorders": answer.reorders.iter().map(|r| json!({
            "product": product_ref(&r.product),
            "due": r.due,
            "expected": expected(&r.expected),
        })).collect::<Vec<_>>(),
    })
}

fn product(view: &ProductView) -> Value {
    json!({
        "product": product_ref(&view.product),
        "active": view.active,
        "consumable": view.consumable,
        "customers": view.customers,
        "orders": view.orders,
        "last_sold_at": dto::time(view.last_sold_at),
        "reorder_rate": view.reorder_rate,
        "associations": view.associations.iter().map(|a| json!({
            "product": product_ref(&a.product),
            "customers": a.customers,
            "support": a.support,
            "confidence": a.confidence,
            "lift": a.lift,
        })).collect::<Vec<_>>(),
        "season": {
            "best_months": view.season.best_months,
            "month_index": view.season.month_index,
            "week_index": view.season.week_index.to_vec(),
            "upcoming_peak": view.season.upcoming_peak.map(|p| json!({
                "year": p.year,
                "month": p.month,
                "index": p.index,
                "starts_at": dto::time(p.starts_at),
            })),
        },
        "interval": {
            "repeats": view.interval.repeats,
            "observed_median_days": view.interval.observed_median_days,
            "median_days": view.interval.median_days,
            "lower_quartile_days": view.interval.lower_quartile_days,
            "upper_quartile_days": view.interval.upper_quartile_days,
        },
        "model_version": view.model_version,
    })
}
