//! Storage failures as the API layer needs to tell them apart (the message is read
//! by `crate::d1_error`): callers match on variants, never on messages.

use crate::d1_error::{classify, D1Failure};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// A UNIQUE constraint refused the write; the column it names (`id` if the
    /// message does not say).
    #[error("UNIQUE constraint on {0}")]
    Conflict(String),
    /// No randomness for a new id (the platform's getrandom failed).
    #[error("no randomness for a new id: {0}")]
    Randomness(getrandom::Error),
    /// D1 could not be reached, or refused the statement (for the log only).
    #[error("D1: {0}")]
    Unavailable(String),
}

// Not `#[from]`: getrandom 0.2 without `std` has no `std::error::Error` impl.
impl From<getrandom::Error> for StoreError {
    fn from(e: getrandom::Error) -> Self {
        Self::Randomness(e)
    }
}

impl From<worker::Error> for StoreError {
    fn from(e: worker::Error) -> Self {
        let message = e.to_string();
        match classify(&message) {
            D1Failure::Unique(column) => Self::Conflict(column.to_string()),
            D1Failure::Other => Self::Unavailable(message),
        }
    }
}
