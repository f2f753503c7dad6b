//! The rows the store keeps, as plain values: sessions, log records, outbox deliveries and
//! their attempts, recorded webhook calls, and the queries over them.

use chrono::{DateTime, Utc};
use serde_json::Value;

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

/// The largest inactivity timeout the store keeps (100 years); larger values are clamped, so
/// expiry arithmetic never overflows.
pub const MAX_SESSION_TIMEOUT_SECS: i64 = 100 * 365 * 24 * 3600;

impl Session {
    /// When this session expires: `last_active + timeout_secs` (saturating).
    pub fn expires_at(&self) -> DateTime<Utc> {
        expiry(self.last_active, self.timeout_secs)
    }
}

pub(crate) fn clamp_timeout(timeout_secs: i64) -> i64 {
    timeout_secs.clamp(0, MAX_SESSION_TIMEOUT_SECS)
}

pub(crate) fn expiry(last_active: DateTime<Utc>, timeout_secs: i64) -> DateTime<Utc> {
    chrono::TimeDelta::try_seconds(clamp_timeout(timeout_secs))
        .and_then(|d| last_active.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `now + lease`, saturating.
pub(crate) fn lease_end(now: DateTime<Utc>, lease: std::time::Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(lease)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Page size when a query asks for 0.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// Largest page any list query returns.
pub const MAX_PAGE_LIMIT: u32 = 10_000;

pub(crate) fn page_limit(limit: u32) -> i64 {
    let l = if limit == 0 {
        DEFAULT_PAGE_LIMIT
    } else {
        limit
    };
    i64::from(l.min(MAX_PAGE_LIMIT))
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
    /// The whole `Log` JSON object as served by `GET /v2/assistants/{id}/logs`, as JSON text
    /// (stored and served byte for byte: the message path serialises it once).
    pub record: String,
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
    /// The full JSON body to POST (`{"event":{"name":...},"payload":...}`), or `None` for the
    /// turn's own log record as a `message_logged` event: the outbox row then stores no body
    /// and the store assembles it from the log row when the delivery is read
    /// ([`log_event_body`]), so a turn's record is written once, not twice.
    pub body: Option<Value>,
    pub due_at: DateTime<Utc>,
}

/// Put the log records (`log_id` -> record JSON text) into the deliveries stored without a
/// body; one whose record is gone gets a `null` payload.
pub(crate) fn fill_log_bodies(
    deliveries: &mut [Delivery],
    records: &std::collections::HashMap<String, String>,
) {
    for d in deliveries.iter_mut().filter(|d| d.body.is_empty()) {
        let record = d.log_id.as_ref().and_then(|id| records.get(id));
        d.body = log_event_body(record.map_or("null", String::as_str));
    }
}

/// The log ids whose records the deliveries stored without a body need.
pub(crate) fn missing_log_bodies(deliveries: &[Delivery]) -> Vec<String> {
    deliveries
        .iter()
        .filter(|d| d.body.is_empty())
        .filter_map(|d| d.log_id.clone())
        .collect()
}

/// The body of a `message_logged` event whose payload is the stored log record `record`
/// (JSON text), byte for byte.
pub fn log_event_body(record: &str) -> String {
    let mut body = String::with_capacity(record.len() + 48);
    body.push_str(r#"{"event":{"name":"message_logged"},"payload":"#);
    body.push_str(record);
    body.push('}');
    body
}

/// Everything one turn commits, atomically.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnCommit {
    /// For stateful turns: the session to update, with the version it was loaded at.
    pub session: Option<SessionUpdate>,
    pub log: LogRecord,
    pub deliveries: Vec<NewDelivery>,
    /// The turn's pre/post/dialog webhook calls, recorded with it (a turn that fails before
    /// its commit records its calls with [`crate::Store::record_webhook_call`] instead).
    pub calls: Vec<WebhookCallRecord>,
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

/// Where a delivery stands. `Pending` and `Failed` are both waiting to be sent: `Failed` means
/// the last attempt failed and a retry is scheduled at `due_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
    /// Given up on (a non-retryable answer or the end of the retry schedule). A dead event
    /// does not block its session: later events of the session are delivered after it.
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

    /// The inverse of [`DeliveryStatus::as_str`]; None for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            "dead" => Some(DeliveryStatus::Dead),
            _ => None,
        }
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many deliveries are in each status (the outbox at a glance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryCounts {
    pub pending: u64,
    pub failed: u64,
    pub delivered: u64,
    pub dead: u64,
}

impl DeliveryCounts {
    pub fn total(&self) -> u64 {
        self.pending + self.failed + self.delivered + self.dead
    }

    /// Add `n` deliveries with `status`.
    pub fn add(&mut self, status: DeliveryStatus, n: u64) {
        match status {
            DeliveryStatus::Pending => self.pending += n,
            DeliveryStatus::Failed => self.failed += n,
            DeliveryStatus::Delivered => self.delivered += n,
            DeliveryStatus::Dead => self.dead += n,
        }
    }
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    /// The turn whose log record this event carries, if any.
    pub log_id: Option<String>,
    pub assistant_id: String,
    pub environment_id: String,
    pub session_id: String,
    /// Position in the session's sequence (1, 2, 3...): the `webhook-sequence` header.
    pub sequence: i64,
    pub event: String,
    /// The JSON text to POST, exactly as sent (signatures cover these bytes).
    pub body: String,
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
