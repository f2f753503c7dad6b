//! The crate's one error type (start-up and wiring; request errors are `api::ApiError`).

use crate::config::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("could not read {path}")]
    ReadFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(#[source] Box<figment::Error>),
    #[error("invalid configuration: {} problem(s)", .0.len())]
    Invalid(Vec<Problem>),
    #[error("storage")]
    Store(#[source] dialogic_store::StoreError),
    #[error("webhook client")]
    Webhook(#[source] dialogic_webhook::WebhookError),
    #[error("server I/O")]
    Io(#[source] std::io::Error),
}
