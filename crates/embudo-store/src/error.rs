//! The one error type of the storage port.
//!
//! Adapters map their driver's errors into [`StoreError`]; callers never see `sqlx`.

use std::error::Error;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist (in this workspace).
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness rule or an optimistic check failed (duplicate name or key hash, a processing
    /// cursor that moved under the caller).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The data cannot be stored as given (see [`crate::validate_event`]); nothing was written.
    #[error("invalid data: {0}")]
    Invalid(String),
    /// The database cannot be reached right now (pool exhausted or closed, connection lost,
    /// database locked); the operation may succeed when retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a driver or data error the caller cannot act on.
    #[error("store error: {0}")]
    Other(Box<dyn Error + Send + Sync>),
}

impl StoreError {
    /// Wraps any error as [`StoreError::Other`].
    pub fn other(error: impl Into<Box<dyn Error + Send + Sync>>) -> StoreError {
        StoreError::Other(error.into())
    }
}

/// The result type of every store operation.
pub type StoreResult<T> = Result<T, StoreError>;
