//! floor: the least any implementation of issues 3 and 8 can do per message, on refpipe's own
//! stack (hyper, pooled keep-alive client), with no NLU, no dialog and no configuration:
//!
//!   floor serve ADDR DB [URL..]        (DB "-": build the log record, store nothing)
//!
//! Per POST: parse the JSON request; call each URL in turn as a Watson pre / post-message webhook
//! would be called (the `{"event", "options", "payload"}` envelope, a JWT in `Authorization`,
//! a Standard Webhooks `webhook-signature`), parse each answer and take its `payload`; build the
//! demo skill's reply (the same bytes Dialogic answers `{"input":{"text":"I want a large pizza"}}`
//! with) and the turn's Watson log record; commit the log record and one row per webhook call in
//! one SQLite transaction (Dialogic's schema and pragmas, group commit on one writer thread, as
//! Dialogic's writer does); answer the client once it is committed.
//!
//! What Dialogic does on top: configuration, routing and API keys, schema validation of the
//! request and of every webhook answer, the classifier, the dialog engine, context merging,
//! private-variable stripping, error envelopes, tracing. So the ratio of this program to refpipe
//! bounds the ratio Dialogic can reach.
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, Request, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use sha2::Sha256;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Cl = Client<HttpConnector, Full<Bytes>>;
const SECRET: &[u8] = b"bench secret";

/// `FLOOR_ACK=before`: answer the client without waiting for the commit (not durable: a crash
/// loses turns already answered), to show what waiting for the commit costs.
static ACK_BEFORE_COMMIT: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var("FLOOR_ACK").as_deref() == Ok("before"));

/// One webhook call, recorded as Dialogic records it.
struct Call {
    id: String,
    url: String,
    kind: &'static str,
    status: u16,
    latency_ms: i64,
    request: String,
    response: String,
}

/// One turn for the writer: the log row and the turn's webhook calls.
struct Turn {
    log_id: String,
    session_id: String,
    at: i64,
    record: String,
    calls: Vec<Call>,
    done: oneshot::Sender<()>,
}

fn micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS logs (
    log_id TEXT PRIMARY KEY NOT NULL, assistant_id TEXT NOT NULL, environment_id TEXT NOT NULL,
    session_id TEXT NOT NULL, customer_id TEXT, request_timestamp INTEGER NOT NULL,
    response_timestamp INTEGER NOT NULL, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_assistant_order ON logs (assistant_id, request_timestamp, log_id);
CREATE INDEX IF NOT EXISTS logs_session_order ON logs (session_id, request_timestamp, log_id);
CREATE INDEX IF NOT EXISTS logs_customer_order ON logs (customer_id, request_timestamp, log_id)
    WHERE customer_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS webhook_calls (
    n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, at INTEGER NOT NULL,
    assistant_id TEXT NOT NULL, environment_id TEXT NOT NULL, session_id TEXT, kind TEXT NOT NULL,
    url TEXT NOT NULL, status_code INTEGER, latency_ms INTEGER NOT NULL, error TEXT,
    request_body TEXT NOT NULL, response_body TEXT);
CREATE INDEX IF NOT EXISTS webhook_calls_at ON webhook_calls (at, n);
CREATE INDEX IF NOT EXISTS webhook_calls_assistant_at ON webhook_calls (assistant_id, at, n);
";

/// How the writer stores turns (`FLOOR_STORE`): `rows` (default) is Dialogic's schema, a row
/// per log record and per webhook call with their indexes; `bare` is a row per log record and
/// per call with no index at all (the cheapest row-per-turn SQLite can do); `blob` is one row per
/// commit holding every record of the batch (no per-turn row at all).
#[derive(Clone, Copy, PartialEq)]
enum Store {
    Rows,
    Bare,
    Blob,
}

/// The writer thread: takes every turn queued, commits them in one transaction, answers each.
fn writer(path: String, mut rx: mpsc::Receiver<Turn>) {
    let store = match std::env::var("FLOOR_STORE").as_deref() {
        Ok("bare") => Store::Bare,
        Ok("blob") => Store::Blob,
        _ => Store::Rows,
    };
    let sync = std::env::var("FLOOR_SYNC").unwrap_or_else(|_| "NORMAL".into());
    let checkpoint = std::env::var("FLOOR_WAL_PAGES").unwrap_or_else(|_| "1000".into());
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA cache_size=-65536; \
         PRAGMA wal_autocheckpoint={checkpoint}; PRAGMA temp_store=MEMORY; PRAGMA foreign_keys=ON;"
    ))
    .unwrap();
    match store {
        Store::Rows => conn.execute_batch(SCHEMA).unwrap(),
        Store::Bare => conn
            .execute_batch(
                "CREATE TABLE logs (n INTEGER PRIMARY KEY, log_id TEXT, session_id TEXT, at INTEGER, record TEXT);
                 CREATE TABLE webhook_calls (n INTEGER PRIMARY KEY, id TEXT, at INTEGER, kind TEXT, url TEXT,
                   status_code INTEGER, latency_ms INTEGER, request_body TEXT, response_body TEXT);",
            )
            .unwrap(),
        Store::Blob => conn.execute_batch("CREATE TABLE batches (n INTEGER PRIMARY KEY, records TEXT)").unwrap(),
    }
    let mut batch = Vec::new();
    let mut blob = String::new();
    let (mut commits, mut turns) = (0u64, 0u64);
    while let Some(t) = rx.blocking_recv() {
        batch.push(t);
        while let Ok(t) = rx.try_recv() {
            batch.push(t);
        }
        let tx = conn.unchecked_transaction().unwrap();
        if store == Store::Blob {
            blob.clear();
            for t in &batch {
                blob.push_str(&t.record);
                blob.push('\n');
                for c in &t.calls {
                    blob.push_str(&c.request);
                    blob.push('\n');
                    blob.push_str(&c.response);
                    blob.push('\n');
                }
            }
            tx.prepare_cached("INSERT INTO batches (records) VALUES (?1)")
                .unwrap()
                .execute(params![blob])
                .unwrap();
        }
        for t in batch.iter().filter(|_| store != Store::Blob) {
            if store == Store::Rows {
                tx.prepare_cached(
                    "INSERT INTO logs VALUES (?1, 'demo', 'live', ?2, NULL, ?3, ?3, ?4)",
                )
                .unwrap()
                .execute(params![t.log_id, t.session_id, t.at, t.record])
                .unwrap();
            } else {
                tx.prepare_cached(
                    "INSERT INTO logs (log_id, session_id, at, record) VALUES (?1, ?2, ?3, ?4)",
                )
                .unwrap()
                .execute(params![t.log_id, t.session_id, t.at, t.record])
                .unwrap();
            }
            for c in &t.calls {
                let sql = if store == Store::Rows {
                    "INSERT INTO webhook_calls (id, at, assistant_id, environment_id, session_id, \
                     kind, url, status_code, latency_ms, error, request_body, response_body) \
                     VALUES (?1, ?2, 'demo', 'live', ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9)"
                } else {
                    "INSERT INTO webhook_calls (id, at, kind, url, status_code, latency_ms, \
                     request_body, response_body) VALUES (?1, ?2, ?4, ?5, ?6, ?7, ?8, ?9)"
                };
                tx.prepare_cached(sql)
                    .unwrap()
                    .execute(params![
                        c.id,
                        t.at,
                        t.session_id,
                        c.kind,
                        c.url,
                        c.status,
                        c.latency_ms,
                        c.request,
                        c.response
                    ])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        commits += 1;
        turns += batch.len() as u64;
        if commits % 100_000 == 0 {
            eprintln!(
                "{turns} turns in {commits} commits: {:.1} per commit",
                turns as f64 / commits as f64
            );
        }
        for t in batch.drain(..) {
            let _ = t.done.send(());
        }
    }
}

/// `Authorization` as Watson sends it: a bare HS256 JWT with `iat` and `exp`.
fn jwt(now: u64) -> String {
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iat":{now},"exp":{}}}"#, now + 300));
    let input = format!("{head}.{claims}");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The Standard Webhooks signature over `id.timestamp.body`.
fn signature(id: &str, ts: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// POSTs `message` to `url` in Watson's webhook envelope, signed; the top-level keys of the
/// answer's `payload` replace `message`'s. Returns the call's record.
async fn call(
    client: &Cl,
    url: &hyper::Uri,
    kind: &'static str,
    event: &str,
    message: &mut Value,
) -> Call {
    let body =
        serde_json::to_vec(&json!({"event": {"name": event}, "options": {}, "payload": message}))
            .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let req = Request::post(url.clone())
        .header("content-type", "application/json")
        .header("user-agent", "floor/0.1")
        .header("authorization", jwt(now))
        .header("webhook-id", &id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature(&id, now, &body))
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let started = Instant::now();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let answer = resp.into_body().collect().await.unwrap().to_bytes();
    let latency_ms = started.elapsed().as_millis() as i64;
    let mut parsed: Value = serde_json::from_slice(&answer).unwrap();
    if let Some(Value::Object(keys)) = parsed.get_mut("payload").map(Value::take) {
        for (k, v) in keys {
            message[k] = v;
        }
    }
    Call {
        id,
        url: url.to_string(),
        kind,
        status,
        latency_ms,
        request: String::from_utf8(body).unwrap(),
        response: String::from_utf8(answer.to_vec()).unwrap(),
    }
}

/// The demo skill's answer to "I want a large pizza", for this turn's ids.
fn reply(session_id: &str, start: &str) -> Value {
    json!({"output":{"generic":[{"response_type":"text","text":"Great, one large pizza is on its way!"}],
      "intents":[{"intent":"order_pizza","confidence":0.9894}],
      "entities":[{"entity":"pizza_size","location":[9,14],"value":"large","confidence":1.0,"literal":"large"}]},
      "user_id":session_id,
      "context":{"global":{"system":{"session_start_time":start,"turn_count":1,"user_id":session_id},"session_id":session_id},
        "skills":{"main skill":{"user_defined":{"pizza_size":"large","pizza_orders":1},"system":{"state":"eyJ2IjoxLCJzdGFydGVkIjp0cnVlfQ=="}}}}})
}

async fn turn(
    body: Bytes,
    client: Cl,
    urls: Arc<Vec<hyper::Uri>>,
    log: Option<mpsc::Sender<Turn>>,
) -> Response<Full<Bytes>> {
    let at = micros();
    let start = "2026-12-07T00:56:03.017Z";
    let session_id = uuid::Uuid::now_v7().to_string();
    let mut request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !request.is_object() {
        return Response::builder()
            .status(400)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
    }
    request["context"] = json!({"global":{"system":{"session_start_time":start,"turn_count":1,"user_id":session_id},"session_id":session_id},"skills":{"main skill":{"user_defined":{},"system":{}}}});
    request["user_id"] = json!(session_id);
    let mut calls = Vec::new();
    if let Some(pre) = urls.first() {
        calls.push(
            call(
                &client,
                pre,
                "pre_message",
                "message_received",
                &mut request,
            )
            .await,
        );
    }
    let mut response = reply(&session_id, start);
    if let Some(post) = urls.get(1) {
        calls.push(
            call(
                &client,
                post,
                "post_message",
                "message_processed",
                &mut response,
            )
            .await,
        );
    }
    let response_text = serde_json::to_string(&response).unwrap();
    let log_id = uuid::Uuid::now_v7().to_string();
    let record = format!(
        r#"{{"log_id":"{log_id}","request":{},"response":{response_text},"assistant_id":"demo","environment_id":"live","session_id":"{session_id}","skill_id":"dialogic-demo","snapshot":"live","request_timestamp":"{start}","response_timestamp":"{start}","language":"en"}}"#,
        serde_json::to_string(&request).unwrap()
    );
    if let Some(log) = log {
        let (done, committed) = oneshot::channel();
        log.send(Turn {
            log_id,
            session_id,
            at,
            record,
            calls,
            done,
        })
        .await
        .ok();
        if !*ACK_BEFORE_COMMIT {
            committed.await.ok();
        }
    } else {
        std::hint::black_box((record, calls));
    }
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(response_text)))
        .unwrap()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 || args[1] != "serve" {
        eprintln!("usage: floor serve ADDR DB [PRE_URL [POST_URL]]");
        std::process::exit(2);
    }
    let urls: Arc<Vec<hyper::Uri>> =
        Arc::new(args[4..].iter().map(|u| u.parse().unwrap()).collect());
    // DB "-" stores nothing: the same turn without its commit, to split the floor in two.
    let log = (args[3] != "-").then(|| {
        let (log, rx) = mpsc::channel(1024);
        let db = args[3].clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer(db, rx))
            .unwrap();
        log
    });
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    let client: Cl = Client::builder(TokioExecutor::new()).build(conn);
    let l = TcpListener::bind(&args[2]).await.unwrap();
    loop {
        let (s, _) = l.accept().await.unwrap();
        s.set_nodelay(true).ok();
        let (client, urls, log) = (client.clone(), urls.clone(), log.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |r: Request<Incoming>| {
                let (client, urls, log) = (client.clone(), urls.clone(), log.clone());
                async move {
                    let body = r
                        .into_body()
                        .collect()
                        .await
                        .map(|c| c.to_bytes())
                        .unwrap_or_default();
                    Ok::<_, Infallible>(turn(body, client, urls, log).await)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(s), svc)
                .await;
        });
    }
}
