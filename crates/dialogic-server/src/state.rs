//! What every request handler shares.

use std::sync::Arc;

use dialogic_store::Store;
use dialogic_webhook::Client;

use crate::registry::Registry;
use crate::session_locks::SessionLocks;

/// Wakes the log-delivery worker after a turn committed outbox rows.
pub type DeliveryNotify = Arc<dyn Fn() + Send + Sync>;

pub struct AppState {
    pub registry: Arc<Registry>,
    pub store: Arc<dyn Store>,
    pub client: Client,
    pub api_keys: Vec<String>,
    pub max_body: usize,
    pub locks: SessionLocks,
    pub notify_delivery: Option<DeliveryNotify>,
}

pub type SharedState = Arc<AppState>;
