//! `spawn_app()` (the real server on 127.0.0.1:0 over a temp SQLite file) and an in-process
//! webhook receiver whose status, delay, body and headers can be changed mid-test.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dialogic_server::config::{load_str, LoadedConfig};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const V: &str = "version=2024-08-25";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub dir: PathBuf,
    pub storage_url: String,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), dialogic_server::ServerError>>>,
}

pub fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("dialogic-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The demo assistant with no webhooks.
pub const DEMO: &str = r#"
[[assistants]]
id = "demo"
skill = "builtin:demo"
"#;

/// Start the server with this config (TOML; webhooks may use http://127.0.0.1).
pub async fn spawn_app(toml: &str) -> TestApp {
    let dir = temp_dir();
    let url = format!("sqlite://{}", dir.join("dialogic.db").display());
    spawn_app_at(toml, dir, url).await
}

/// Start on a given storage url (restart tests, Postgres).
pub async fn spawn_app_at(toml: &str, dir: PathBuf, storage_url: String) -> TestApp {
    let full = format!("[webhooks]\nallow_http = true\nallow_private_addresses = true\n{toml}");
    spawn_app_at_exact(&full, dir, storage_url).await
}

/// Start with exactly this config (no local-development webhook settings added).
pub async fn spawn_app_at_exact(full: &str, dir: PathBuf, storage_url: String) -> TestApp {
    let mut loaded: LoadedConfig = load_str(full, &dir).expect("config parses");
    loaded.config.storage.url = storage_url.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(dialogic_server::run(loaded, listener, async {
        let _ = rx.await;
    }));
    let app = TestApp {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        dir,
        storage_url,
        stop: Some(tx),
        handle: Some(handle),
    };
    // Ready when /readyz answers (the store opens before the listener serves).
    for _ in 0..500 {
        if let Ok(r) = app.http.get(format!("{}/readyz", app.base)).send().await {
            if r.status() == 200 {
                return app;
            }
        }
        if app.handle.as_ref().is_some_and(|h| h.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut app = app;
    match app.handle.take().expect("handle").await {
        Ok(Err(e)) => panic!("server failed to start: {e:?}"),
        other => panic!("server did not become ready: {other:?}"),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{sep}{V}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("send");
        status_json(r).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut rb = self.http.post(self.url(path)).json(&body);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        status_json(rb.send().await.expect("send")).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        status_json(self.http.get(self.url(path)).send().await.expect("send")).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        status_json(self.http.delete(self.url(path)).send().await.expect("send")).await
    }

    pub async fn session(&self, assistant: &str) -> String {
        let (s, b) = self
            .post(&format!("/v2/assistants/{assistant}/sessions"), json!({}))
            .await;
        assert_eq!(s, 201, "{b}");
        b["session_id"].as_str().expect("session_id").to_owned()
    }

    /// Stateful message on the demo assistant.
    pub async fn say(&self, sid: &str, text: &str, options: Value) -> (u16, Value) {
        self.post(
            &format!("/v2/assistants/demo/sessions/{sid}/message"),
            json!({"input": {"text": text, "options": options}}),
        )
        .await
    }

    /// Stop gracefully and wait for the server to return.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("join").expect("server returned an error");
        }
    }
}

pub async fn status_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub fn texts(reply: &Value) -> Vec<String> {
    reply["output"]["generic"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|i| {
                    i["text"]
                        .as_str()
                        .or(i["title"].as_str())
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

type Responder = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

struct Behaviour {
    status: u16,
    delay: Duration,
    /// Raw body to answer with (overrides the responder).
    raw: Option<String>,
    headers: Vec<(String, String)>,
    responder: Responder,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    behaviour: Arc<Mutex<Behaviour>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Answers 200 with the request echoed (a pre/post hook that changes nothing).
    pub async fn start() -> Receiver {
        let behaviour = Arc::new(Mutex::new(Behaviour {
            status: 200,
            delay: Duration::ZERO,
            raw: None,
            headers: vec![],
            responder: Arc::new(|v: &Value| v.clone()),
        }));
        let received = Arc::new(Mutex::new(Vec::new()));
        let r = Receiver {
            url: String::new(),
            behaviour,
            received,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let app = axum::Router::new().fallback(handle).with_state(r.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            ..r
        }
    }

    pub fn respond_with(&self, f: impl Fn(&Value) -> Value + Send + Sync + 'static) {
        let mut b = self.behaviour.lock().unwrap();
        b.responder = Arc::new(f);
        b.raw = None;
    }
    pub fn set_status(&self, s: u16) {
        self.behaviour.lock().unwrap().status = s;
    }
    pub fn set_delay(&self, d: Duration) {
        self.behaviour.lock().unwrap().delay = d;
    }
    pub fn set_raw(&self, body: &str) {
        self.behaviour.lock().unwrap().raw = Some(body.to_owned());
    }
    pub fn set_headers(&self, h: &[(&str, &str)]) {
        self.behaviour.lock().unwrap().headers = h
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
    pub fn last(&self) -> Received {
        self.received()
            .last()
            .cloned()
            .expect("the receiver got a request")
    }
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

async fn handle(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    r.received.lock().unwrap().push(Received {
        headers,
        body: body.clone(),
    });
    let (status, delay, raw, extra, responder) = {
        let b = r.behaviour.lock().unwrap();
        (
            b.status,
            b.delay,
            b.raw.clone(),
            b.headers.clone(),
            b.responder.clone(),
        )
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let text = raw.unwrap_or_else(|| {
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        responder(&v).to_string()
    });
    let mut resp = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), text).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    for (k, v) in extra {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}
