//! # dialogic-store
//!
//! Durable storage for Dialogic: the [`Store`] trait and its SQLite (default, embedded) and
//! PostgreSQL implementations, with migrations for both.
//!
//! Must never: know about HTTP or the Watson API shapes beyond storing JSON.
//!
//! (Contract written by the integrator; the store helper implements `sqlite` and `postgres`
//! modules, migrations and the conformance suite, and may extend the types.)

use chrono::{DateTime, Utc};
use serde_json::Value;

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Optimistic concurrency: the session changed since it was loaded.
    #[error("session {0} was changed by a concurrent request")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    #[error("unsupported storage url: {0}")]
    BadUrl(String),
    #[error("database error")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A stateful session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub assistant_id: String,
    pub environment_id: String,
    /// The stored full v2 context (global, skills, integrations).
    pub context: Value,
    pub created_at: DateTime<Utc>,
    pub last_active: DateTime<Utc>,
    /// Inactivity timeout in seconds; the session expires at last_active + timeout.
    pub timeout_secs: i64,
    /// Bumped by every committed turn (optimistic concurrency).
    pub version: i64,
}

/// The Watson `Log` record of one turn (also the log webhook's `message_logged` payload).
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub log_id: String,
    pub assistant_id: String,
    pub environment_id: String,
    pub session_id: String,
    pub customer_id: Option<String>,
    pub request_timestamp: DateTime<Utc>,
    pub response_timestamp: DateTime<Utc>,
    /// The whole `Log` JSON object as served by `GET /v2/assistants/{id}/logs`.
    pub record: Value,
}

/// A log-webhook delivery to enqueue in the same transaction as the turn.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// Stable across attempts: the `webhook-id` header (= the log_id for message_logged).
    pub id: String,
    pub assistant_id: String,
    pub environment_id: String,
    /// Per-session ordering key (stateless turns use their generated session id).
    pub session_id: String,
    pub event: String,
    /// The full JSON body to POST (`{"event":{"name":...},"payload":...}`).
    pub body: Value,
    pub due_at: DateTime<Utc>,
}

/// Everything one turn commits, atomically.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnCommit {
    /// For stateful turns: the session to update, with the version it was loaded at.
    pub session: Option<SessionUpdate>,
    pub log: LogRecord,
    pub deliveries: Vec<NewDelivery>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionUpdate {
    pub id: String,
    pub expected_version: i64,
    pub context: Value,
    pub last_active: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogQuery {
    pub assistant_id: String,
    /// `customer_id::abc` style filters are parsed by the server into these fields.
    pub customer_id: Option<String>,
    pub session_id: Option<String>,
    /// true = oldest first (`sort=request_timestamp`); default newest first.
    pub ascending: bool,
    pub limit: u32,
    /// Opaque cursor returned by the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogPage {
    pub logs: Vec<LogRecord>,
    pub next_cursor: Option<String>,
    pub matched: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dead => "dead",
        }
    }
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub assistant_id: String,
    pub environment_id: String,
    pub session_id: String,
    /// Position in the session's sequence (1, 2, 3...): the `webhook-sequence` header.
    pub sequence: i64,
    pub event: String,
    pub body: Value,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
}

/// One recorded delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub delivery_id: String,
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    /// First 20 KB of the response body.
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Delivered,
    RetryAt(DateTime<Utc>),
    Dead,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeliveryQuery {
    pub assistant_id: Option<String>,
    pub status: Option<String>,
    pub limit: u32,
}

/// One recorded pre/post/dialog webhook call.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookCallRecord {
    pub id: String,
    pub at: DateTime<Utc>,
    pub assistant_id: String,
    pub environment_id: String,
    pub session_id: Option<String>,
    /// "pre_message" | "post_message" | "dialog"
    pub kind: String,
    pub url: String,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// Capped at 20 KB, secrets redacted.
    pub request_body: String,
    pub response_body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct WebhookCallQuery {
    pub assistant_id: Option<String>,
    pub kind: Option<String>,
    pub failed_only: bool,
    pub limit: u32,
}

/// The storage interface. Hold it as `Arc<dyn Store>`.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Storage reachable (for /readyz).
    async fn ping(&self) -> Result<()>;

    async fn create_session(&self, session: &Session) -> Result<()>;
    /// None when unknown, deleted or expired at `now`.
    async fn load_session(
        &self,
        assistant_id: &str,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>>;
    /// true when it existed.
    async fn delete_session(&self, assistant_id: &str, session_id: &str) -> Result<bool>;
    /// Delete sessions expired at `now`; returns how many.
    async fn sweep_expired(&self, now: DateTime<Utc>) -> Result<u64>;

    /// Commit one turn in ONE transaction: session (version-checked: Err(Conflict) if it
    /// changed), log record, outbox rows (sequence numbers assigned per session here).
    async fn commit_turn(&self, turn: &TurnCommit) -> Result<()>;

    async fn list_logs(&self, query: &LogQuery) -> Result<LogPage>;
    /// Delete every log record (and pending deliveries) with this customer id; returns count.
    async fn delete_customer_data(&self, customer_id: &str) -> Result<u64>;

    /// Claim up to `limit` due deliveries (status pending, due_at <= now, no live lease), at
    /// most ONE per session and only the session's lowest pending sequence (per-session order),
    /// setting lease_until = now + lease. Safe across processes sharing one database.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<Delivery>>;
    /// Record an attempt and apply the outcome (clears the lease).
    async fn record_attempt(&self, attempt: &Attempt, outcome: &AttemptOutcome) -> Result<()>;
    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<(Delivery, Vec<Attempt>)>>;
    async fn get_delivery(&self, id: &str) -> Result<Option<(Delivery, Vec<Attempt>)>>;
    /// Make a (dead/failed) delivery pending again, due now; false if unknown.
    async fn retry_delivery(&self, id: &str, now: DateTime<Utc>) -> Result<bool>;
    /// Make every delivery with `status` created at or after `since` pending again; count.
    async fn retry_deliveries(
        &self,
        status: DeliveryStatus,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<u64>;

    async fn record_webhook_call(&self, call: &WebhookCallRecord) -> Result<()>;
    async fn list_webhook_calls(&self, query: &WebhookCallQuery) -> Result<Vec<WebhookCallRecord>>;
}
