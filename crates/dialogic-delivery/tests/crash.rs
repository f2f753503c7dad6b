//! Crash test: the real `dialogic` binary, killed with SIGKILL at random points while messages
//! flow and the log receiver misbehaves (500s, answers slower than the webhook timeout,
//! dropped connections). After the last restart the receiver heals, dead events are replayed
//! through the API, and then:
//! - every turn a client got an answer for reached the receiver with a 2xx at least once;
//! - the ledger balances: every outbox row is delivered (sent == delivered + pending, with
//!   pending == 0 once drained), and each session's sequence is 1..n with no gaps;
//! - per session, the first successful receipt of event k comes after that of event k-1.
//!
//! The binary: `DIALOGIC_BIN`, else `dialogic` next to this test's target directory (built by
//! `cargo test --workspace` / `cargo build -p dialogic-server`). Without one the test says
//! "skipping" and passes. Runs on SQLite, and on PostgreSQL when DIALOGIC_TEST_POSTGRES_URL is
//! set. `DIALOGIC_CRASH_CYCLES` sets the number of kill/restart cycles (default 6).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use dialogic_store::{DeliveryQuery, DeliveryStatus};
use rand::Rng;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 receiver (keep-alive) that can drop connections mid-request.

#[derive(Debug, Clone)]
struct Receipt {
    id: String,
    session: String,
    sequence: i64,
    text: String,
    ok: bool,
    at: Instant,
}

#[derive(Default)]
struct Ledger {
    receipts: Vec<Receipt>,
    healed: bool,
    dropped: u64,
    failed: u64,
    slow: u64,
}

type SharedLedger = Arc<Mutex<Ledger>>;

async fn start_receiver(ledger: SharedLedger) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(serve_connection(stream, Arc::clone(&ledger)));
        }
    });
    format!("http://{addr}/log")
}

enum Fate {
    Ok,
    Fail,
    Slow,
    Drop,
}

async fn serve_connection(mut stream: TcpStream, ledger: SharedLedger) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Read one request: headers, then Content-Length bytes of body.
        let head_end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut headers = HashMap::new();
        for line in head.split("\r\n").skip(1) {
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Value =
            serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
        buf.drain(..head_end + len);

        let fate = {
            let mut l = ledger.lock().unwrap();
            let fate = if l.healed {
                Fate::Ok
            } else {
                match rand::thread_rng().gen_range(0..100) {
                    0..=54 => Fate::Ok,
                    55..=71 => Fate::Fail,
                    72..=84 => Fate::Slow,
                    _ => Fate::Drop,
                }
            };
            match fate {
                Fate::Drop => l.dropped += 1,
                Fate::Fail => l.failed += 1,
                Fate::Slow => l.slow += 1,
                Fate::Ok => {}
            }
            l.receipts.push(Receipt {
                id: headers.get("webhook-id").cloned().unwrap_or_default(),
                session: body["payload"]["session_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                sequence: headers
                    .get("webhook-sequence")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(-1),
                text: body["payload"]["request"]["input"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                // A slow answer arrives after the sender gave up: not a delivery.
                ok: matches!(fate, Fate::Ok),
                at: Instant::now(),
            });
            fate
        };
        let reply: &[u8] = match fate {
            Fate::Drop => return, // close without answering
            Fate::Ok => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            Fate::Fail => b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nboom",
            Fate::Slow => {
                // Longer than the 1 s webhook timeout.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
            }
        };
        if stream.write_all(reply).await.is_err() {
            return;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// The server process.

fn binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("DIALOGIC_BIN") {
        return Some(PathBuf::from(p));
    }
    // target/<profile>/deps/crash-<hash> -> target/<profile>/dialogic
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.parent()?.join("dialogic");
    candidate.is_file().then_some(candidate)
}

struct Server {
    child: Child,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_server(bin: &PathBuf, config: &PathBuf, http: &reqwest::Client) -> Server {
    let port = free_port();
    let child = Command::new(bin)
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the dialogic binary");
    let base = format!("http://127.0.0.1:{port}");
    // Bounded wait for the process to serve (a start, not a test condition).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "dialogic did not become ready in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Server { child, base }
}

fn kill(server: &mut Server) {
    // std's Child::kill is SIGKILL on Unix: no graceful shutdown, no flush.
    let _ = server.child.kill();
    let _ = server.child.wait();
}

// ---------------------------------------------------------------------------------------------
// Clients.

#[derive(Default)]
struct Answered {
    /// text -> (session id if stateful)
    texts: HashSet<String>,
    unanswered: u64,
}

async fn client_loop(
    n: usize,
    stateful: bool,
    base: Arc<RwLock<Option<String>>>,
    answered: Arc<Mutex<Answered>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut session: Option<String> = None;
    let mut i = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Some(b) = base.read().unwrap().clone() else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        if stateful && session.is_none() {
            match http
                .post(format!(
                    "{b}/v2/assistants/demo/sessions?version=2024-08-25"
                ))
                .json(&json!({}))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    let v: Value = r.json().await.unwrap_or(Value::Null);
                    session = v["session_id"].as_str().map(str::to_string);
                }
                _ => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            }
        }
        i += 1;
        let text = format!("client {n} message {i}");
        let url = match &session {
            Some(s) => format!("{b}/v2/assistants/demo/sessions/{s}/message?version=2024-08-25"),
            None => format!("{b}/v2/assistants/demo/message?version=2024-08-25"),
        };
        let result = http
            .post(url)
            .json(&json!({"input": {"text": text}}))
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => {
                answered.lock().unwrap().texts.insert(text);
                // Paced so that delivery works mostly during the chaos, not after the heal.
                tokio::time::sleep(Duration::from_millis(80)).await;
            }
            Ok(r) if r.status().as_u16() == 404 && session.is_some() => {
                // The session vanished (cannot happen with a 1 h timeout); start another.
                session = None;
                answered.lock().unwrap().unanswered += 1;
            }
            _ => {
                answered.lock().unwrap().unanswered += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

async fn crash_scenario(storage_url: String, label: &str) {
    let Some(bin) = binary() else {
        eprintln!(
            "skipping: no dialogic binary (set DIALOGIC_BIN or run `cargo build -p dialogic-server`)"
        );
        return;
    };
    eprintln!("crash test ({label}) with {}", bin.display());
    let cycles: usize = std::env::var("DIALOGIC_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let dir = std::env::temp_dir().join(format!("dialogic-crash-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let ledger: SharedLedger = Arc::default();
    let rx_url = start_receiver(Arc::clone(&ledger)).await;
    let config = dir.join("dialogic.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[storage]
url = "{storage_url}"

[webhooks]
allow_http = true
allow_private_addresses = true

[delivery]
retry_schedule = ["100ms", "200ms", "300ms", "500ms", "500ms", "1s", "1s", "1s", "1s", "1s", "1s", "1s"]
lease = "3s"
concurrency = 8
poll_interval = "50ms"

[[assistants]]
id = "demo"
skill = "builtin:demo"
  [assistants.webhooks.log]
  url = "{rx_url}"
  secret = "crash secret"
  timeout = "1s"
"#
        ),
    )
    .unwrap();
    let http = reqwest::Client::new();

    let base: Arc<RwLock<Option<String>>> = Arc::default();
    let answered: Arc<Mutex<Answered>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for n in 0..4 {
        clients.push(tokio::spawn(client_loop(
            n,
            n % 2 == 0,
            Arc::clone(&base),
            Arc::clone(&answered),
            Arc::clone(&stop),
        )));
    }

    for cycle in 0..cycles {
        let mut server = start_server(&bin, &config, &http).await;
        *base.write().unwrap() = Some(server.base.clone());
        let run_for = Duration::from_millis(rand::thread_rng().gen_range(300..1500));
        tokio::time::sleep(run_for).await;
        kill(&mut server);
        *base.write().unwrap() = None;
        eprintln!(
            "cycle {cycle}: killed after {} ms; {} answered so far",
            run_for.as_millis(),
            answered.lock().unwrap().texts.len()
        );
    }
    // Last start: traffic stops, the receiver heals, dead events are replayed, all drains.
    let mut server = start_server(&bin, &config, &http).await;
    *base.write().unwrap() = Some(server.base.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    ledger.lock().unwrap().healed = true;
    let answered_texts = answered.lock().unwrap().texts.clone();
    assert!(!answered_texts.is_empty(), "no turn was answered at all");
    let replay = http
        .post(format!("{}/v1/deliveries/retry?status=dead", server.base))
        .send()
        .await
        .unwrap();
    assert!(replay.status().is_success(), "replay: {}", replay.status());
    let replayed: Value = replay.json().await.unwrap_or(Value::Null);

    // Bounded wait for the receiver to have a 2xx for every answered turn.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let delivered: HashSet<String> = ledger
            .lock()
            .unwrap()
            .receipts
            .iter()
            .filter(|r| r.ok)
            .map(|r| r.text.clone())
            .collect();
        let missing = answered_texts.difference(&delivered).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} answered turns never delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let in-flight retries of already-acked events settle, then stop for good.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kill(&mut server);

    // The database's view.
    let store = dialogic_store::open(&storage_url).await.unwrap();
    let rows = store
        .list_deliveries(&DeliveryQuery {
            assistant_id: Some("demo".into()),
            status: None,
            limit: 10_000,
        })
        .await
        .unwrap();
    let sent = rows.len();
    let delivered_rows = rows
        .iter()
        .filter(|(d, _)| d.status == DeliveryStatus::Delivered)
        .count();
    let pending_rows = rows
        .iter()
        .filter(|(d, _)| matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::Failed))
        .count();
    let dead_rows = sent - delivered_rows - pending_rows;

    let l = ledger.lock().unwrap();
    let acked: HashSet<&str> = l
        .receipts
        .iter()
        .filter(|r| r.ok)
        .map(|r| r.id.as_str())
        .collect();
    let dup_receipts = l.receipts.len()
        - l.receipts
            .iter()
            .map(|r| &r.id)
            .collect::<HashSet<_>>()
            .len();
    eprintln!(
        "{label}: {cycles} kills, {} answered turns ({} unanswered), {sent} outbox rows, \
         {delivered_rows} delivered / {pending_rows} pending / {dead_rows} dead; receiver: {} \
         requests ({} repeats of an id), {} 500s, {} slow, {} dropped; replayed {}",
        answered_texts.len(),
        answered.lock().unwrap().unanswered,
        l.receipts.len(),
        dup_receipts,
        l.failed,
        l.slow,
        l.dropped,
        replayed,
    );

    // Ledger: sent == delivered + pending, and everything drained.
    assert_eq!(dead_rows, 0, "dead rows after replay and heal");
    assert_eq!(pending_rows, 0, "rows still pending after draining");
    assert_eq!(sent, delivered_rows + pending_rows);
    for (d, _) in &rows {
        assert!(
            acked.contains(d.id.as_str()),
            "row {} marked delivered but never acked",
            d.id
        );
    }
    // Every answered turn has an outbox row (its log id acked by the receiver).
    let acked_texts: HashSet<&str> = l
        .receipts
        .iter()
        .filter(|r| r.ok)
        .map(|r| r.text.as_str())
        .collect();
    for t in &answered_texts {
        assert!(
            acked_texts.contains(t.as_str()),
            "answered turn {t:?} not delivered"
        );
    }
    // No gaps per session: the sequences are exactly 1..n.
    let mut per_session: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (d, _) in &rows {
        per_session
            .entry(d.session_id.as_str())
            .or_default()
            .push(d.sequence);
    }
    for (s, seqs) in &mut per_session {
        seqs.sort_unstable();
        let want: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(seqs, &want, "session {s} has gaps");
    }
    // Order: per session, event k is first acked after event k-1 was (no event was dead
    // before the replay, or it may legitimately have gone out of order).
    if replayed["retried"].as_u64().unwrap_or(0) == 0 {
        let mut first_ack: HashMap<(&str, i64), Instant> = HashMap::new();
        for r in l.receipts.iter().filter(|r| r.ok) {
            first_ack
                .entry((r.session.as_str(), r.sequence))
                .or_insert(r.at);
        }
        for (s, seqs) in &per_session {
            for k in seqs.iter().skip(1) {
                let (Some(prev), Some(this)) =
                    (first_ack.get(&(*s, k - 1)), first_ack.get(&(*s, *k)))
                else {
                    panic!("session {s} event {k} or its predecessor never acked");
                };
                assert!(
                    prev <= this,
                    "session {s}: event {k} acked before event {}",
                    k - 1
                );
            }
        }
    }
    drop(l);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_sqlite() {
    let dir = std::env::temp_dir().join(format!("dialogic-crash-db-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("crash.db").display());
    crash_scenario(url, "sqlite").await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_postgres() {
    let Ok(base) = std::env::var("DIALOGIC_TEST_POSTGRES_URL") else {
        eprintln!("skipping: DIALOGIC_TEST_POSTGRES_URL not set (PostgreSQL crash test)");
        return;
    };
    use sqlx::Connection;
    let schema = format!("crash_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    crash_scenario(
        format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        "postgres",
    )
    .await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
}
