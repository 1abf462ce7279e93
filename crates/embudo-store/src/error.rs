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

    /// A processing batch wrote a profile id that another workspace holds (`id`, when the
    /// adapter found which).
    pub fn foreign_profile(id: Option<i64>) -> StoreError {
        StoreError::Conflict(match id {
            Some(id) => format!("profile {id} belongs to another workspace"),
            None => "a profile of the batch could not be written".to_owned(),
        })
    }

    /// A processing batch creates a profile that is stored already: computed from a store that
    /// someone else wrote to meanwhile, or a processor's mistake. Nothing of the batch is
    /// stored; computed again, it would load the stored profile.
    pub fn created_profile_stored() -> StoreError {
        StoreError::Conflict("a profile the batch creates is stored already".to_owned())
    }

    /// A processing batch linked an identity to a profile its workspace does not have
    /// (`(workspace, profile)`, when the adapter found which).
    pub fn unlinked_identity(missing: Option<(i64, i64)>) -> StoreError {
        StoreError::Invalid(match missing {
            Some((workspace, profile)) => format!(
                "identity link to profile {profile}, which workspace {workspace} does not have"
            ),
            None => "an identity of the batch could not be linked".to_owned(),
        })
    }
}

/// The result type of every store operation.
pub type StoreResult<T> = Result<T, StoreError>;
