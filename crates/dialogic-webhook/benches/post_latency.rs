//! Added latency of one webhook call over the receiver's own time.
//!
//! ```text
//! cargo bench -p dialogic-webhook --bench post_latency
//! ```
//! An in-process axum receiver on 127.0.0.1 echoes a pre-message payload (parse + serialise,
//! like the refpipe echo hook) and measures its own handler time; the client posts sequentially
//! over one pooled connection. Reported: p50/p90/p99 of the whole `Client::post` and of
//! `post - receiver handler time`, for no auth and for the JWT + Standard Webhooks signature.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use dialogic_webhook::watson::{envelope_bytes, pre_message_envelope, pre_outcome};
use dialogic_webhook::{Auth, Client, ClientOptions, OutboundRequest, Secret, Target};
use serde_json::{json, Value};

const WARMUP: usize = 2_000;
const CALLS: usize = 20_000;

async fn echo(State(handler_nanos): State<Arc<AtomicU64>>, body: Bytes) -> Vec<u8> {
    let started = Instant::now();
    let envelope: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let out = serde_json::to_vec(&json!({"payload": envelope["payload"]})).unwrap_or_default();
    handler_nanos.store(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let handler_nanos = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/", post(echo))
        .with_state(handler_nanos.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::new(ClientOptions {
        allow_http: true,
        allow_private_addresses: true,
        ..ClientOptions::default()
    })
    .expect("client");
    let request = json!({
        "input": {"message_type": "text", "text": "I would like to book a table for two tonight", "options": {"return_context": true}},
        "context": {
            "global": {"session_id": "5f1e1c9e-3d5a-4a77-9e41-7c3f3b0c2a11", "system": {"turn_count": 3, "user_id": "u-42", "timezone": "Europe/Paris"}},
            "skills": {"main skill": {"user_defined": {"name": "Ada", "party_size": 2, "cuisine": "italian"}, "system": {"state": "eyJkaWFsb2dfc3RhY2siOlt7ImRpYWxvZ19ub2RlIjoicm9vdCJ9XX0="}}}
        },
        "user_id": "u-42"
    });
    let body = envelope_bytes(&pre_message_envelope(&request));
    println!(
        "payload {} bytes, {CALLS} sequential calls after {WARMUP} warm-up",
        body.len()
    );

    for (name, auth) in [
        ("no auth", Auth::None),
        ("JWT + signature", Auth::Jwt(Secret::new("purple unicorn"))),
    ] {
        let target = Target {
            url: format!("http://{addr}/"),
            auth,
            headers: vec![("X-Tenant".into(), "acme".into())],
            timeout: Duration::from_secs(8),
        };
        let mut total = Vec::with_capacity(CALLS);
        let mut added = Vec::with_capacity(CALLS);
        for i in 0..WARMUP + CALLS {
            let call = OutboundRequest::new(body.clone());
            let started = Instant::now();
            let result = client.post(&target, &call).await;
            let outcome = pre_outcome(&request, &result);
            let elapsed = started.elapsed();
            assert!(outcome.is_ok(), "{outcome:?}");
            if i >= WARMUP {
                let receiver = Duration::from_nanos(handler_nanos.load(Ordering::Relaxed));
                total.push(elapsed);
                added.push(elapsed.saturating_sub(receiver));
            }
        }
        total.sort();
        added.sort();
        println!(
            "{name:>16}: post+apply p50 {} p90 {} p99 {} | added over receiver p50 {} p90 {} p99 {}",
            micros(percentile(&total, 0.5)),
            micros(percentile(&total, 0.9)),
            micros(percentile(&total, 0.99)),
            micros(percentile(&added, 0.5)),
            micros(percentile(&added, 0.9)),
            micros(percentile(&added, 0.99)),
        );
    }
}
