//! `GET /healthz` (the process answers) and `GET /readyz` (storage reachable).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::state::SharedState;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<SharedState>) -> (StatusCode, Json<Value>) {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "storage": state.store.backend()})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "storage not reachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"status": "unavailable", "storage": state.store.backend(), "error": "storage not reachable"}),
                ),
            )
        }
    }
}
