//! Store throughput: turns committed per second (stateless and stateful, each with one outbox
//! row, as the server commits them) and outbox events drained per second (claim + record),
//! on SQLite (temp file) and, when DIALOGIC_TEST_POSTGRES_URL is set, PostgreSQL.
//!
//! Run: `cargo bench -p dialogic-store --bench store_throughput`

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use dialogic_store::{
    open, Attempt, AttemptOutcome, LogRecord, NewDelivery, Session, SessionUpdate, Store,
    TurnCommit,
};
use serde_json::json;

const TURNS: usize = 4000;

fn turn(n: usize, session: &str, update: Option<SessionUpdate>) -> TurnCommit {
    let now = Utc::now();
    let log_id = uuid::Uuid::new_v4().to_string();
    // Roughly the size of a real Watson log record.
    let record = json!({
        "log_id": log_id,
        "request": {"input": {"text": format!("I want to book a flight number {n}")}},
        "response": {"output": {"generic": [{"response_type": "text", "text": "Sure, where to?"}],
                     "intents": [{"intent": "book_flight", "confidence": 0.93}], "entities": []},
                     "context": {"global": {"system": {"turn_count": n}}, "skills": {"main skill": {"user_defined": {"city": "Paris"}}}}},
        "assistant_id": "bench", "session_id": session, "language": "en",
    });
    TurnCommit {
        session: update,
        log: LogRecord {
            log_id: log_id.clone(),
            assistant_id: "bench".into(),
            environment_id: "live".into(),
            session_id: session.into(),
            customer_id: None,
            request_timestamp: now,
            response_timestamp: now,
            record: record.to_string(),
        },
        calls: vec![],
        deliveries: vec![NewDelivery {
            id: log_id,
            assistant_id: "bench".into(),
            environment_id: "live".into(),
            session_id: session.into(),
            event: "message_logged".into(),
            body: None,
            due_at: now,
        }],
    }
}

struct Figures {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn figures(total: usize, elapsed: Duration, mut latencies: Vec<Duration>) -> Figures {
    latencies.sort();
    let at = |q: f64| {
        let i = (latencies.len() as f64 * q) as usize;
        latencies
            .get(i.min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Figures {
        per_sec: total as f64 / elapsed.as_secs_f64(),
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn print(backend: &str, what: &str, clients: usize, f: &Figures) {
    println!(
        "{backend:<9} {what:<28} clients={clients:<3} {:>9.0}/s  p50={:>8.2?}  p99={:>8.2?}",
        f.per_sec, f.p50, f.p99
    );
}

async fn stateless(store: &Arc<dyn Store>, clients: usize) -> Figures {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for n in 0..TURNS / clients {
                let t = turn(n, &format!("stateless-{c}-{n}"), None);
                let s = Instant::now();
                store.commit_turn(&t).await.expect("commit");
                lat.push(s.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("task"));
    }
    figures(lat.len(), started.elapsed(), lat)
}

async fn stateful(store: &Arc<dyn Store>, clients: usize) -> Figures {
    let now = Utc::now();
    let mut ids = Vec::new();
    for c in 0..clients {
        let id = format!("stateful-{}-{c}", uuid::Uuid::new_v4());
        store
            .create_session(&Session {
                id: id.clone(),
                assistant_id: "bench".into(),
                environment_id: "live".into(),
                context: json!({}),
                created_at: now,
                last_active: now,
                timeout_secs: 3600,
                version: 0,
            })
            .await
            .expect("create");
        ids.push(id);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for id in ids {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for n in 0..TURNS / clients {
                let update = SessionUpdate {
                    id: id.clone(),
                    expected_version: n as i64,
                    context: json!({"global": {"system": {"turn_count": n + 1}},
                                    "skills": {"main skill": {"user_defined": {"city": "Paris"}}}}),
                    last_active: Utc::now(),
                };
                let t = turn(n, &id, Some(update));
                let s = Instant::now();
                store.commit_turn(&t).await.expect("commit");
                lat.push(s.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("task"));
    }
    figures(lat.len(), started.elapsed(), lat)
}

/// Drain the whole outbox with `workers` claimers, as the delivery worker would (receiver
/// time excluded). Latency is per claim batch (claim + one record per event).
async fn drain(store: &Arc<dyn Store>, workers: usize) -> (usize, Figures) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut delivered = 0;
            loop {
                let s = Instant::now();
                let got = store
                    .claim_deliveries(Utc::now(), Duration::from_secs(60), 32)
                    .await
                    .expect("claim");
                if got.is_empty() {
                    return (delivered, lat);
                }
                let batch: Vec<(Attempt, AttemptOutcome)> = got
                    .into_iter()
                    .map(|d| {
                        let attempt = Attempt {
                            delivery_id: d.id,
                            at: Utc::now(),
                            status_code: Some(200),
                            latency_ms: 1,
                            response_body: Some("ok".into()),
                            error: None,
                        };
                        (attempt, AttemptOutcome::Delivered)
                    })
                    .collect();
                delivered += store.record_attempts(&batch).await.expect("record") as usize;
                lat.push(s.elapsed());
            }
        }));
    }
    let mut lat = Vec::new();
    let mut delivered = 0;
    for t in tasks {
        let (n, l) = t.await.expect("task");
        delivered += n;
        lat.extend(l);
    }
    let elapsed = started.elapsed();
    let mut f = figures(lat.len(), elapsed, lat);
    f.per_sec = delivered as f64 / elapsed.as_secs_f64();
    (delivered, f)
}

async fn run(backend: &str, store: Arc<dyn Store>) {
    for clients in [1, 16] {
        print(
            backend,
            "stateless commit_turn",
            clients,
            &stateless(&store, clients).await,
        );
    }
    // The backlog now: one event per stateless session.
    let (n, f) = drain(&store, 4).await;
    print(backend, &format!("drain {n} events, batch p"), 4, &f);
    for clients in [1, 16] {
        print(
            backend,
            "stateful commit_turn",
            clients,
            &stateful(&store, clients).await,
        );
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("dialogic-store-bench-{}", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    run("sqlite", open(&url).await.expect("open sqlite")).await;
    let _ = std::fs::remove_dir_all(&dir);

    match std::env::var("DIALOGIC_TEST_POSTGRES_URL") {
        Err(_) => println!("skipping PostgreSQL: DIALOGIC_TEST_POSTGRES_URL not set"),
        Ok(base) => {
            use sqlx::Connection as _;
            let schema = format!("dialogic_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&base).await.expect("connect");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut conn)
                .await
                .expect("schema");
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
            let store = open(&url).await.expect("open postgres");
            run("postgres", store).await;
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut conn)
                .await
                .expect("drop schema");
        }
    }
}
