//! The crate's one error type.

/// Why the worker could not do its job (a failed POST is not an error: it is a recorded attempt).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The configuration is unusable; every problem found, one per entry.
    #[error("invalid delivery configuration: {}", .0.join("; "))]
    Config(Vec<String>),
    /// The store failed (claiming or recording).
    #[error("delivery store operation failed")]
    Store(#[source] dialogic_store::StoreError),
    /// A delivery task ended abnormally (panicked or was cancelled).
    #[error("a delivery task ended abnormally")]
    Task(#[source] tokio::task::JoinError),
}

impl From<dialogic_store::StoreError> for DeliveryError {
    fn from(e: dialogic_store::StoreError) -> Self {
        DeliveryError::Store(e)
    }
}
