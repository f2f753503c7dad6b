//! Delivery throughput: log events delivered per second to a fast local receiver, by the real
//! worker over a real store (temp SQLite file; PostgreSQL too when DIALOGIC_TEST_POSTGRES_URL
//! is set), with the real webhook client.
//!
//!     cargo bench -p dialogic-delivery --bench delivery
//!     cargo bench -p dialogic-delivery --bench delivery -- --events 20000 --sessions 1000
//!
//! Phases, per backend:
//! - `backlog`: N events already committed across S sessions; time until all are delivered.
//! - `sequential`: one session of M events (per-session order makes it one at a time).
//! - `live`: producers commit turns (one outbox row each, notify after each) as fast as they
//!   can for D seconds while the worker runs; reports commits/s, deliveries/s, the backlog left
//!   at the end and the commit-to-receipt lag (p50/p99).
//!
//! The ledger must balance (received == committed, no duplicate ids, store says delivered)
//! or the run exits with code 3 and its figures are void.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use chrono::Utc;
use dialogic_delivery::{TargetResolver, Worker, WorkerConfig};
use dialogic_store::{DeliveryQuery, LogRecord, NewDelivery, Store, TurnCommit};
use dialogic_webhook::{Auth, Client, ClientOptions, Secret, Target};
use serde_json::json;
use tokio::sync::Notify;

struct Args {
    events: usize,
    sessions: usize,
    sequential: usize,
    live: Duration,
    producers: usize,
    concurrency: usize,
}

fn args() -> Args {
    let mut a = Args {
        events: 5000,
        sessions: 500,
        sequential: 500,
        live: Duration::from_secs(5),
        producers: 8,
        concurrency: 32,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match (argv[i].as_str(), value) {
            ("--events", Some(v)) => a.events = v as usize,
            ("--sessions", Some(v)) => a.sessions = v.max(1) as usize,
            ("--sequential", Some(v)) => a.sequential = v as usize,
            ("--live-secs", Some(v)) => a.live = Duration::from_secs(v),
            ("--producers", Some(v)) => a.producers = v.max(1) as usize,
            ("--concurrency", Some(v)) => a.concurrency = v.max(1) as usize,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

#[derive(Default)]
struct Ledger {
    ids: HashSet<String>,
    duplicates: u64,
    lags: Vec<Duration>,
}

struct Sink {
    ledger: Mutex<Ledger>,
    arrived: Notify,
}

async fn receive(
    State(sink): State<Arc<Sink>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> &'static str {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let committed = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["payload"]["committed_us"].as_i64());
    let lag = committed.map(|us| {
        let now = Utc::now().timestamp_micros();
        Duration::from_micros(u64::try_from(now - us).unwrap_or(0))
    });
    {
        let mut l = sink.ledger.lock().unwrap();
        if !l.ids.insert(id) {
            l.duplicates += 1;
        }
        if let Some(lag) = lag {
            l.lags.push(lag);
        }
    }
    sink.arrived.notify_waiters();
    "ok"
}

struct Fixed(Target);

impl TargetResolver for Fixed {
    fn log_target(&self, _: &str, _: &str) -> Option<Target> {
        Some(self.0.clone())
    }
}

async fn commit(store: &Arc<dyn Store>, session: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let record = json!({
        "log_id": id, "assistant_id": "bench", "session_id": session, "skill_id": "skill",
        "snapshot": "live", "language": "en",
        "request_timestamp": now.to_rfc3339(), "response_timestamp": now.to_rfc3339(),
        "request": {"input": {"text": "I want to order a pizza"}},
        "response": {"output": {"generic": [{"response_type": "text", "text": "What size?"}]},
                     "context": {"global": {"session_id": session}}},
        "committed_us": now.timestamp_micros(),
    });
    store
        .commit_turn(&TurnCommit {
            session: None,
            log: LogRecord {
                log_id: id.clone(),
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
                id: id.clone(),
                assistant_id: "bench".into(),
                environment_id: "live".into(),
                session_id: session.into(),
                event: "message_logged".into(),
                // None: the worker sends the turn's log record (stored once, in `logs`).
                body: None,
                due_at: now,
            }],
        })
        .await
        .unwrap();
    id
}

struct Bench {
    store: Arc<dyn Store>,
    sink: Arc<Sink>,
    worker: Worker,
}

impl Bench {
    fn received(&self) -> usize {
        self.sink.ledger.lock().unwrap().ids.len()
    }

    async fn wait_for(&self, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let arrived = self.sink.arrived.notified();
            if self.received() >= n {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, arrived).await.is_err() {
                return self.received() >= n;
            }
        }
    }

    /// Start the loop, wait for `total` receipts, stop it; seconds taken.
    async fn drain(&self, total: usize) -> f64 {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let started = Instant::now();
        let handle = self.worker.spawn(async move {
            let _ = stopped.await;
        });
        self.worker.notify();
        let ok = self.wait_for(total, Duration::from_secs(600)).await;
        let secs = started.elapsed().as_secs_f64();
        let _ = stop.send(());
        let _ = handle.await;
        if !ok {
            void(&format!("only {} of {total} received", self.received()));
        }
        secs
    }

    async fn check_ledger(&self, committed: usize) {
        let (received, dups) = {
            let l = self.sink.ledger.lock().unwrap();
            (l.ids.len(), l.duplicates)
        };
        let delivered = self
            .store
            .list_deliveries(&DeliveryQuery {
                assistant_id: Some("bench".into()),
                status: Some("delivered".into()),
                limit: 10_000,
            })
            .await
            .unwrap()
            .len();
        if received != committed || dups != 0 || delivered < committed.min(10_000) {
            void(&format!(
                "ledger does not balance: committed {committed}, received {received}, \
                 duplicates {dups}, store delivered {delivered}"
            ));
        }
    }
}

fn void(why: &str) -> ! {
    eprintln!("VOID RUN: {why}");
    std::process::exit(3);
}

async fn setup(url: &str, concurrency: usize) -> (Bench, tokio::task::JoinHandle<()>) {
    let store = dialogic_store::open(url).await.unwrap();
    let sink = Arc::new(Sink {
        ledger: Mutex::new(Ledger::default()),
        arrived: Notify::new(),
    });
    let app = axum::Router::new()
        .fallback(receive)
        .with_state(Arc::clone(&sink));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let client = Client::new(ClientOptions {
        allow_http: true,
        allow_private_addresses: true,
        ..ClientOptions::default()
    })
    .unwrap();
    let target = Target {
        url: format!("http://{addr}/log"),
        auth: Auth::Jwt(Secret::new("purple unicorn")),
        headers: Vec::new(),
        timeout: Duration::from_secs(10),
    };
    let worker = Worker::new(
        Arc::clone(&store),
        client,
        Arc::new(Fixed(target)),
        WorkerConfig {
            concurrency,
            ..WorkerConfig::default()
        },
    );
    (
        Bench {
            store,
            sink,
            worker,
        },
        server,
    )
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn run_backend(name: &str, url: &dyn Fn(&str) -> String, a: &Args) {
    // backlog
    {
        let (b, server) = setup(&url("backlog"), a.concurrency).await;
        for i in 0..a.events {
            commit(&b.store, &format!("s{}", i % a.sessions)).await;
        }
        let secs = b.drain(a.events).await;
        b.check_ledger(a.events).await;
        println!(
            "{name:8} backlog     {:>6} events / {:>4} sessions, concurrency {:>3}: {:>7.2} s  {:>8.0} events/s",
            a.events, a.sessions, a.concurrency, secs, a.events as f64 / secs
        );
        server.abort();
    }
    // sequential
    {
        let (b, server) = setup(&url("sequential"), a.concurrency).await;
        for _ in 0..a.sequential {
            commit(&b.store, "only").await;
        }
        let secs = b.drain(a.sequential).await;
        b.check_ledger(a.sequential).await;
        println!(
            "{name:8} sequential  {:>6} events /    1 session                : {:>7.2} s  {:>8.0} events/s",
            a.sequential, secs, a.sequential as f64 / secs
        );
        server.abort();
    }
    // live
    {
        let (b, server) = setup(&url("live"), a.concurrency).await;
        let b = Arc::new(b);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = b.worker.spawn(async move {
            let _ = stopped.await;
        });
        let until = Instant::now() + a.live;
        let mut producers = Vec::new();
        for p in 0..a.producers {
            let b = Arc::clone(&b);
            producers.push(tokio::spawn(async move {
                let mut n = 0usize;
                while Instant::now() < until {
                    commit(&b.store, &format!("p{p}-s{}", n % 50)).await;
                    b.worker.notify();
                    n += 1;
                }
                n
            }));
        }
        let mut committed = 0;
        for p in producers {
            committed += p.await.unwrap();
        }
        let window = a.live.as_secs_f64();
        let received_in_window = b.received();
        let drain_started = Instant::now();
        if !b.wait_for(committed, Duration::from_secs(600)).await {
            void("live phase did not drain");
        }
        let drain = drain_started.elapsed().as_secs_f64();
        let _ = stop.send(());
        let _ = handle.await;
        b.check_ledger(committed).await;
        let mut lags = b.sink.ledger.lock().unwrap().lags.clone();
        lags.sort();
        println!(
            "{name:8} live        {:>2} producers x {:.0} s: {:>8.0} commits/s, {:>8.0} delivered/s in window, \
             backlog at end {:>6}, drained in {:.2} s, lag p50 {:.1} ms p99 {:.1} ms",
            a.producers,
            window,
            committed as f64 / window,
            received_in_window as f64 / window,
            committed - received_in_window,
            drain,
            pct(&lags, 0.5),
            pct(&lags, 0.99),
        );
        server.abort();
    }
}

#[tokio::main]
async fn main() {
    let a = args();
    let dir =
        std::env::temp_dir().join(format!("dialogic-delivery-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "delivery bench: {} cpus, fast local receiver (200, empty body), JWT + signature on",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let sqlite = |phase: &str| format!("sqlite://{}", dir.join(format!("{phase}.db")).display());
    run_backend("sqlite", &sqlite, &a).await;
    match std::env::var("DIALOGIC_TEST_POSTGRES_URL") {
        Ok(base) => {
            // A fresh schema per phase, dropped at the end.
            use sqlx::Connection;
            let tag = uuid::Uuid::new_v4().simple().to_string();
            let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
            for phase in ["backlog", "sequential", "live"] {
                sqlx::query(&format!("CREATE SCHEMA bench_{phase}_{tag}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            let sep = if base.contains('?') { '&' } else { '?' };
            let pg =
                |phase: &str| format!("{base}{sep}options=-c%20search_path%3Dbench_{phase}_{tag}");
            run_backend("postgres", &pg, &a).await;
            for phase in ["backlog", "sequential", "live"] {
                sqlx::query(&format!("DROP SCHEMA bench_{phase}_{tag} CASCADE"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
        Err(_) => println!("postgres: skipped (DIALOGIC_TEST_POSTGRES_URL not set)"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
