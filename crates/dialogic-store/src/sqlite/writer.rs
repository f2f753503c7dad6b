//! The one writer of an SQLite database: a thread that owns the write connection and runs
//! every write of the store, one after another, so writers queue in a channel instead of
//! spinning on SQLite's busy handler. It uses rusqlite, synchronously: each statement is a
//! plain function call on this thread (prepared once, cached), where sqlx would send each one
//! to its connection thread and wait for the answer. Reads stay on sqlx's async pool.
//!
//! Turns are group-committed: whatever turns have queued up are committed in ONE transaction.
//! A stateful turn's version-checked session UPDATE runs first; a turn whose session changed
//! underneath it gets `Conflict` and none of its rows are written, while the others commit.
//! Every caller is answered only after the transaction has committed, so an `Ok` still means
//! durable. If a statement fails, the batch rolls back and each turn is retried in a
//! transaction of its own, so every caller gets its own true result. Other writes (delivery
//! claims and attempts, sessions, retries) come as closures, each run in a transaction of its
//! own between batches of turns.
//!
//! A caller that stops waiting (its future dropped) does not withdraw its write: it may still
//! commit, as it could have with a plain transaction whose answer was lost.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::error::{corrupt, Result, StoreError};
use crate::model::{
    fill_log_bodies, missing_log_bodies, Attempt, AttemptOutcome, Delivery, DeliveryStatus,
    TurnCommit, WebhookCallRecord,
};

use super::{json_text, micros, time};

/// Most turns in one transaction.
const MAX_BATCH: usize = 64;
/// Turns waiting for the writer before callers wait to enqueue.
const QUEUE: usize = 1024;

/// A turn with its JSON already serialised (outside the write lock).
pub(super) struct PreparedTurn {
    session: Option<PreparedSession>,
    log: PreparedLog,
    deliveries: Vec<PreparedDelivery>,
    calls: Vec<WebhookCallRecord>,
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
            record: l.record.clone(),
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
                    // No body: the event is the log record, read from its row when sent.
                    body: d
                        .body
                        .as_ref()
                        .map(json_text)
                        .transpose()?
                        .unwrap_or_default(),
                    due_at: micros(d.due_at),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PreparedTurn {
            session,
            log,
            deliveries,
            calls: turn.calls.clone(),
        })
    }
}

/// A write for the writer thread: a turn, or any other write transaction.
enum Job {
    Turn {
        turn: Box<PreparedTurn>,
        reply: oneshot::Sender<Result<()>>,
    },
    Other(Box<dyn Work>),
}

/// A write other than a turn, run in the writer's transaction of the moment.
trait Work: Send {
    /// Run against the open transaction, keeping the value for [`Work::answer`]. May run
    /// again (in a transaction of its own) if the shared one failed.
    fn run(&mut self, tx: &rusqlite::Transaction<'_>) -> Result<()>;
    /// Answer the caller: the kept value once its transaction has committed, else the error.
    fn answer(self: Box<Self>, committed: Result<()>);
}

/// A [`Work`] made of a closure and the caller's reply channel.
struct Typed<T, F> {
    work: F,
    value: Option<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Work for Typed<T, F>
where
    T: Send,
    F: Fn(&rusqlite::Transaction<'_>) -> Result<T> + Send,
{
    fn run(&mut self, tx: &rusqlite::Transaction<'_>) -> Result<()> {
        self.value = Some((self.work)(tx)?);
        Ok(())
    }

    fn answer(self: Box<Self>, committed: Result<()>) {
        let Typed { value, reply, .. } = *self;
        let outcome = committed.and_then(|()| value.ok_or_else(writer_gone));
        // The caller may have stopped waiting; nothing to do then.
        let _ = reply.send(outcome);
    }
}

/// The sending side, held by the store; the writer thread ends when every clone is dropped.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Open the write connection to the database file at `path` and start the writer thread:
    /// from now on it is the only one writing through this store.
    pub(super) fn start(
        path: &Path,
        busy_timeout: Duration,
        pragmas: &[(&str, &str)],
    ) -> Result<Self> {
        let conn = open(path, busy_timeout, pragmas)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| StoreError::Database(Box::new(e)))?;
        Ok(Writer { tx })
    }

    /// Commit one turn (group-committed with whatever else is queued).
    pub(super) async fn commit(&self, turn: PreparedTurn) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Turn {
                turn: Box::new(turn),
                reply,
            })
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Run `work` in the writer's transaction (shared with the turns and other writes queued
    /// at the same moment, so they cost one commit): its value is returned once that has
    /// committed. If the shared transaction fails, `work` runs again in one of its own, so
    /// it must give the same result when run twice.
    pub(super) async fn transaction<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Work> = Box::new(Typed {
            work,
            value: None,
            reply,
        });
        self.tx
            .send(Job::Other(job))
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

/// The write connection, with the same `pragmas` as the read pool's connections.
fn open(path: &Path, busy_timeout: Duration, pragmas: &[(&str, &str)]) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(busy_timeout)?;
    for (name, value) in pragmas {
        // Our own constants; `execute_batch` also takes `journal_mode`'s answer row.
        conn.execute_batch(&format!("PRAGMA {name} = {value}"))?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn writer_gone() -> StoreError {
    StoreError::Database(Box::new(std::io::Error::other(
        "the sqlite writer has stopped",
    )))
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>) {
    let mut turns: Vec<(Box<PreparedTurn>, oneshot::Sender<Result<()>>)> =
        Vec::with_capacity(MAX_BATCH);
    let mut others: Vec<Box<dyn Work>> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Turn { turn, reply } => turns.push((turn, reply)),
                Job::Other(work) => others.push(work),
            }
            if turns.len() < MAX_BATCH && others.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        commit_all(&mut conn, &mut turns, &mut others);
    }
}

/// Commit the queued turns and other writes in ONE transaction, answering each caller once
/// it has committed. If a statement fails, everything is rolled back and each turn and each
/// write is retried in a transaction of its own, so every caller gets its own true result.
/// (No savepoint per turn: in WAL mode a savepoint copies every page it touches into a
/// statement journal, which measured 1.8x the SQLite time per turn.)
fn commit_all(
    conn: &mut Connection,
    turns: &mut Vec<(Box<PreparedTurn>, oneshot::Sender<Result<()>>)>,
    others: &mut Vec<Box<dyn Work>>,
) {
    match commit_batch(conn, turns.iter().map(|(t, _)| &**t), others) {
        Ok(outcomes) => {
            for ((_, reply), outcome) in turns.drain(..).zip(outcomes) {
                // The caller may have stopped waiting; nothing to do then.
                let _ = reply.send(outcome);
            }
            for work in others.drain(..) {
                work.answer(Ok(()));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, turns = turns.len(), writes = others.len(), "group commit failed; committing each write on its own");
            for (turn, reply) in turns.drain(..) {
                let outcome = commit_batch(conn, std::iter::once(&*turn), &mut [])
                    .and_then(|mut o| o.pop().unwrap_or(Ok(())));
                let _ = reply.send(outcome);
            }
            for mut work in others.drain(..) {
                let committed =
                    commit_batch(conn, std::iter::empty(), std::slice::from_mut(&mut work));
                work.answer(committed.map(drop));
            }
        }
    }
}

/// The turns, then the other writes, in one transaction. `Err` = a statement failed (nothing
/// committed); `Ok` = one outcome per turn, where a turn whose session changed underneath it
/// is a `Conflict` with none of its rows written.
fn commit_batch<'t>(
    conn: &mut Connection,
    turns: impl Iterator<Item = &'t PreparedTurn>,
    others: &mut [Box<dyn Work>],
) -> Result<Vec<Result<()>>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = micros(Utc::now());
    let mut outcomes = Vec::with_capacity(MAX_BATCH);
    for turn in turns {
        outcomes.push(apply(&tx, turn, now)?);
    }
    for work in others.iter_mut() {
        work.run(&tx)?;
    }
    tx.commit()?;
    Ok(outcomes)
}

/// The writes of one turn: the version-checked session update first (a conflict fails the
/// turn, `Ok(Err(Conflict))`, before any of its rows is written), then its log record, its
/// outbox rows and its webhook calls. `Err` = a statement failed.
fn apply(conn: &Connection, turn: &PreparedTurn, now: i64) -> Result<Result<()>> {
    if let Some(s) = &turn.session {
        let changed = conn
            .prepare_cached(
                "UPDATE sessions SET context = ?1, last_active = ?2, \
                 expires_at = ?2 + timeout_secs * 1000000, version = version + 1 \
                 WHERE id = ?3 AND version = ?4",
            )?
            .execute(params![s.context, s.last_active, s.id, s.expected_version])?;
        if changed == 0 {
            return Ok(Err(StoreError::Conflict(s.id.clone())));
        }
    }
    let l = &turn.log;
    conn.prepare_cached(
        "INSERT INTO logs (log_id, assistant_id, environment_id, session_id, customer_id, \
         request_timestamp, response_timestamp, record) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        l.log_id,
        l.assistant_id,
        l.environment_id,
        l.session_id,
        l.customer_id,
        l.request_timestamp,
        l.response_timestamp,
        l.record
    ])?;
    for d in &turn.deliveries {
        insert_delivery(conn, &l.log_id, d, now)?;
    }
    for c in &turn.calls {
        insert_call(conn, c)?;
    }
    Ok(Ok(()))
}

/// One outbox row, numbered next in its session's sequence.
fn insert_delivery(conn: &Connection, log_id: &str, d: &PreparedDelivery, now: i64) -> Result<()> {
    let sequence: i64 = conn
        .prepare_cached(
            "INSERT INTO delivery_sequences (session_id, last_sequence) VALUES (?1, 1) \
             ON CONFLICT (session_id) DO UPDATE SET last_sequence = last_sequence + 1 \
             RETURNING last_sequence",
        )?
        .query_row(params![d.session_id], |r| r.get(0))?;
    conn.prepare_cached(
        "INSERT INTO deliveries (id, log_id, assistant_id, environment_id, session_id, \
         sequence, event, body, status, attempts, due_at, lease_until, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', 0, ?9, NULL, ?10, ?10)",
    )?
    .execute(params![
        d.id,
        log_id,
        d.assistant_id,
        d.environment_id,
        d.session_id,
        sequence,
        d.event,
        d.body,
        d.due_at,
        now
    ])?;
    Ok(())
}

/// One webhook call record.
pub(super) fn insert_call(conn: &Connection, c: &WebhookCallRecord) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO webhook_calls (id, at, assistant_id, environment_id, session_id, kind, \
         url, status_code, latency_ms, error, request_body, response_body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        c.id,
        micros(c.at),
        c.assistant_id,
        c.environment_id,
        c.session_id,
        c.kind,
        c.url,
        c.status_code,
        c.latency_ms,
        c.error,
        c.request_body,
        c.response_body
    ])?;
    Ok(())
}

/// A `deliveries` row (columns in `DELIVERY_COLS` order).
pub(super) fn delivery_from_row(r: &rusqlite::Row<'_>) -> Result<Delivery> {
    let status: String = r.get(8)?;
    let lease_until: Option<i64> = r.get(12)?;
    Ok(Delivery {
        id: r.get(0)?,
        log_id: r.get(1)?,
        assistant_id: r.get(2)?,
        environment_id: r.get(3)?,
        session_id: r.get(4)?,
        sequence: r.get(5)?,
        event: r.get(6)?,
        // Empty for a turn's own log event: filled from its log row by `with_log_bodies`.
        body: r.get(7)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| corrupt("unknown delivery status"))?,
        attempts: r.get(9)?,
        due_at: time(r.get(10)?)?,
        created_at: time(r.get(11)?)?,
        lease_until: lease_until.map(time).transpose()?,
    })
}

/// Assemble the bodies of deliveries stored without one from their log rows.
pub(super) fn with_log_bodies(conn: &Connection, deliveries: &mut [Delivery]) -> Result<()> {
    let ids = missing_log_bodies(deliveries);
    if ids.is_empty() {
        return Ok(());
    }
    let mut read = conn.prepare_cached("SELECT record FROM logs WHERE log_id = ?1")?;
    let mut records = HashMap::with_capacity(ids.len());
    for id in ids {
        let record: Option<String> = read.query_row([&id], |r| r.get(0)).optional()?;
        if let Some(record) = record {
            records.insert(id, record);
        }
    }
    fill_log_bodies(deliveries, &records);
    Ok(())
}

/// Apply finished attempts: each delivery's new status and, for every delivery still there,
/// one attempt row. Returns how many of the deliveries were found.
pub(super) fn apply_attempts(
    conn: &Connection,
    batch: &[(Attempt, AttemptOutcome)],
    now: i64,
) -> Result<u64> {
    let mut found = 0;
    for (attempt, outcome) in batch {
        // A delivered event stays delivered, even if a slower worker whose lease ran out
        // reports a failure afterwards.
        let changed = match outcome {
            AttemptOutcome::Delivered => conn
                .prepare_cached(
                    "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, \
                     lease_until = NULL, updated_at = ?2 WHERE id = ?1",
                )?
                .execute(params![attempt.delivery_id, now])?,
            AttemptOutcome::RetryAt(at) => conn
                .prepare_cached(
                    "UPDATE deliveries SET status = CASE WHEN status = 'delivered' THEN status \
                     ELSE 'failed' END, due_at = CASE WHEN status = 'delivered' THEN due_at \
                     ELSE ?3 END, attempts = attempts + 1, lease_until = NULL, updated_at = ?2 \
                     WHERE id = ?1",
                )?
                .execute(params![attempt.delivery_id, now, micros(*at)])?,
            AttemptOutcome::Dead => conn
                .prepare_cached(
                    "UPDATE deliveries SET status = CASE WHEN status = 'delivered' THEN status \
                     ELSE 'dead' END, attempts = attempts + 1, lease_until = NULL, \
                     updated_at = ?2 WHERE id = ?1",
                )?
                .execute(params![attempt.delivery_id, now])?,
        };
        if changed == 0 {
            continue;
        }
        found += 1;
        conn.prepare_cached(
            "INSERT INTO delivery_attempts (delivery_id, at, status_code, latency_ms, \
             response_body, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            attempt.delivery_id,
            micros(attempt.at),
            attempt.status_code,
            attempt.latency_ms,
            attempt.response_body,
            attempt.error
        ])?;
    }
    Ok(found)
}
