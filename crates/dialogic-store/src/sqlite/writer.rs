//! The one writer of an SQLite database: a task that owns the write connection and runs every
//! write of the process, one after another, so writers queue in a channel instead of spinning
//! on SQLite's busy handler or waiting on a pool.
//!
//! Turns are group-committed: concurrent `commit_turn` calls are committed together in ONE
//! transaction with as few statements as possible: one version-checked UPDATE per stateful
//! turn, then one multi-row INSERT each for the log records, the outbox rows and the webhook
//! call records of the whole batch. A turn whose session changed underneath it gets `Conflict`
//! and none of its rows are written; the others commit. Every caller is answered only after
//! the transaction has committed, so an `Ok` still means durable. If a statement fails for the
//! batch as a whole, each turn is retried in a transaction of its own, so every caller gets its
//! own true result. Other writes (delivery claims and attempts, sessions, retries) come as
//! closures, each run in a transaction of its own between batches of turns.
//!
//! Why: SQLite has one writer at a time, and every statement is a round trip to sqlx's
//! connection thread. One transaction (and five statements) per turn made concurrent turns
//! queue for the writer one by one; and a pooled write connection added an acquire, a release
//! and a health-check round trip (sqlx pings every connection it takes back) to each of them.
//!
//! A caller that stops waiting (its future dropped) does not withdraw its write: it may still
//! commit, as it could have with a plain transaction whose answer was lost.

use std::future::Future;
use std::pin::Pin;

use chrono::Utc;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{Connection, QueryBuilder, Sqlite};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Result, StoreError};
use crate::model::{TurnCommit, WebhookCallRecord};

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

/// A write for the writer task: a batch of turns, or any other write transaction.
enum Job {
    Turn {
        turn: Box<PreparedTurn>,
        reply: oneshot::Sender<Result<()>>,
    },
    Other(Work),
}

/// A write transaction's body, run by the writer task on its connection.
type Work = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, ()> + Send>;

/// A boxed future borrowing the writer's connection.
pub(super) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the writer task gets its connection.
pub(super) enum WriterConnection {
    /// Its own connection for the life of the task (a database file): no pool in between, so
    /// no acquire, release or health check round trip per transaction.
    Owned(SqliteConnection),
    /// Borrowed from a pool for each batch (an in-memory database, whose one connection the
    /// readers share).
    Pooled(SqlitePool),
}

/// The sending side, held by the store; the writer task ends when every clone is dropped.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Start the writer task: from now on it is the only one writing with `connection`.
    ///
    /// The task runs on a thread of its own (a one-thread runtime), not among the request
    /// tasks: every write of the process waits for it, so each of its round trips to the
    /// connection must not wait its turn behind the requests queued on the main runtime.
    pub(super) fn start(connection: WriterConnection) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        match runtime {
            Ok(runtime) => {
                let spawned = std::thread::Builder::new()
                    .name("sqlite-writer".into())
                    .spawn(move || runtime.block_on(run(connection, rx)));
                if let Err(e) = spawned {
                    // Every write then answers "writer task has stopped".
                    tracing::error!(error = %e, "could not start the sqlite writer thread");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not start the sqlite writer runtime"),
        }
        Writer { tx }
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

    /// Run `work` in a `BEGIN IMMEDIATE` transaction of its own on the writer's connection:
    /// committed when it returns `Ok`, rolled back when it returns `Err`.
    pub(super) async fn transaction<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Work = Box::new(move |conn| {
            Box::pin(async move {
                let _ = reply.send(in_transaction(conn, work).await);
            })
        });
        self.tx
            .send(Job::Other(job))
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

async fn in_transaction<T, F>(conn: &mut SqliteConnection, work: F) -> Result<T>
where
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>>,
{
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let value = work(&mut tx).await?;
    tx.commit().await?;
    Ok(value)
}

fn writer_gone() -> StoreError {
    StoreError::Database(Box::new(std::io::Error::other(
        "the sqlite writer task has stopped",
    )))
}

async fn run(mut connection: WriterConnection, mut rx: mpsc::Receiver<Job>) {
    let mut turns: Vec<(Box<PreparedTurn>, oneshot::Sender<Result<()>>)> =
        Vec::with_capacity(MAX_BATCH);
    let mut others = Vec::new();
    while let Some(first) = rx.recv().await {
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
        let mut pooled;
        let conn: &mut SqliteConnection = match &mut connection {
            WriterConnection::Owned(c) => c,
            WriterConnection::Pooled(pool) => match pool.acquire().await {
                Ok(c) => {
                    pooled = c;
                    &mut pooled
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the sqlite writer could not get a connection");
                    for (_, reply) in turns.drain(..) {
                        let _ = reply.send(Err(writer_gone()));
                    }
                    // Dropping a job answers its caller with "writer gone".
                    others.clear();
                    continue;
                }
            },
        };
        if !turns.is_empty() {
            commit_turns(conn, &mut turns).await;
        }
        for work in others.drain(..) {
            work(conn).await;
        }
    }
}

/// Commit the queued turns in one transaction, answering each caller.
async fn commit_turns(
    conn: &mut SqliteConnection,
    turns: &mut Vec<(Box<PreparedTurn>, oneshot::Sender<Result<()>>)>,
) {
    let prepared: Vec<&PreparedTurn> = turns.iter().map(|(t, _)| &**t).collect();
    match commit_batch(conn, &prepared).await {
        Ok(outcomes) => {
            for ((_, reply), outcome) in turns.drain(..).zip(outcomes) {
                // The caller may have stopped waiting; nothing to do then.
                let _ = reply.send(outcome);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, turns = turns.len(), "group commit failed; committing turns one by one");
            for (turn, reply) in turns.drain(..) {
                let outcome = commit_alone(conn, &turn).await;
                let _ = reply.send(outcome);
            }
        }
    }
}

async fn commit_batch(
    conn: &mut SqliteConnection,
    turns: &[&PreparedTurn],
) -> Result<Vec<Result<()>>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let outcomes = apply(&mut tx, turns, micros(Utc::now())).await?;
    tx.commit().await?;
    Ok(outcomes)
}

async fn commit_alone(conn: &mut SqliteConnection, turn: &PreparedTurn) -> Result<()> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let outcome = apply(&mut tx, &[turn], micros(Utc::now()))
        .await?
        .pop()
        .unwrap_or(Ok(()));
    if outcome.is_ok() {
        tx.commit().await?;
    }
    // Otherwise the transaction is dropped, which rolls it back.
    outcome
}

/// The writes of `turns`, in the caller's transaction, in as few statements as SQLite allows:
/// one version-checked UPDATE per stateful turn (a conflict fails that turn alone, and none of
/// its rows are written), then one multi-row INSERT each for the log records, the outbox rows
/// (after one upsert of the sessions' sequence counters) and the webhook call records.
/// `Err` = the statement failed as a whole (the caller rolls back); `Ok` = one outcome per turn.
async fn apply(
    conn: &mut SqliteConnection,
    turns: &[&PreparedTurn],
    now: i64,
) -> Result<Vec<Result<()>>> {
    let mut outcomes = Vec::with_capacity(turns.len());
    for turn in turns {
        outcomes.push(match &turn.session {
            Some(s) => update_session(conn, s).await?,
            None => Ok(()),
        });
    }
    let ok: Vec<&PreparedTurn> = turns
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.is_ok())
        .map(|(t, _)| *t)
        .collect();
    insert_logs(conn, &ok).await?;
    insert_deliveries(conn, &ok, now).await?;
    insert_calls(conn, &ok).await?;
    Ok(outcomes)
}

async fn update_session(conn: &mut SqliteConnection, s: &PreparedSession) -> Result<Result<()>> {
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
    Ok(if r.rows_affected() == 0 {
        Err(StoreError::Conflict(s.id.clone()))
    } else {
        Ok(())
    })
}

async fn insert_logs(conn: &mut SqliteConnection, turns: &[&PreparedTurn]) -> Result<()> {
    if turns.is_empty() {
        return Ok(());
    }
    let mut qb = QueryBuilder::<Sqlite>::new(
        "INSERT INTO logs (log_id, assistant_id, environment_id, session_id, customer_id, \
         request_timestamp, response_timestamp, record) ",
    );
    qb.push_values(turns, |mut row, t| {
        let l = &t.log;
        row.push_bind(l.log_id.as_str())
            .push_bind(l.assistant_id.as_str())
            .push_bind(l.environment_id.as_str())
            .push_bind(l.session_id.as_str())
            .push_bind(l.customer_id.as_deref())
            .push_bind(l.request_timestamp)
            .push_bind(l.response_timestamp)
            .push_bind(l.record.as_str());
    });
    qb.build().execute(&mut *conn).await?;
    Ok(())
}

/// Outbox rows: each session's counter is bumped once by the number of its new events, and
/// the events get the numbers in between, in turn order.
async fn insert_deliveries(
    conn: &mut SqliteConnection,
    turns: &[&PreparedTurn],
    now: i64,
) -> Result<()> {
    let rows: Vec<(&PreparedTurn, &PreparedDelivery)> = turns
        .iter()
        .flat_map(|t| t.deliveries.iter().map(move |d| (*t, d)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let mut per_session: Vec<(&str, i64)> = Vec::new();
    for (_, d) in &rows {
        match per_session.iter_mut().find(|(s, _)| *s == d.session_id) {
            Some((_, n)) => *n += 1,
            None => per_session.push((&d.session_id, 1)),
        }
    }
    let mut qb =
        QueryBuilder::<Sqlite>::new("INSERT INTO delivery_sequences (session_id, last_sequence) ");
    qb.push_values(&per_session, |mut row, (s, n)| {
        row.push_bind(*s).push_bind(*n);
    });
    qb.push(
        " ON CONFLICT (session_id) DO UPDATE \
         SET last_sequence = delivery_sequences.last_sequence + excluded.last_sequence \
         RETURNING session_id, last_sequence",
    );
    let last: Vec<(String, i64)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    // The next number to hand out per session: last - count + 1.
    let mut next: Vec<(&str, i64)> = per_session
        .iter()
        .map(|(s, n)| {
            let l = last
                .iter()
                .find(|(id, _)| id == s)
                .map(|(_, l)| *l)
                .unwrap_or(*n);
            (*s, l - n + 1)
        })
        .collect();
    let mut numbered = Vec::with_capacity(rows.len());
    for (t, d) in rows {
        let slot = next
            .iter_mut()
            .find(|(s, _)| *s == d.session_id)
            .map(|(_, n)| n)
            .ok_or_else(|| StoreError::Database("sequence counter missing".into()))?;
        numbered.push((t, d, *slot));
        *slot += 1;
    }
    let mut qb = QueryBuilder::<Sqlite>::new(
        "INSERT INTO deliveries (id, log_id, assistant_id, environment_id, session_id, \
         sequence, event, body, status, attempts, due_at, lease_until, created_at, updated_at) ",
    );
    qb.push_values(&numbered, |mut row, (t, d, seq)| {
        row.push_bind(d.id.as_str())
            .push_bind(t.log.log_id.as_str())
            .push_bind(d.assistant_id.as_str())
            .push_bind(d.environment_id.as_str())
            .push_bind(d.session_id.as_str())
            .push_bind(*seq)
            .push_bind(d.event.as_str())
            .push_bind(d.body.as_str())
            .push_bind("pending")
            .push_bind(0_i64)
            .push_bind(d.due_at)
            .push_bind(None::<i64>)
            .push_bind(now)
            .push_bind(now);
    });
    qb.build().execute(&mut *conn).await?;
    Ok(())
}

async fn insert_calls(conn: &mut SqliteConnection, turns: &[&PreparedTurn]) -> Result<()> {
    let calls: Vec<&WebhookCallRecord> = turns.iter().flat_map(|t| t.calls.iter()).collect();
    // 12 parameters a row: stay far below SQLite's 32,766-parameter limit.
    for chunk in calls.chunks(256) {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "INSERT INTO webhook_calls ({}) ",
            super::CALL_COLS
        ));
        qb.push_values(chunk, |mut row, c| {
            row.push_bind(c.id.as_str())
                .push_bind(micros(c.at))
                .push_bind(c.assistant_id.as_str())
                .push_bind(c.environment_id.as_str())
                .push_bind(c.session_id.as_deref())
                .push_bind(c.kind.as_str())
                .push_bind(c.url.as_str())
                .push_bind(c.status_code)
                .push_bind(c.latency_ms)
                .push_bind(c.error.as_deref())
                .push_bind(c.request_body.as_str())
                .push_bind(c.response_body.as_deref());
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}
