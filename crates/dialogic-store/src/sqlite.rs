//! The SQLite backend (the default, embedded).
//!
//! WAL journal, `synchronous = NORMAL` (a committed turn survives a process crash; an OS crash
//! or power loss may lose the last few), a busy timeout for other processes. Every write goes
//! through ONE writer task that owns the write connection (see `writer`), each in a
//! `BEGIN IMMEDIATE` transaction, so writers queue in a channel instead of spinning on
//! SQLite's busy handler, and two processes sharing the file serialise on SQLite's write lock.
//! Reads use a separate pool and never block writes; a stateful turn's session load runs
//! inline on a read connection of its own (see `readers`).
//!
//! Turns are group-committed (see `writer`): concurrent turns share one transaction.
//!
//! Timestamps are stored as integer microseconds since the Unix epoch.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::cursor::LogCursor;
use crate::error::{corrupt, corrupt_json, Result, StoreError};
use crate::model::{
    clamp_timeout, expiry, fill_log_bodies, lease_end, missing_log_bodies, page_limit, Attempt,
    AttemptOutcome, Delivery, DeliveryCounts, DeliveryQuery, DeliveryStatus, LogPage, LogQuery,
    LogRecord, Session, TurnCommit, WebhookCallQuery, WebhookCallRecord,
};
use crate::Store;

mod readers;
mod writer;
use readers::Readers;
use writer::{PreparedTurn, Writer};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const READ_CONNECTIONS: u32 = 4;
/// How often opening a database retries a step that lost a race with another process.
const OPEN_ATTEMPTS: u64 = 6;

/// A live session by id and assistant (`?3`: now, in microseconds): the columns
/// [`session_from_row`] reads, in the order the inline read in `load_session` takes them.
const SESSION_BY_ID: &str = "SELECT id, assistant_id, environment_id, context, created_at, \
     last_active, timeout_secs, version FROM sessions \
     WHERE id = ?1 AND assistant_id = ?2 AND expires_at > ?3";
const LOG_COLS: &str = "log_id, assistant_id, environment_id, session_id, customer_id, \
     request_timestamp, response_timestamp, record";
const DELIVERY_COLS: &str =
    "id, log_id, assistant_id, environment_id, session_id, sequence, event, \
     body, status, attempts, due_at, created_at, lease_until";
const ATTEMPT_COLS: &str = "delivery_id, at, status_code, latency_ms, response_body, error";
pub(crate) const CALL_COLS: &str = "id, at, assistant_id, environment_id, session_id, kind, url, \
     status_code, latency_ms, error, request_body, response_body";

/// The settings of every connection, the read pool's and the writer's alike: WAL journal,
/// `synchronous = NORMAL`, foreign keys (attempts cascade with their delivery), and a 64 MiB
/// page cache that keeps the index pages a turn touches. `wal_autocheckpoint` is SQLite's
/// default, kept on purpose: a longer WAL (the writer's own checkpoint at 4,000 or 20,000
/// pages, the background one every 50 ms) measured 10-15 % more messages/s but a p99 of
/// 14-18 ms instead of 6-7 ms (session 6; 20-31 ms against 8 ms in session 5).
const CONNECTION_PRAGMAS: [(&str, &str); 6] = [
    ("journal_mode", "WAL"),
    ("synchronous", "NORMAL"),
    ("foreign_keys", "ON"),
    ("temp_store", "MEMORY"),
    ("cache_size", "-65536"),
    ("wal_autocheckpoint", "1000"),
];

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// Copies committed WAL frames into the database file from a read connection, off the commit
/// path, so a commit seldom has to run the checkpoint itself (SQLite's default at 1,000 pages,
/// which holds the one writer, and every turn behind it, for the copy and the file sync).
/// Under a sustained load of turns the WAL still reaches 1,000 pages between ticks, and the
/// writer checkpoints (bench/cpu_per_message.sh's split by thread shows which). `PASSIVE`
/// never waits for readers or writers. Ends when the pool is closed or the store is dropped.
async fn checkpointer(pool: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::debug!(error = %e, "sqlite background checkpoint failed; retrying later");
        }
    }
}

/// Run a step of opening a database, again (up to `OPEN_ATTEMPTS` times, a little later each
/// time) if it fails: it may have lost a race with another process setting up the same file.
async fn retry_open<T, E, F, Fut>(step: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
    E: Into<StoreError> + std::fmt::Display,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < OPEN_ATTEMPTS => {
                tracing::debug!(error = %e, attempt, step, "opening the sqlite database; retrying");
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A [`Store`] on an SQLite database file (or in memory).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    /// Inline point reads (a stateful turn's session), see `readers`.
    readers: Arc<Readers>,
    writer: Writer,
    /// The background checkpointer; it stops with the last clone.
    _checkpointer: Arc<StopOnDrop>,
    /// The private file behind an in-memory url, deleted with the last clone.
    _scratch: Option<Arc<ScratchFile>>,
}

/// Aborts its task when dropped.
#[derive(Debug)]
struct StopOnDrop(tokio::task::JoinHandle<()>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A database file of this store alone, removed (with its WAL and shared-memory files) when
/// the store goes.
#[derive(Debug)]
struct ScratchFile(PathBuf);

impl Drop for ScratchFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = self.0.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
}

impl SqliteStore {
    /// Open (creating if missing) the database at an `sqlite:` url and run migrations.
    ///
    /// An in-memory url (`sqlite::memory:`) gets a private temporary file instead, deleted
    /// when the store is dropped: the reads and the writer thread use separate connections,
    /// which an in-memory database cannot share.
    pub async fn open(url: &str) -> Result<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let (options, scratch) = if in_memory {
            let path = std::env::temp_dir().join(format!(
                "dialogic-memory-{}.db",
                uuid::Uuid::new_v4().simple()
            ));
            (
                SqliteConnectOptions::new().filename(&path),
                Some(Arc::new(ScratchFile(path))),
            )
        } else {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| StoreError::BadUrl("sqlite:...".to_owned()))?;
            (options, None)
        };
        let options = CONNECTION_PRAGMAS
            .iter()
            .fold(options, |o, (name, value)| o.pragma(*name, *value))
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT);
        let path = options.get_filename().to_path_buf();
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| StoreError::Database(Box::new(e)))?;
            }
        }
        // Several processes opening a fresh file at once race to set it up: the journal mode
        // switch and the migrations of the losers fail at once ("database is locked", without
        // waiting) and a later try finds the work done.
        let reader = retry_open("connecting", || {
            SqlitePoolOptions::new()
                .max_connections(READ_CONNECTIONS)
                .connect_with(options.clone())
        })
        .await?;
        // Migrations run on a pool connection, before the writer starts.
        retry_open("migrating", || MIGRATOR.run(&reader)).await?;
        let writer = retry_open("opening the writer", || async {
            Writer::start(&path, BUSY_TIMEOUT, &CONNECTION_PRAGMAS)
        })
        .await?;
        let checkpoints = StopOnDrop(tokio::spawn(checkpointer(reader.clone())));
        Ok(SqliteStore {
            _checkpointer: Arc::new(checkpoints),
            _scratch: scratch,
            reader,
            readers: Arc::new(Readers::new(&path)),
            writer,
        })
    }

    async fn attempts_for(&self, ids: &[String]) -> Result<Vec<Attempt>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {ATTEMPT_COLS} FROM delivery_attempts WHERE delivery_id IN ("
        ));
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(id.clone());
        }
        qb.push(") ORDER BY n");
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter().map(attempt_from_row).collect()
    }
}

/// Assemble the bodies of deliveries stored without one from their log rows.
async fn with_log_bodies<'c, E>(conn: E, deliveries: &mut [Delivery]) -> Result<()>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    let ids = missing_log_bodies(deliveries);
    if ids.is_empty() {
        return Ok(());
    }
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT log_id, record FROM logs WHERE log_id IN (");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    qb.push(")");
    let records: HashMap<String, String> = qb
        .build_query_as()
        .fetch_all(conn)
        .await?
        .into_iter()
        .collect();
    fill_log_bodies(deliveries, &records);
    Ok(())
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn time(m: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(m).ok_or_else(|| corrupt("timestamp out of range"))
}

fn json_text(v: &Value) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(Box::new(e)))
}

fn json_value(s: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(corrupt_json)
}

fn session_from_row(r: &SqliteRow) -> Result<Session> {
    Ok(Session {
        id: r.try_get("id")?,
        assistant_id: r.try_get("assistant_id")?,
        environment_id: r.try_get("environment_id")?,
        context: json_value(r.try_get("context")?)?,
        created_at: time(r.try_get("created_at")?)?,
        last_active: time(r.try_get("last_active")?)?,
        timeout_secs: r.try_get("timeout_secs")?,
        version: r.try_get("version")?,
    })
}

fn log_from_row(r: &SqliteRow) -> Result<LogRecord> {
    Ok(LogRecord {
        log_id: r.try_get("log_id")?,
        assistant_id: r.try_get("assistant_id")?,
        environment_id: r.try_get("environment_id")?,
        session_id: r.try_get("session_id")?,
        customer_id: r.try_get("customer_id")?,
        request_timestamp: time(r.try_get("request_timestamp")?)?,
        response_timestamp: time(r.try_get("response_timestamp")?)?,
        record: r.try_get("record")?,
    })
}

fn delivery_from_row(r: &SqliteRow) -> Result<Delivery> {
    let status: &str = r.try_get("status")?;
    Ok(Delivery {
        id: r.try_get("id")?,
        log_id: r.try_get("log_id")?,
        assistant_id: r.try_get("assistant_id")?,
        environment_id: r.try_get("environment_id")?,
        session_id: r.try_get("session_id")?,
        sequence: r.try_get("sequence")?,
        event: r.try_get("event")?,
        // Empty for a turn's own log event: filled from its log row by `with_log_bodies`.
        body: r.try_get("body")?,
        status: DeliveryStatus::parse(status).ok_or_else(|| corrupt("unknown delivery status"))?,
        attempts: r.try_get("attempts")?,
        due_at: time(r.try_get("due_at")?)?,
        created_at: time(r.try_get("created_at")?)?,
        lease_until: r
            .try_get::<Option<i64>, _>("lease_until")?
            .map(time)
            .transpose()?,
    })
}

fn attempt_from_row(r: &SqliteRow) -> Result<Attempt> {
    Ok(Attempt {
        delivery_id: r.try_get("delivery_id")?,
        at: time(r.try_get("at")?)?,
        status_code: r.try_get("status_code")?,
        latency_ms: r.try_get("latency_ms")?,
        response_body: r.try_get("response_body")?,
        error: r.try_get("error")?,
    })
}

fn call_from_row(r: &SqliteRow) -> Result<WebhookCallRecord> {
    Ok(WebhookCallRecord {
        id: r.try_get("id")?,
        at: time(r.try_get("at")?)?,
        assistant_id: r.try_get("assistant_id")?,
        environment_id: r.try_get("environment_id")?,
        session_id: r.try_get("session_id")?,
        kind: r.try_get("kind")?,
        url: r.try_get("url")?,
        status_code: r.try_get("status_code")?,
        latency_ms: r.try_get("latency_ms")?,
        error: r.try_get("error")?,
        request_body: r.try_get("request_body")?,
        response_body: r.try_get("response_body")?,
    })
}

/// Pair each delivery with its attempts (in attempt order).
fn with_attempts(
    deliveries: Vec<Delivery>,
    attempts: Vec<Attempt>,
) -> Vec<(Delivery, Vec<Attempt>)> {
    let mut out: Vec<(Delivery, Vec<Attempt>)> =
        deliveries.into_iter().map(|d| (d, Vec::new())).collect();
    for a in attempts {
        if let Some((_, list)) = out.iter_mut().find(|(d, _)| d.id == a.delivery_id) {
            list.push(a);
        }
    }
    out
}

fn push_log_filters(qb: &mut QueryBuilder<'_, Sqlite>, q: &LogQuery) {
    qb.push(" WHERE assistant_id = ")
        .push_bind(q.assistant_id.clone());
    if let Some(c) = &q.customer_id {
        qb.push(" AND customer_id = ").push_bind(c.clone());
    }
    if let Some(s) = &q.session_id {
        qb.push(" AND session_id = ").push_bind(s.clone());
    }
}

/// One attempt's writes (the caller owns the transaction); false for an unknown delivery.
#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn create_session(&self, s: &Session) -> Result<()> {
        let timeout = clamp_timeout(s.timeout_secs);
        let context = json_text(&s.context)?;
        let s = s.clone();
        self.writer
            .transaction(move |tx| {
                tx.prepare_cached(
                    "INSERT INTO sessions (id, assistant_id, environment_id, context, \
                     created_at, last_active, timeout_secs, expires_at, version) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(rusqlite::params![
                    s.id,
                    s.assistant_id,
                    s.environment_id,
                    context,
                    micros(s.created_at),
                    micros(s.last_active),
                    timeout,
                    micros(expiry(s.last_active, timeout)),
                    s.version
                ])?;
                Ok(())
            })
            .await
    }

    async fn load_session(
        &self,
        assistant_id: &str,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>> {
        let inline = self.readers.with(|conn| {
            let mut stmt = conn.prepare_cached(SESSION_BY_ID)?;
            let mut rows = stmt.query(rusqlite::params![session_id, assistant_id, micros(now)])?;
            let Some(r) = rows.next()? else {
                return Ok(None);
            };
            Ok(Some(Session {
                id: r.get(0)?,
                assistant_id: r.get(1)?,
                environment_id: r.get(2)?,
                context: json_value(r.get_ref(3)?.as_str().map_err(rusqlite::Error::from)?)?,
                created_at: time(r.get(4)?)?,
                last_active: time(r.get(5)?)?,
                timeout_secs: r.get(6)?,
                version: r.get(7)?,
            }))
        });
        match inline {
            Ok(found) => Ok(found),
            Err(e) => {
                // A lock held by another process's recovery, or a damaged row: the async pool
                // waits as long as it must, and reports what is really wrong.
                tracing::debug!(error = %e, "inline session read failed; using the pool");
                let row = sqlx::query(SESSION_BY_ID)
                    .bind(session_id)
                    .bind(assistant_id)
                    .bind(micros(now))
                    .fetch_optional(&self.reader)
                    .await?;
                row.as_ref().map(session_from_row).transpose()
            }
        }
    }

    async fn delete_session(&self, assistant_id: &str, session_id: &str) -> Result<bool> {
        let (assistant_id, session_id) = (assistant_id.to_owned(), session_id.to_owned());
        self.writer
            .transaction(move |tx| {
                let n = tx
                    .prepare_cached("DELETE FROM sessions WHERE id = ?1 AND assistant_id = ?2")?
                    .execute(rusqlite::params![session_id, assistant_id])?;
                Ok(n > 0)
            })
            .await
    }

    async fn sweep_expired(&self, now: DateTime<Utc>) -> Result<u64> {
        self.writer
            .transaction(move |tx| {
                let n = tx
                    .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                    .execute([micros(now)])?;
                Ok(n as u64)
            })
            .await
    }

    async fn commit_turn(&self, turn: &TurnCommit) -> Result<()> {
        // Serialised here, in the caller's task, not under the write lock.
        self.writer.commit(PreparedTurn::new(turn)?).await
    }

    async fn list_logs(&self, q: &LogQuery) -> Result<LogPage> {
        let cursor = q.cursor.as_deref().map(LogCursor::decode).transpose()?;
        let limit = page_limit(q.limit);

        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM logs");
        push_log_filters(&mut count, q);
        let matched: i64 = count.build_query_scalar().fetch_one(&self.reader).await?;

        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {LOG_COLS} FROM logs"));
        push_log_filters(&mut qb, q);
        let (cmp, dir) = if q.ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        if let Some(c) = &cursor {
            qb.push(format_args!(" AND (request_timestamp, log_id) {cmp} ("))
                .push_bind(micros(c.request_timestamp))
                .push(", ")
                .push_bind(c.log_id.clone())
                .push(")");
        }
        qb.push(format_args!(
            " ORDER BY request_timestamp {dir}, log_id {dir} LIMIT "
        ))
        .push_bind(limit + 1);
        let rows = qb.build().fetch_all(&self.reader).await?;
        let mut logs = rows.iter().map(log_from_row).collect::<Result<Vec<_>>>()?;
        let next_cursor = if logs.len() as i64 > limit {
            logs.truncate(limit as usize);
            logs.last().map(|l| {
                LogCursor {
                    request_timestamp: l.request_timestamp,
                    log_id: l.log_id.clone(),
                }
                .encode()
            })
        } else {
            None
        };
        Ok(LogPage {
            logs,
            next_cursor,
            matched: matched.max(0) as u64,
        })
    }

    async fn delete_customer_data(&self, customer_id: &str) -> Result<u64> {
        let customer_id = customer_id.to_owned();
        self.writer
            .transaction(move |tx| {
                // The outbox rows carry the log record in their body: delete them with the
                // logs (any status; attempts go by cascade).
                tx.execute(
                    "DELETE FROM deliveries WHERE log_id IN \
                     (SELECT log_id FROM logs WHERE customer_id = ?1)",
                    [&customer_id],
                )?;
                let n = tx.execute("DELETE FROM logs WHERE customer_id = ?1", [&customer_id])?;
                Ok(n as u64)
            })
            .await
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut claimed = self
            .writer
            .transaction(move |tx| {
                // Only each session's head (lowest open sequence) is eligible, so one session
                // never has two events in flight and its events go out in order. Ordered by
                // due_at alone, so the scan follows the open-by-due index and stops at the
                // limit: a backlog of thousands costs a claim no more than an empty outbox
                // (INDEXED BY: without statistics the planner would take the status index and
                // sort every open row).
                let mut claim = tx.prepare_cached(&format!(
                    "UPDATE deliveries SET lease_until = ?2, updated_at = ?1 WHERE id IN ( \
                       SELECT d.id FROM deliveries d INDEXED BY deliveries_open_by_due \
                       WHERE d.status IN ('pending', 'failed') AND d.due_at <= ?1 \
                         AND (d.lease_until IS NULL OR d.lease_until <= ?1) \
                         AND NOT EXISTS (SELECT 1 FROM deliveries e \
                           WHERE e.session_id = d.session_id \
                             AND e.status IN ('pending', 'failed') \
                             AND e.sequence < d.sequence) \
                       ORDER BY d.due_at LIMIT ?3) \
                     RETURNING {DELIVERY_COLS}"
                ))?;
                let mut rows = claim.query(rusqlite::params![
                    micros(now),
                    micros(lease_end(now, lease)),
                    i64::from(limit)
                ])?;
                let mut claimed = Vec::new();
                while let Some(row) = rows.next()? {
                    claimed.push(writer::delivery_from_row(row)?);
                }
                drop(rows);
                writer::with_log_bodies(tx, &mut claimed)?;
                Ok(claimed)
            })
            .await?;
        claimed.sort_by(|a, b| {
            (a.due_at, &a.session_id, a.sequence).cmp(&(b.due_at, &b.session_id, b.sequence))
        });
        Ok(claimed)
    }

    async fn record_attempt(&self, attempt: &Attempt, outcome: &AttemptOutcome) -> Result<()> {
        let found = self
            .record_attempts(&[(attempt.clone(), outcome.clone())])
            .await?;
        if found == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn record_attempts(&self, batch: &[(Attempt, AttemptOutcome)]) -> Result<u64> {
        if batch.is_empty() {
            return Ok(0);
        }
        let batch = batch.to_vec();
        self.writer
            .transaction(move |tx| writer::apply_attempts(tx, &batch, micros(Utc::now())))
            .await
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<(Delivery, Vec<Attempt>)>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {DELIVERY_COLS} FROM deliveries WHERE 1=1"
        ));
        if let Some(a) = &q.assistant_id {
            qb.push(" AND assistant_id = ").push_bind(a.clone());
        }
        if let Some(s) = &q.status {
            qb.push(" AND status = ").push_bind(s.clone());
        }
        qb.push(" ORDER BY created_at DESC, session_id DESC, sequence DESC LIMIT ")
            .push_bind(page_limit(q.limit));
        let rows = qb.build().fetch_all(&self.reader).await?;
        let mut deliveries = rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>>>()?;
        with_log_bodies(&self.reader, &mut deliveries).await?;
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        let attempts = self.attempts_for(&ids).await?;
        Ok(with_attempts(deliveries, attempts))
    }

    async fn get_delivery(&self, id: &str) -> Result<Option<(Delivery, Vec<Attempt>)>> {
        let row = sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM deliveries WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut delivery = delivery_from_row(&row)?;
        with_log_bodies(&self.reader, std::slice::from_mut(&mut delivery)).await?;
        let attempts = self
            .attempts_for(std::slice::from_ref(&delivery.id))
            .await?;
        Ok(Some((delivery, attempts)))
    }

    async fn retry_delivery(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let id = id.to_owned();
        self.writer
            .transaction(move |tx| {
                // The lease is left alone: if an attempt is in flight, the retry waits for it.
                let n = tx.execute(
                    "UPDATE deliveries SET status = 'pending', due_at = ?2, updated_at = ?2 \
                     WHERE id = ?1",
                    rusqlite::params![id, micros(now)],
                )?;
                Ok(n > 0)
            })
            .await
    }

    async fn retry_deliveries(
        &self,
        status: DeliveryStatus,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.writer
            .transaction(move |tx| {
                let n = tx.execute(
                    "UPDATE deliveries SET status = 'pending', due_at = ?3, updated_at = ?3 \
                     WHERE status = ?1 AND (?2 IS NULL OR created_at >= ?2)",
                    rusqlite::params![status.as_str(), since.map(micros), micros(now)],
                )?;
                Ok(n as u64)
            })
            .await
    }

    async fn delivery_counts(&self, assistant_id: Option<&str>) -> Result<DeliveryCounts> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT status, COUNT(*) AS n FROM deliveries");
        if let Some(a) = assistant_id {
            qb.push(" WHERE assistant_id = ").push_bind(a.to_owned());
        }
        qb.push(" GROUP BY status");
        let rows = qb.build().fetch_all(&self.reader).await?;
        let mut counts = DeliveryCounts::default();
        for r in &rows {
            let status: &str = r.try_get("status")?;
            let n: i64 = r.try_get("n")?;
            let status =
                DeliveryStatus::parse(status).ok_or_else(|| corrupt("unknown delivery status"))?;
            counts.add(status, n.max(0) as u64);
        }
        Ok(counts)
    }

    async fn record_webhook_call(&self, c: &WebhookCallRecord) -> Result<()> {
        let c = c.clone();
        self.writer
            .transaction(move |tx| writer::insert_call(tx, &c))
            .await
    }

    async fn list_webhook_calls(&self, q: &WebhookCallQuery) -> Result<Vec<WebhookCallRecord>> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {CALL_COLS} FROM webhook_calls WHERE 1=1"));
        if let Some(a) = &q.assistant_id {
            qb.push(" AND assistant_id = ").push_bind(a.clone());
        }
        if let Some(k) = &q.kind {
            qb.push(" AND kind = ").push_bind(k.clone());
        }
        if q.failed_only {
            qb.push(
                " AND (error IS NOT NULL OR status_code IS NULL \
                 OR status_code < 200 OR status_code >= 300)",
            );
        }
        qb.push(" ORDER BY at DESC, n DESC LIMIT ")
            .push_bind(page_limit(q.limit));
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter().map(call_from_row).collect()
    }
}
