//! A real in-process webhook receiver (axum on 127.0.0.1:0) whose answers can be changed
//! mid-test, globally or per `webhook-id`, and which keeps a ledger of everything it got,
//! including which deliveries were in flight at the same time.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::Notify;

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub delay: Duration,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Answer {
            status,
            delay: Duration::ZERO,
            headers: Vec::new(),
            body: String::new(),
        }
    }
    pub fn ok() -> Self {
        Answer::status(200).body("ok")
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: String,
    pub sequence: Option<i64>,
    pub session: Option<String>,
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub json: Value,
    /// The status this request was answered with (the client may have given up before).
    pub answered: u16,
}

#[derive(Default)]
struct Ledger {
    default: Option<Answer>,
    by_id: HashMap<String, VecDeque<Answer>>,
    hits: Vec<Hit>,
    in_flight: HashMap<String, usize>,
    in_flight_total: usize,
    max_in_flight: usize,
    /// Ids (and `session:<id>` keys) that arrived while the same one was still in flight.
    overlaps: Vec<String>,
}

struct Shared {
    ledger: Mutex<Ledger>,
    arrived: Notify,
}

pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Decrements the in-flight counts even when the client gives up and the handler is dropped.
struct InFlight {
    shared: Arc<Shared>,
    keys: Vec<String>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut l = self.shared.ledger.lock().unwrap();
        l.in_flight_total -= 1;
        for key in &self.keys {
            if let Some(n) = l.in_flight.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    l.in_flight.remove(key);
                }
            }
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, raw: Bytes) -> Response {
    let id = header(&headers, "webhook-id").unwrap_or_default();
    let sequence = header(&headers, "webhook-sequence").and_then(|s| s.parse().ok());
    let json: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let session = json["payload"]["session_id"].as_str().map(str::to_string);
    let mut keys = vec![id.clone()];
    if let Some(s) = &session {
        keys.push(format!("session:{s}"));
    }
    let answer = {
        let mut l = shared.ledger.lock().unwrap();
        let answer = l
            .by_id
            .get_mut(&id)
            .and_then(VecDeque::pop_front)
            .or_else(|| l.default.clone())
            .unwrap_or_else(Answer::ok);
        // The same event twice at once, or two events of one session at once.
        for key in &keys {
            let n = l.in_flight.entry(key.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                l.overlaps.push(key.clone());
            }
        }
        l.in_flight_total += 1;
        l.max_in_flight = l.max_in_flight.max(l.in_flight_total);
        l.hits.push(Hit {
            id: id.clone(),
            sequence,
            session,
            headers: headers.clone(),
            raw: raw.clone(),
            json,
            answered: answer.status,
        });
        answer
    };
    shared.arrived.notify_waiters();
    let _guard = InFlight {
        shared: Arc::clone(&shared),
        keys,
    };
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap(),
        answer.body.clone(),
    )
        .into_response();
    for (k, v) in &answer.headers {
        response.headers_mut().insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    response
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Arc::new(Shared {
            ledger: Mutex::new(Ledger::default()),
            arrived: Notify::new(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url: format!("http://{addr}/log"),
            shared,
            task,
        }
    }

    /// The answer for every request without a scripted one.
    pub fn answer_all(&self, answer: Answer) {
        self.shared.ledger.lock().unwrap().default = Some(answer);
    }

    /// Answers for the next requests with this `webhook-id`, in order.
    pub fn script(&self, id: &str, answers: impl IntoIterator<Item = Answer>) {
        self.shared
            .ledger
            .lock()
            .unwrap()
            .by_id
            .entry(id.to_string())
            .or_default()
            .extend(answers);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.ledger.lock().unwrap().hits.clone()
    }

    pub fn hits_for(&self, id: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.id == id).collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.ledger.lock().unwrap().max_in_flight
    }

    pub fn overlaps(&self) -> Vec<String> {
        self.shared.ledger.lock().unwrap().overlaps.clone()
    }

    /// Wait (bounded) until at least `n` requests arrived; true if they did.
    pub async fn wait_for_hits(&self, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let arrived = self.shared.arrived.notified();
            if self.hits().len() >= n {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, arrived).await.is_err() {
                return self.hits().len() >= n;
            }
        }
    }
}
