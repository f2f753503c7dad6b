//! An example pre/post-message webhook receiver that verifies Dialogic's calls.
//!
//! ```text
//! WEBHOOK_SECRET='purple unicorn' cargo run -p dialogic-webhook --example receiver
//! ```
//! Listens on 127.0.0.1:3000 (or `$PORT`). For every POST it checks the `Authorization` JWT
//! (unless you configured your own Authorization header) and the Standard Webhooks
//! signature over the raw body, then answers Watson-style: `message_received` gets its payload
//! back with the input text trimmed, `message_processed` gets its payload back unchanged, and
//! anything else (e.g. `message_logged`) gets `200 {}`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use dialogic_webhook::{verify_jwt, verify_signature, DEFAULT_TOLERANCE};
use serde_json::{json, Value};

async fn hook(State(secret): State<String>, headers: HeaderMap, body: Bytes) -> Response {
    // 1. The exact bytes: verify before parsing.
    if let Err(e) = verify_signature(&secret, &headers, &body, DEFAULT_TOLERANCE) {
        eprintln!("refused: {e}");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // 2. The Watson-compatible JWT (what IBM's samples check).
    let jwt = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Err(e) = verify_jwt(jwt, &secret) {
        eprintln!("refused: {e}");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(mut envelope) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let event = envelope["event"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut payload = envelope["payload"].take();
    match event.as_str() {
        "message_received" => {
            if let Some(text) = payload["input"]["text"].as_str() {
                payload["input"]["text"] = json!(text.trim());
            }
            Json(json!({ "payload": payload })).into_response()
        }
        "message_processed" => Json(json!({ "payload": payload })).into_response(),
        _ => Json(json!({})).into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let secret = std::env::var("WEBHOOK_SECRET").unwrap_or_default();
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let app = Router::new().route("/", post(hook)).with_state(secret);
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
