//! Storage failures as the API layer needs to tell them apart. The one place that
//! reads a D1 error's text: callers match on variants, never on messages.

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

/// The column of `UNIQUE constraint failed: table.column` (SQLite's wording, which
/// D1 passes on inside its own prefix).
fn unique_column(message: &str) -> Option<&str> {
    let rest = message.split("UNIQUE constraint failed: ").nth(1)?;
    let target = rest.split([',', ':', ' ']).next()?;
    let column = target.rsplit('.').next()?;
    (!column.is_empty()).then_some(column)
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
        if message.contains("UNIQUE") {
            Self::Conflict(unique_column(&message).unwrap_or("id").to_string())
        } else {
            Self::Unavailable(message)
        }
    }
}
