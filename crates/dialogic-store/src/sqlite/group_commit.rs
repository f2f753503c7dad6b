//! Group commit of turns for SQLite: concurrent `commit_turn` calls queue to one writer task,
//! which commits whatever has queued up in ONE transaction, each turn inside its own savepoint.
//! A turn that fails (a version conflict, a duplicate id) rolls back to its savepoint alone and
//! gets its own error; the others commit. Every caller is answered only after the transaction
//! has committed, so an `Ok` still means durable. If the batch as a whole fails, each turn is
//! retried in a transaction of its own, so every caller gets its own true result.
//!
//! Why: SQLite has one writer at a time; one transaction per turn makes concurrent turns queue
//! for the write lock one by one, each paying the transaction overhead.
//!
//! A caller that stops waiting (its future dropped) does not withdraw its turn: it may still
//! commit, as it could have with a plain transaction whose answer was lost.

use chrono::Utc;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Result, StoreError};
use crate::model::TurnCommit;

use super::{json_text, micros};

/// Most turns in one transaction.
const MAX_BATCH: usize = 64;
/// Turns waiting for the writer before callers wait to enqueue.
const QUEUE: usize = 1024;

/// A turn with its JSON already serialised (outside the write lock).
pub(super) struct PreparedTurn {
    session: Option<PreparedSession>,
    log: PreparedLog,
    deliveries: Vec<PreparedDelivery>,
}

struct PreparedSession {
    id: String,
    expected_version: i64,
    context: String,
    last_active: i64,
}

struct PreparedLog {
    log_id: String,
    assistant_id: String,
    environment_id: String,
    session_id: String,
    customer_id: Option<String>,
    request_timestamp: i64,
    response_timestamp: i64,
    record: String,
}

struct PreparedDelivery {
    id: String,
    assistant_id: String,
    environment_id: String,
    session_id: String,
    event: String,
    body: String,
    due_at: i64,
}

impl PreparedTurn {
    pub(super) fn new(turn: &TurnCommit) -> Result<Self> {
        let session = turn
            .session
            .as_ref()
            .map(|s| {
                Ok::<_, StoreError>(PreparedSession {
                    id: s.id.clone(),
                    expected_version: s.expected_version,
                    context: json_text(&s.context)?,
                    last_active: micros(s.last_active),
                })
            })
            .transpose()?;
        let l = &turn.log;
        let log = PreparedLog {
            log_id: l.log_id.clone(),
            assistant_id: l.assistant_id.clone(),
            environment_id: l.environment_id.clone(),
            session_id: l.session_id.clone(),
            customer_id: l.customer_id.clone(),
            request_timestamp: micros(l.request_timestamp),
            response_timestamp: micros(l.response_timestamp),
            record: json_text(&l.record)?,
        };
        let deliveries = turn
            .deliveries
            .iter()
            .map(|d| {
                Ok(PreparedDelivery {
                    id: d.id.clone(),
                    assistant_id: d.assistant_id.clone(),
                    environment_id: d.environment_id.clone(),
                    session_id: d.session_id.clone(),
                    event: d.event.clone(),
                    body: json_text(&d.body)?,
                    due_at: micros(d.due_at),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PreparedTurn {
            session,
            log,
            deliveries,
        })
    }
}

struct Queued {
    turn: PreparedTurn,
    reply: oneshot::Sender<Result<()>>,
}

/// The sending side, held by the store; the writer task ends when every clone is dropped.
#[derive(Debug, Clone)]
pub(super) struct TurnQueue {
    tx: mpsc::Sender<Queued>,
}

impl TurnQueue {
    /// Start the writer task on `writer` (a pool of one connection).
    pub(super) fn start(writer: SqlitePool) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, rx));
        TurnQueue { tx }
    }

    pub(super) async fn commit(&self, turn: PreparedTurn) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Queued { turn, reply })
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> StoreError {
    StoreError::Database(Box::new(std::io::Error::other(
        "the sqlite writer task has stopped",
    )))
}

async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        match commit_batch(&pool, &batch).await {
            Ok(outcomes) => {
                for (q, outcome) in batch.drain(..).zip(outcomes) {
                    // The caller may have stopped waiting; nothing to do then.
                    let _ = q.reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, turns = batch.len(), "group commit failed; committing turns one by one");
                for q in batch.drain(..) {
                    let outcome = commit_alone(&pool, &q.turn).await;
                    let _ = q.reply.send(outcome);
                }
            }
        }
    }
}

async fn commit_batch(pool: &SqlitePool, batch: &[Queued]) -> Result<Vec<Result<()>>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let now = micros(Utc::now());
    let mut outcomes = Vec::with_capacity(batch.len());
    for q in batch {
        sqlx::query("SAVEPOINT turn").execute(&mut *tx).await?;
        let outcome = apply(&mut tx, &q.turn, now).await;
        if outcome.is_err() {
            sqlx::query("ROLLBACK TO turn").execute(&mut *tx).await?;
        }
        sqlx::query("RELEASE turn").execute(&mut *tx).await?;
        outcomes.push(outcome);
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn commit_alone(pool: &SqlitePool, turn: &PreparedTurn) -> Result<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    // On error the transaction is dropped, which rolls it back.
    apply(&mut tx, turn, micros(Utc::now())).await?;
    tx.commit().await?;
    Ok(())
}

/// The turn's writes; the caller owns the transaction (or savepoint) around them.
async fn apply(conn: &mut SqliteConnection, turn: &PreparedTurn, now: i64) -> Result<()> {
    if let Some(s) = &turn.session {
        let r = sqlx::query(
            "UPDATE sessions SET context = ?1, last_active = ?2, \
             expires_at = ?2 + timeout_secs * 1000000, version = version + 1 \
             WHERE id = ?3 AND version = ?4",
        )
        .bind(&s.context)
        .bind(s.last_active)
        .bind(&s.id)
        .bind(s.expected_version)
        .execute(&mut *conn)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::Conflict(s.id.clone()));
        }
    }
    let log = &turn.log;
    sqlx::query(
        "INSERT INTO logs (log_id, assistant_id, environment_id, session_id, customer_id, \
         request_timestamp, response_timestamp, record) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(&log.log_id)
    .bind(&log.assistant_id)
    .bind(&log.environment_id)
    .bind(&log.session_id)
    .bind(&log.customer_id)
    .bind(log.request_timestamp)
    .bind(log.response_timestamp)
    .bind(&log.record)
    .execute(&mut *conn)
    .await?;
    for d in &turn.deliveries {
        let sequence: i64 = sqlx::query_scalar(
            "INSERT INTO delivery_sequences (session_id, last_sequence) VALUES (?1, 1) \
             ON CONFLICT (session_id) \
             DO UPDATE SET last_sequence = delivery_sequences.last_sequence + 1 \
             RETURNING last_sequence",
        )
        .bind(&d.session_id)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO deliveries (id, log_id, assistant_id, environment_id, session_id, \
             sequence, event, body, status, attempts, due_at, lease_until, created_at, \
             updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', 0, ?9, NULL, ?10, ?10)",
        )
        .bind(&d.id)
        .bind(&log.log_id)
        .bind(&d.assistant_id)
        .bind(&d.environment_id)
        .bind(&d.session_id)
        .bind(sequence)
        .bind(&d.event)
        .bind(&d.body)
        .bind(d.due_at)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
