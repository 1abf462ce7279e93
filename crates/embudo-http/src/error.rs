//! Errors as HTTP responses, in one place.
//!
//! Client errors get a 4xx with a stable `code` and a message that says what to fix; anything
//! else gets a 500 (or 503) with a generic message, and the detail goes to the log once.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use embudo_segment::{BodyError, Rejection};
use embudo_service::ServiceError;

use crate::dto::RejectionDto;

/// An error response.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is wrong; `rejected` lists bad messages when there are any.
    BadRequest {
        code: &'static str,
        message: String,
        rejected: Vec<RejectionDto>,
    },
    /// 401: no or unknown key.
    Unauthorized(String),
    /// 403: the key may not do this.
    Forbidden(String),
    NotFound(String),
    /// 409
    Conflict(String),
    /// 413
    TooLarge(String),
    /// 429
    RateLimited,
    /// 503: the store is unavailable; retry.
    Unavailable,
    /// 500: logged, never shown.
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code,
            message: message.into(),
            rejected: Vec::new(),
        }
    }

    pub fn rejected(rejections: &[Rejection]) -> ApiError {
        let message = match rejections {
            [one] => one.to_string(),
            many => format!("all {} messages were rejected", many.len()),
        };
        ApiError::BadRequest {
            code: "invalid_message",
            message,
            rejected: rejections.iter().map(RejectionDto::from).collect(),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(err: BodyError) -> ApiError {
        match err {
            BodyError::TooLarge { .. } => ApiError::bad_request("too_large", err.to_string()),
            BodyError::NotJson(_) => ApiError::bad_request("invalid_json", err.to_string()),
            BodyError::NotAnObject | BodyError::NoBatch => {
                ApiError::bad_request("invalid_body", err.to_string())
            }
            BodyError::Invalid(rejection) => ApiError::rejected(&[rejection]),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> ApiError {
        match err {
            ServiceError::Invalid(message) => ApiError::bad_request("invalid", message),
            ServiceError::NotFound(message) => ApiError::NotFound(message),
            ServiceError::Conflict(message) => ApiError::Conflict(message),
            ServiceError::Unavailable(detail) => {
                tracing::error!(error = %detail, "store unavailable");
                ApiError::Unavailable
            }
            ServiceError::Store(source) => {
                ApiError::Internal(format!("{:#}", anyhow_like(&source)))
            }
        }
    }
}

/// The error and its sources, one after the other.
fn anyhow_like(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    success: bool,
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    rejected: &'a [RejectionDto],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, rejected) = match &self {
            ApiError::BadRequest {
                code,
                message,
                rejected,
            } => (
                StatusCode::BAD_REQUEST,
                *code,
                message.as_str(),
                rejected.as_slice(),
            ),
            ApiError::Unauthorized(message) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                message.as_str(),
                &[][..],
            ),
            ApiError::Forbidden(message) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                message.as_str(),
                &[][..],
            ),
            ApiError::NotFound(message) => (
                StatusCode::NOT_FOUND,
                "not_found",
                message.as_str(),
                &[][..],
            ),
            ApiError::Conflict(message) => {
                (StatusCode::CONFLICT, "conflict", message.as_str(), &[][..])
            }
            ApiError::TooLarge(message) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                message.as_str(),
                &[][..],
            ),
            ApiError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests for this workspace; retry shortly",
                &[][..],
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "storage is unavailable; retry shortly",
                &[][..],
            ),
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; it has been logged",
                    &[][..],
                )
            }
        };
        if status.is_client_error() {
            metrics::counter!("embudo_http_client_errors_total", "code" => code).increment(1);
        }
        let mut response = (
            status,
            Json(ErrorBody {
                success: false,
                code,
                message,
                rejected,
            }),
        )
            .into_response();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}
