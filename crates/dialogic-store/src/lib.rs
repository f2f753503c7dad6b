//! # dialogic-store
//!
//! Durable storage for Dialogic: the [`Store`] trait and its SQLite (default, embedded) and
//! PostgreSQL implementations, with migrations for both. [`open`] picks the backend from a url.
//!
//! What it keeps: sessions (context + version for optimistic concurrency, expiry), the Watson
//! `Log` record of every turn, the log-webhook outbox (deliveries and their attempts, ordered
//! per session) and recorded pre/post/dialog webhook calls. A turn's session update, log record
//! and outbox rows commit in ONE transaction ([`Store::commit_turn`]).
//!
//! Must never: know about HTTP or the Watson API shapes beyond storing JSON; hold a database
//! lock across anything but its own statements; put a storage url (it may carry a password)
//! into an error or a log line.
//!
//! Modules:
//! - `model`: the row types and queries (re-exported here).
//! - `error`: [`StoreError`].
//! - `cursor`: opaque keyset cursors for log pagination.
//! - [`sqlite`]: [`SqliteStore`] (WAL; every write on one writer thread with its own rusqlite
//!   connection, `BEGIN IMMEDIATE`, the turns and other writes queued at one moment committed
//!   together; reads on an sqlx pool).
//! - [`postgres`]: [`PostgresStore`] (`FOR UPDATE SKIP LOCKED` claims).
//!
//! Migrations live in `migrations/sqlite` and `migrations/postgres` and run on [`open`].
//!
//! Delivery ordering rule: a session's events are claimed strictly in sequence order; only the
//! lowest-sequence event that is still `pending` or `failed` can be claimed, so an event waits
//! while an earlier one is in flight or scheduled for retry. `dead` events do not block: once an
//! event is dead-lettered the next one of its session goes out (a receiver sees the gap in
//! `webhook-sequence`; replaying the dead event later sends it out of order, by choice).

mod cursor;
mod error;
mod model;
pub mod postgres;
pub mod sqlite;

use chrono::{DateTime, Utc};
use std::sync::Arc;

pub use error::{Result, StoreError};
pub use model::*;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Open the store at `url` and run its migrations.
///
/// - `sqlite://path/to/file.db` (relative or absolute; the file and its parent directory are
///   created if missing), `sqlite:///abs/path.db`, `sqlite::memory:` (one connection, gone when
///   the store is dropped).
/// - `postgres://...` or `postgresql://...` (any libpq-style url sqlx accepts, e.g.
///   `?options=-c%20search_path%3Dmyschema`).
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    match url.split_once(':').map(|(scheme, _)| scheme) {
        Some("sqlite") => Ok(Arc::new(SqliteStore::open(url).await?)),
        Some("postgres" | "postgresql") => Ok(Arc::new(PostgresStore::open(url).await?)),
        scheme => Err(StoreError::BadUrl(redacted_scheme(scheme))),
    }
}

/// What of an unusable url may appear in an error: its scheme, if it looks like one.
fn redacted_scheme(scheme: Option<&str>) -> String {
    let Some(scheme) = scheme else {
        return "(not a url)".to_owned();
    };
    if !scheme.is_empty()
        && scheme.len() <= 32
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        format!("{scheme}:...")
    } else {
        "(not a url)".to_owned()
    }
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
    /// changed or no longer exists; then nothing of the turn is written), log record, outbox
    /// rows (status pending; sequence numbers assigned per session here, never reused).
    /// A stateless turn (`session: None`) updates no session.
    async fn commit_turn(&self, turn: &TurnCommit) -> Result<()>;

    /// One page of an assistant's logs, ordered by (request_timestamp, log_id); `matched` counts
    /// every record the filters match. Limit 0 = 100, capped at 10,000. Err(InvalidCursor) for
    /// a cursor this store did not produce.
    async fn list_logs(&self, query: &LogQuery) -> Result<LogPage>;
    /// Delete every log record with this customer id, and the outbox rows (any status, with
    /// their attempts) carrying those records; returns how many log records.
    async fn delete_customer_data(&self, customer_id: &str) -> Result<u64>;

    /// Claim up to `limit` due deliveries (status pending or failed, due_at <= now, no live
    /// lease), at most ONE per session and only the session's lowest open (pending or failed)
    /// sequence (per-session order; dead events do not block), setting lease_until = now +
    /// lease, oldest due first. Safe across processes sharing one database: two claimers never
    /// get the same row while its lease lives.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<Delivery>>;
    /// Record an attempt and apply the outcome (clears the lease; bumps `attempts`;
    /// `RetryAt` sets status failed and due_at). A delivered row stays delivered whatever a
    /// late attempt reports. Err(NotFound) for an unknown (or deleted) delivery.
    async fn record_attempt(&self, attempt: &Attempt, outcome: &AttemptOutcome) -> Result<()>;
    /// Record many attempts in one transaction (a worker finishing a batch); unknown
    /// deliveries are skipped. Returns how many were found and updated.
    async fn record_attempts(&self, batch: &[(Attempt, AttemptOutcome)]) -> Result<u64> {
        let mut found = 0;
        for (attempt, outcome) in batch {
            match self.record_attempt(attempt, outcome).await {
                Ok(()) => found += 1,
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }
    /// Newest first; `status` filters by [`DeliveryStatus::as_str`]; limit 0 = 100.
    async fn list_deliveries(&self, query: &DeliveryQuery)
        -> Result<Vec<(Delivery, Vec<Attempt>)>>;
    async fn get_delivery(&self, id: &str) -> Result<Option<(Delivery, Vec<Attempt>)>>;
    /// Make a (dead/failed/delivered) delivery pending again, due now; false if unknown.
    /// A live lease is kept, so an attempt in flight is not duplicated.
    async fn retry_delivery(&self, id: &str, now: DateTime<Utc>) -> Result<bool>;
    /// Make every delivery with `status` created at or after `since` pending again; count.
    async fn retry_deliveries(
        &self,
        status: DeliveryStatus,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<u64>;

    /// Deliveries per status, of one assistant or all. Both backends count in the database;
    /// this default (for other implementations) sees at most `MAX_PAGE_LIMIT` per status.
    async fn delivery_counts(&self, assistant_id: Option<&str>) -> Result<DeliveryCounts> {
        let mut counts = DeliveryCounts::default();
        for status in [
            DeliveryStatus::Pending,
            DeliveryStatus::Failed,
            DeliveryStatus::Delivered,
            DeliveryStatus::Dead,
        ] {
            let listed = self
                .list_deliveries(&DeliveryQuery {
                    assistant_id: assistant_id.map(str::to_owned),
                    status: Some(status.as_str().to_owned()),
                    limit: MAX_PAGE_LIMIT,
                })
                .await?;
            counts.add(status, listed.len() as u64);
        }
        Ok(counts)
    }

    async fn record_webhook_call(&self, call: &WebhookCallRecord) -> Result<()>;
    /// Newest first; `failed_only` = an error or a status outside 2xx; limit 0 = 100.
    async fn list_webhook_calls(&self, query: &WebhookCallQuery) -> Result<Vec<WebhookCallRecord>>;
}
