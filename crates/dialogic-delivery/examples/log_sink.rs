//! A fast log-webhook receiver for throughput runs: answers 200 to every POST and prints, once a
//! second, how many requests and distinct `webhook-id`s it has seen.
//!
//!     cargo run --release -p dialogic-delivery --example log_sink -- 127.0.0.1:9100

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;

#[derive(Default)]
struct Seen {
    requests: u64,
    ids: HashSet<String>,
}

async fn receive(State(seen): State<Arc<Mutex<Seen>>>, headers: HeaderMap) -> &'static str {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let Ok(mut s) = seen.lock() {
        s.requests += 1;
        s.ids.insert(id);
    }
    "ok"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9100".to_string());
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let app = axum::Router::new()
        .fallback(receive)
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("log_sink listening on {addr}");
    let report = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Ok(s) = report.lock() {
                println!("requests {} distinct {}", s.requests, s.ids.len());
            }
        }
    });
    axum::serve(listener, app).await
}
