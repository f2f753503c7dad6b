//! The crate's error types. Display strings never contain secrets or URLs with credentials.

/// Why a call got no reply. Display strings never contain secrets.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("timed out")]
    Timeout,
    #[error("response body over the size limit")]
    TooLarge,
    #[error("destination refused: {0}")]
    Blocked(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("{0}")]
    Other(String),
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("could not build the HTTP client: {0}")]
    Build(String),
}

/// Why a receiver-side verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("the webhook-timestamp header is not a unix timestamp")]
    BadTimestamp,
    #[error("the webhook-timestamp is outside the allowed tolerance")]
    TimestampOutOfTolerance,
    #[error("no signature matches the body")]
    SignatureMismatch,
    #[error("invalid JWT")]
    Jwt(#[source] jsonwebtoken::errors::Error),
}
