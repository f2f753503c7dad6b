//! The PostgreSQL backend, for several server processes sharing one database.
//!
//! Turns commit in one transaction; claims use `FOR UPDATE SKIP LOCKED` in a single
//! `UPDATE ... RETURNING`, so concurrent workers never lease the same row, and the lease
//! conditions sit on the locked row itself, so a row another worker leased in the meantime is
//! re-checked and dropped rather than claimed twice.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row};

use crate::cursor::LogCursor;
use crate::error::{corrupt, corrupt_json, Result, StoreError};
use crate::model::{
    clamp_timeout, expiry, fill_log_bodies, lease_end, missing_log_bodies, page_limit, Attempt,
    AttemptOutcome, Delivery, DeliveryCounts, DeliveryQuery, DeliveryStatus, LogPage, LogQuery,
    LogRecord, Session, TurnCommit, WebhookCallQuery, WebhookCallRecord,
};
use crate::Store;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process; a turn holds one for its transaction only.
const MAX_CONNECTIONS: u32 = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

const SESSION_COLS: &str =
    "id, assistant_id, environment_id, context, created_at, last_active, timeout_secs, version";
const LOG_COLS: &str = "log_id, assistant_id, environment_id, session_id, customer_id, \
     request_timestamp, response_timestamp, record";
const DELIVERY_COLS: &str =
    "id, log_id, assistant_id, environment_id, session_id, sequence, event, \
     body, status, attempts, due_at, created_at, lease_until";
/// [`DELIVERY_COLS`], qualified (the claim's `UPDATE ... FROM picked` also has an `id`).
const CLAIMED_COLS: &str =
    "deliveries.id, deliveries.log_id, deliveries.assistant_id, deliveries.environment_id, \
     deliveries.session_id, deliveries.sequence, deliveries.event, deliveries.body, \
     deliveries.status, deliveries.attempts, deliveries.due_at, deliveries.created_at, \
     deliveries.lease_until";
const ATTEMPT_COLS: &str = "delivery_id, at, status_code, latency_ms, response_body, error";
const CALL_COLS: &str = "id, at, assistant_id, environment_id, session_id, kind, url, \
     status_code, latency_ms, error, request_body, response_body";

/// A [`Store`] on a PostgreSQL database (tables in the connection's `search_path` schema).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connect to a `postgres://` / `postgresql://` url and run migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::BadUrl("postgres:...".to_owned()))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    /// A store on an existing pool (migrations are run).
    pub async fn from_pool(pool: PgPool) -> Result<Self> {
        MIGRATOR.run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    async fn begin(&self) -> Result<sqlx::Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    async fn attempts_for(&self, ids: &[String]) -> Result<Vec<Attempt>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {ATTEMPT_COLS} FROM delivery_attempts WHERE delivery_id IN ("
        ));
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(id.clone());
        }
        qb.push(") ORDER BY n");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(attempt_from_row).collect()
    }
}

/// Assemble the bodies of deliveries stored without one from their log rows.
async fn with_log_bodies(pool: &PgPool, deliveries: &mut [Delivery]) -> Result<()> {
    let ids = missing_log_bodies(deliveries);
    if ids.is_empty() {
        return Ok(());
    }
    let records: HashMap<String, String> =
        sqlx::query_as("SELECT log_id, record FROM logs WHERE log_id = ANY($1)")
            .bind(&ids)
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    fill_log_bodies(deliveries, &records);
    Ok(())
}

fn json_text(v: &Value) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(Box::new(e)))
}

fn json_value(s: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(corrupt_json)
}

fn session_from_row(r: &PgRow) -> Result<Session> {
    Ok(Session {
        id: r.try_get("id")?,
        assistant_id: r.try_get("assistant_id")?,
        environment_id: r.try_get("environment_id")?,
        context: json_value(r.try_get("context")?)?,
        created_at: r.try_get("created_at")?,
        last_active: r.try_get("last_active")?,
        timeout_secs: r.try_get("timeout_secs")?,
        version: r.try_get("version")?,
    })
}

fn log_from_row(r: &PgRow) -> Result<LogRecord> {
    Ok(LogRecord {
        log_id: r.try_get("log_id")?,
        assistant_id: r.try_get("assistant_id")?,
        environment_id: r.try_get("environment_id")?,
        session_id: r.try_get("session_id")?,
        customer_id: r.try_get("customer_id")?,
        request_timestamp: r.try_get("request_timestamp")?,
        response_timestamp: r.try_get("response_timestamp")?,
        record: r.try_get("record")?,
    })
}

fn delivery_from_row(r: &PgRow) -> Result<Delivery> {
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
        due_at: r.try_get("due_at")?,
        created_at: r.try_get("created_at")?,
        lease_until: r.try_get("lease_until")?,
    })
}

fn attempt_from_row(r: &PgRow) -> Result<Attempt> {
    Ok(Attempt {
        delivery_id: r.try_get("delivery_id")?,
        at: r.try_get("at")?,
        status_code: r.try_get("status_code")?,
        latency_ms: r.try_get("latency_ms")?,
        response_body: r.try_get("response_body")?,
        error: r.try_get("error")?,
    })
}

fn call_from_row(r: &PgRow) -> Result<WebhookCallRecord> {
    Ok(WebhookCallRecord {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
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

fn push_log_filters(qb: &mut QueryBuilder<'_, Postgres>, q: &LogQuery) {
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
async fn apply_attempt(
    conn: &mut sqlx::PgConnection,
    attempt: &Attempt,
    outcome: &AttemptOutcome,
    now: DateTime<Utc>,
) -> Result<bool> {
    // A delivered event stays delivered, even if a slower worker whose lease ran out
    // reports a failure afterwards.
    let r = match outcome {
        AttemptOutcome::Delivered => sqlx::query(
            "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, \
             lease_until = NULL, updated_at = $2 WHERE id = $1",
        )
        .bind(&attempt.delivery_id)
        .bind(now),
        AttemptOutcome::RetryAt(at) => sqlx::query(
            "UPDATE deliveries SET status = CASE WHEN status = 'delivered' THEN status \
             ELSE 'failed' END, due_at = CASE WHEN status = 'delivered' THEN due_at \
             ELSE $3 END, attempts = attempts + 1, lease_until = NULL, updated_at = $2 \
             WHERE id = $1",
        )
        .bind(&attempt.delivery_id)
        .bind(now)
        .bind(*at),
        AttemptOutcome::Dead => sqlx::query(
            "UPDATE deliveries SET status = CASE WHEN status = 'delivered' THEN status \
             ELSE 'dead' END, attempts = attempts + 1, lease_until = NULL, updated_at = $2 \
             WHERE id = $1",
        )
        .bind(&attempt.delivery_id)
        .bind(now),
    }
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(&format!(
        "INSERT INTO delivery_attempts ({ATTEMPT_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(&attempt.delivery_id)
    .bind(attempt.at)
    .bind(attempt.status_code)
    .bind(attempt.latency_ms)
    .bind(&attempt.response_body)
    .bind(&attempt.error)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_session(&self, s: &Session) -> Result<()> {
        let timeout = clamp_timeout(s.timeout_secs);
        sqlx::query(
            "INSERT INTO sessions (id, assistant_id, environment_id, context, created_at, \
             last_active, timeout_secs, expires_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.id)
        .bind(&s.assistant_id)
        .bind(&s.environment_id)
        .bind(json_text(&s.context)?)
        .bind(s.created_at)
        .bind(s.last_active)
        .bind(timeout)
        .bind(expiry(s.last_active, timeout))
        .bind(s.version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn load_session(
        &self,
        assistant_id: &str,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLS} FROM sessions \
             WHERE id = $1 AND assistant_id = $2 AND expires_at > $3"
        ))
        .bind(session_id)
        .bind(assistant_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn delete_session(&self, assistant_id: &str, session_id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM sessions WHERE id = $1 AND assistant_id = $2")
            .bind(session_id)
            .bind(assistant_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn sweep_expired(&self, now: DateTime<Utc>) -> Result<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn commit_turn(&self, turn: &TurnCommit) -> Result<()> {
        // Serialise before taking the write lock.
        let session_context = turn
            .session
            .as_ref()
            .map(|s| json_text(&s.context))
            .transpose()?;
        let record = turn.log.record.clone();
        let bodies = turn
            .deliveries
            .iter()
            // No body: the event is the log record, read from its row when sent.
            .map(|d| {
                Ok(d.body
                    .as_ref()
                    .map(json_text)
                    .transpose()?
                    .unwrap_or_default())
            })
            .collect::<Result<Vec<_>>>()?;

        let mut tx = self.begin().await?;
        if let (Some(s), Some(context)) = (&turn.session, session_context) {
            let r = sqlx::query(
                "UPDATE sessions SET context = $1, last_active = $2, \
                 expires_at = $2 + timeout_secs * interval '1 second', version = version + 1 \
                 WHERE id = $3 AND version = $4",
            )
            .bind(context)
            .bind(s.last_active)
            .bind(&s.id)
            .bind(s.expected_version)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                // Dropping the transaction rolls it back: nothing of this turn is written.
                return Err(StoreError::Conflict(s.id.clone()));
            }
        }
        let log = &turn.log;
        sqlx::query(&format!(
            "INSERT INTO logs ({LOG_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&log.log_id)
        .bind(&log.assistant_id)
        .bind(&log.environment_id)
        .bind(&log.session_id)
        .bind(&log.customer_id)
        .bind(log.request_timestamp)
        .bind(log.response_timestamp)
        .bind(record)
        .execute(&mut *tx)
        .await?;
        let now = Utc::now();
        for (d, body) in turn.deliveries.iter().zip(bodies) {
            let sequence: i64 = sqlx::query_scalar(
                "INSERT INTO delivery_sequences (session_id, last_sequence) VALUES ($1, 1) \
                 ON CONFLICT (session_id) DO UPDATE SET last_sequence = delivery_sequences.last_sequence + 1 \
                 RETURNING last_sequence",
            )
            .bind(&d.session_id)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO deliveries (id, log_id, assistant_id, environment_id, session_id, \
                 sequence, event, body, status, attempts, due_at, lease_until, created_at, \
                 updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, NULL, $10, $10)",
            )
            .bind(&d.id)
            .bind(&log.log_id)
            .bind(&d.assistant_id)
            .bind(&d.environment_id)
            .bind(&d.session_id)
            .bind(sequence)
            .bind(&d.event)
            .bind(body)
            .bind(d.due_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for c in &turn.calls {
            insert_call(&mut tx, c).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_logs(&self, q: &LogQuery) -> Result<LogPage> {
        let cursor = q.cursor.as_deref().map(LogCursor::decode).transpose()?;
        let limit = page_limit(q.limit);

        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM logs");
        push_log_filters(&mut count, q);
        let matched: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;

        let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {LOG_COLS} FROM logs"));
        push_log_filters(&mut qb, q);
        let (cmp, dir) = if q.ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        if let Some(c) = &cursor {
            qb.push(format_args!(" AND (request_timestamp, log_id) {cmp} ("))
                .push_bind(c.request_timestamp)
                .push(", ")
                .push_bind(c.log_id.clone())
                .push(")");
        }
        qb.push(format_args!(
            " ORDER BY request_timestamp {dir}, log_id {dir} LIMIT "
        ))
        .push_bind(limit + 1);
        let rows = qb.build().fetch_all(&self.pool).await?;
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
        let mut tx = self.begin().await?;
        // The outbox rows carry the log record in their body: delete them with the logs (any
        // status; attempts go by cascade).
        sqlx::query(
            "DELETE FROM deliveries WHERE log_id IN \
             (SELECT log_id FROM logs WHERE customer_id = $1)",
        )
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
        let r = sqlx::query("DELETE FROM logs WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected())
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
        // Only each session's head (lowest open sequence) is eligible, so one session never
        // has two events in flight and its events go out in order. The due/lease conditions
        // are on the locked row: when another worker leased it after our snapshot, the
        // re-check after the row lock drops it.
        let rows = sqlx::query(&format!(
            "WITH picked AS ( \
               SELECT d.id FROM deliveries d \
               WHERE d.status IN ('pending', 'failed') AND d.due_at <= $1 \
                 AND (d.lease_until IS NULL OR d.lease_until <= $1) \
                 AND NOT EXISTS (SELECT 1 FROM deliveries e \
                   WHERE e.session_id = d.session_id AND e.status IN ('pending', 'failed') \
                     AND e.sequence < d.sequence) \
               ORDER BY d.due_at LIMIT $3 \
               FOR UPDATE OF d SKIP LOCKED) \
             UPDATE deliveries SET lease_until = $2, updated_at = $1 \
             FROM picked WHERE deliveries.id = picked.id \
             RETURNING {CLAIMED_COLS}"
        ))
        .bind(now)
        .bind(lease_end(now, lease))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>>>()?;
        with_log_bodies(&self.pool, &mut claimed).await?;
        claimed.sort_by(|a, b| {
            (a.due_at, &a.session_id, a.sequence).cmp(&(b.due_at, &b.session_id, b.sequence))
        });
        Ok(claimed)
    }

    async fn record_attempt(&self, attempt: &Attempt, outcome: &AttemptOutcome) -> Result<()> {
        let mut tx = self.begin().await?;
        if !apply_attempt(&mut tx, attempt, outcome, Utc::now()).await? {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_attempts(&self, batch: &[(Attempt, AttemptOutcome)]) -> Result<u64> {
        if batch.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let now = Utc::now();
        // Delivered events (nearly all, under load): one statement for the whole batch, the
        // status update and the attempt rows together. Retries and dead letters one by one.
        let delivered: Vec<&Attempt> = batch
            .iter()
            .filter(|(_, o)| matches!(o, AttemptOutcome::Delivered))
            .map(|(a, _)| a)
            .collect();
        let mut found = 0;
        if !delivered.is_empty() {
            let n: i64 = sqlx::query_scalar(
                "WITH done AS ( \
                   UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, \
                     lease_until = NULL, updated_at = $1 \
                   WHERE id = ANY($2) RETURNING id), \
                 added AS ( \
                   INSERT INTO delivery_attempts \
                     (delivery_id, at, status_code, latency_ms, response_body, error) \
                   SELECT a.delivery_id, a.at, a.status_code, a.latency_ms, a.response_body, \
                     a.error \
                   FROM UNNEST($2::text[], $3::timestamptz[], $4::int4[], $5::int8[], \
                     $6::text[], $7::text[]) \
                     AS a(delivery_id, at, status_code, latency_ms, response_body, error) \
                   WHERE a.delivery_id IN (SELECT id FROM done) RETURNING 1) \
                 SELECT COUNT(*) FROM done",
            )
            .bind(now)
            .bind(
                delivered
                    .iter()
                    .map(|a| a.delivery_id.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(delivered.iter().map(|a| a.at).collect::<Vec<_>>())
            .bind(delivered.iter().map(|a| a.status_code).collect::<Vec<_>>())
            .bind(delivered.iter().map(|a| a.latency_ms).collect::<Vec<_>>())
            .bind(
                delivered
                    .iter()
                    .map(|a| a.response_body.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                delivered
                    .iter()
                    .map(|a| a.error.clone())
                    .collect::<Vec<_>>(),
            )
            .fetch_one(&mut *tx)
            .await?;
            found += n.max(0) as u64;
        }
        for (attempt, outcome) in batch {
            if matches!(outcome, AttemptOutcome::Delivered) {
                continue;
            }
            if apply_attempt(&mut tx, attempt, outcome, now).await? {
                found += 1;
            }
        }
        tx.commit().await?;
        Ok(found)
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<(Delivery, Vec<Attempt>)>> {
        let mut qb = QueryBuilder::<Postgres>::new(format!(
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
        let rows = qb.build().fetch_all(&self.pool).await?;
        let mut deliveries = rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>>>()?;
        with_log_bodies(&self.pool, &mut deliveries).await?;
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        let attempts = self.attempts_for(&ids).await?;
        Ok(with_attempts(deliveries, attempts))
    }

    async fn get_delivery(&self, id: &str) -> Result<Option<(Delivery, Vec<Attempt>)>> {
        let row = sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM deliveries WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut delivery = delivery_from_row(&row)?;
        with_log_bodies(&self.pool, std::slice::from_mut(&mut delivery)).await?;
        let attempts = self
            .attempts_for(std::slice::from_ref(&delivery.id))
            .await?;
        Ok(Some((delivery, attempts)))
    }

    async fn retry_delivery(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        // The lease is left alone: if an attempt is in flight, the retry waits for it.
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'pending', due_at = $2, updated_at = $2 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn retry_deliveries(
        &self,
        status: DeliveryStatus,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'pending', due_at = $3, updated_at = $3 \
             WHERE status = $1 AND ($2::timestamptz IS NULL OR created_at >= $2)",
        )
        .bind(status.as_str())
        .bind(since)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    async fn delivery_counts(&self, assistant_id: Option<&str>) -> Result<DeliveryCounts> {
        let mut qb = QueryBuilder::<Postgres>::new("SELECT status, COUNT(*) AS n FROM deliveries");
        if let Some(a) = assistant_id {
            qb.push(" WHERE assistant_id = ").push_bind(a.to_owned());
        }
        qb.push(" GROUP BY status");
        let rows = qb.build().fetch_all(&self.pool).await?;
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
        let mut conn = self.pool.acquire().await?;
        insert_call(&mut conn, c).await
    }

    async fn list_webhook_calls(&self, q: &WebhookCallQuery) -> Result<Vec<WebhookCallRecord>> {
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {CALL_COLS} FROM webhook_calls WHERE 1=1"
        ));
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
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(call_from_row).collect()
    }
}

async fn insert_call(conn: &mut sqlx::PgConnection, c: &WebhookCallRecord) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO webhook_calls ({CALL_COLS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&c.id)
    .bind(c.at)
    .bind(&c.assistant_id)
    .bind(&c.environment_id)
    .bind(&c.session_id)
    .bind(&c.kind)
    .bind(&c.url)
    .bind(c.status_code)
    .bind(c.latency_ms)
    .bind(&c.error)
    .bind(&c.request_body)
    .bind(&c.response_body)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
