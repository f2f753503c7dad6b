//! The crate's one error type.

/// Shorthand for results of store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Optimistic concurrency: the session changed (or vanished) since it was loaded.
    #[error("session {0} was changed by a concurrent request")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    /// The storage url has an unknown scheme or cannot be parsed. Holds only the scheme, never
    /// the url itself (it may carry a password).
    #[error("unsupported storage url: {0}")]
    BadUrl(String),
    /// A log-pagination cursor that this store did not hand out.
    #[error("invalid pagination cursor")]
    InvalidCursor,
    #[error("database error")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Box::new(e))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Database(Box::new(e))
    }
}

/// A stored row that does not decode (bad JSON, timestamp out of range, unknown status):
/// only possible if something other than this crate wrote to the database.
#[derive(Debug, thiserror::Error)]
#[error("corrupt row: {what}")]
pub(crate) struct CorruptRow {
    pub(crate) what: &'static str,
    #[source]
    pub(crate) source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

pub(crate) fn corrupt(what: &'static str) -> StoreError {
    StoreError::Database(Box::new(CorruptRow { what, source: None }))
}

pub(crate) fn corrupt_json(e: serde_json::Error) -> StoreError {
    StoreError::Database(Box::new(CorruptRow {
        what: "stored JSON does not parse",
        source: Some(Box::new(e)),
    }))
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(Box::new(e))
    }
}
