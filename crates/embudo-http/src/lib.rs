//! The only crate that knows HTTP, JSON and HTML.
//!
//! [`router`] serves the Segment-compatible tracking API (`/v1/*`), the management API
//! (`/api/v1/*`, with its OpenAPI document), the first-party browser tracker, and the operations
//! endpoints (`/healthz`, `/readyz`, `/metrics`). Handlers translate between wire types and the
//! service's plain data; errors become responses in one place ([`error::ApiError`]).

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use embudo_service::Embudo;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::trace::TraceLayer;

pub mod api;
pub mod dto;
pub mod error;
pub mod models;
mod ops;
pub mod questions;
pub mod recommend;
pub mod tracking;

/// HTTP settings chosen by the binary.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Requests per second per workspace on the tracking API; `None` for no limit.
    pub rate_limit_per_second: Option<NonZeroU32>,
    /// Largest (decompressed) request body read at all; larger ones get 413. The Segment limits
    /// (32 KB a message, 500 KB a batch) are checked below this with a specific 400.
    pub max_body_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> HttpSettings {
        HttpSettings {
            rate_limit_per_second: NonZeroU32::new(2_000),
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub embudo: Embudo,
    limiter: Option<Arc<DefaultKeyedRateLimiter<i64>>>,
    metrics: Option<PrometheusHandle>,
}

impl AppState {
    pub fn new(embudo: Embudo, settings: &HttpSettings) -> AppState {
        let limiter = settings.rate_limit_per_second.map(|rate| {
            // A burst of one second's worth, refilled continuously.
            Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(rate),
            ))
        });
        AppState {
            embudo,
            limiter,
            metrics: metrics_handle(),
        }
    }

    /// True when the workspace may make another tracking request now.
    pub(crate) fn allow(&self, workspace: i64) -> bool {
        self.limiter
            .as_ref()
            .is_none_or(|limiter| limiter.check_key(&workspace).is_ok())
    }
}

/// The process-wide Prometheus recorder, installed on first use. `None` if another recorder
/// was installed first (then `/metrics` says so).
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .clone()
}

/// The whole HTTP surface.
pub fn router(state: AppState, settings: &HttpSettings) -> Router {
    let tracking = Router::new()
        .route("/v1/identify", post(tracking::identify))
        .route("/v1/track", post(tracking::track))
        .route("/v1/page", post(tracking::page))
        .route("/v1/p", post(tracking::page))
        .route("/v1/screen", post(tracking::screen))
        .route("/v1/group", post(tracking::group))
        .route("/v1/alias", post(tracking::alias))
        .route("/v1/batch", post(tracking::batch))
        .route("/v1/import", post(tracking::batch))
        .layer(RequestDecompressionLayer::new().gzip(true).deflate(true))
        // Browsers post from the shop's origin: the tracking API is open to any origin (the
        // write key, not the origin, authorises).
        .layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::Any)
                .allow_methods([axum::http::Method::POST])
                .allow_headers([
                    axum::http::header::CONTENT_TYPE,
                    axum::http::header::AUTHORIZATION,
                ]),
        )
        .layer(DefaultBodyLimit::max(settings.max_body_bytes));
    let management = Router::new()
        .route("/api/v1/openapi.json", get(api::openapi))
        .route("/api/v1/workspace", get(api::workspace))
        .route("/api/v1/profiles", get(api::list_profiles))
        .route("/api/v1/profiles/{id}", get(api::profile))
        .route("/api/v1/profiles/{id}/events", get(api::profile_events))
        .route("/api/v1/profiles/{id}/phase", get(api::profile_phase))
        .route("/api/v1/profiles/{id}/orders", get(api::profile_orders))
        .route(
            "/api/v1/profiles/{id}/transitions",
            get(api::profile_transitions),
        )
        .route("/api/v1/phases/summary", get(api::phase_summary))
        .route("/api/v1/questions", get(questions::admin_list))
        .route("/api/v1/models", get(models::list_models))
        .route("/api/v1/models/{kind}", get(models::model_of_kind))
        .route(
            "/api/v1/profiles/{id}/recommendations",
            get(recommend::profile_recommendations),
        )
        .route("/api/v1/products", get(recommend::products))
        .route("/api/v1/products/{id}", get(recommend::product_page));
    // The shop's pages call these from the browser: open to any origin, like tracking.
    let survey = Router::new()
        .route("/v1/questions/next", get(questions::next))
        .route("/v1/answers", post(questions::answer))
        .route("/v1/questions.js", get(questions::script))
        .layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::Any)
                .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                .allow_headers([
                    axum::http::header::CONTENT_TYPE,
                    axum::http::header::AUTHORIZATION,
                ]),
        );
    Router::new()
        .merge(tracking)
        .merge(management)
        .merge(survey)
        .route("/tracker.js", get(ops::tracker_js))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .layer(axum::middleware::from_fn(ops::record_request))
        .layer(TraceLayer::new_for_http().make_span_with(ops::make_span))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(state)
}
