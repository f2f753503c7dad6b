//! The operations API (API key required): recorded webhook calls and log deliveries.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use chrono::{DateTime, Utc};
use dialogic_store::{Attempt, Delivery, DeliveryQuery, DeliveryStatus, WebhookCallQuery};
use serde_json::{json, Value};

use super::request::query_map;
use crate::envelope::ApiError;
use crate::state::SharedState;

fn limit(q: &std::collections::HashMap<String, String>) -> Result<u32, ApiError> {
    match q.get("limit") {
        None => Ok(100),
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "Invalid value for query parameter 'limit': must be an integer from 1 to 1000",
            )),
        },
    }
}

pub async fn webhook_calls(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query_map(raw.as_deref());
    if let Some(k) = q.get("kind") {
        if !matches!(k.as_str(), "pre_message" | "post_message" | "dialog") {
            return Err(ApiError::bad_request(
                "Invalid value for query parameter 'kind' (pre_message, post_message or dialog)",
            ));
        }
    }
    let query = WebhookCallQuery {
        assistant_id: q.get("assistant_id").cloned(),
        kind: q.get("kind").cloned(),
        failed_only: q.get("failed").is_some_and(|f| f == "true"),
        limit: limit(&q)?,
    };
    let calls = state
        .store
        .list_webhook_calls(&query)
        .await
        .map_err(|e| ApiError::internal("listing webhook calls failed", &e))?;
    let list: Vec<Value> = calls
        .into_iter()
        .map(|c| {
            json!({
                "id": c.id, "at": c.at, "assistant_id": c.assistant_id,
                "environment_id": c.environment_id, "session_id": c.session_id, "kind": c.kind,
                "url": c.url, "status_code": c.status_code, "latency_ms": c.latency_ms,
                "error": c.error, "request_body": c.request_body, "response_body": c.response_body,
            })
        })
        .collect();
    Ok(Json(json!({"webhook_calls": list})))
}

fn parse_status(s: &str) -> Result<DeliveryStatus, ApiError> {
    match s {
        "pending" => Ok(DeliveryStatus::Pending),
        "delivered" => Ok(DeliveryStatus::Delivered),
        "failed" => Ok(DeliveryStatus::Failed),
        "dead" => Ok(DeliveryStatus::Dead),
        _ => Err(ApiError::bad_request(
            "Invalid value for query parameter 'status' (pending, delivered, failed or dead)",
        )),
    }
}

fn delivery_json(d: &Delivery, attempts: &[Attempt]) -> Value {
    json!({
        "id": d.id, "assistant_id": d.assistant_id, "environment_id": d.environment_id,
        "session_id": d.session_id, "sequence": d.sequence, "event": d.event,
        "status": d.status.as_str(), "attempts_count": d.attempts, "due_at": d.due_at,
        "created_at": d.created_at, "lease_until": d.lease_until,
        "log_id": d.log_id,
        // Stored as the exact JSON text sent; shown as JSON (as text if it is not JSON).
        "body": serde_json::from_str::<Value>(&d.body).unwrap_or_else(|_| Value::String(d.body.clone())),
        "attempts": attempts.iter().map(|a| json!({
            "at": a.at, "status_code": a.status_code, "latency_ms": a.latency_ms,
            "response_body": a.response_body, "error": a.error,
        })).collect::<Vec<_>>(),
    })
}

pub async fn deliveries(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query_map(raw.as_deref());
    if let Some(s) = q.get("status") {
        parse_status(s)?;
    }
    let query = DeliveryQuery {
        assistant_id: q.get("assistant_id").cloned(),
        status: q.get("status").cloned(),
        limit: limit(&q)?,
    };
    let list = state
        .store
        .list_deliveries(&query)
        .await
        .map_err(|e| ApiError::internal("listing deliveries failed", &e))?;
    let list: Vec<Value> = list.iter().map(|(d, a)| delivery_json(d, a)).collect();
    Ok(Json(json!({"deliveries": list})))
}

pub async fn retry_one(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let found = state
        .store
        .retry_delivery(&id, Utc::now())
        .await
        .map_err(|e| ApiError::internal("retrying a delivery failed", &e))?;
    if !found {
        return Err(ApiError::not_found());
    }
    if let Some(n) = &state.notify_delivery {
        n();
    }
    Ok(Json(json!({"id": id, "status": "pending"})))
}

pub async fn retry_many(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query_map(raw.as_deref());
    let status = parse_status(q.get("status").map(String::as_str).unwrap_or("dead"))?;
    let since = match q.get("since") {
        None => None,
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    ApiError::bad_request(
                        "Invalid value for query parameter 'since': use an RFC 3339 time, e.g. 2026-01-01T00:00:00Z",
                    )
                })?
                .with_timezone(&Utc),
        ),
    };
    let n = state
        .store
        .retry_deliveries(status, since, Utc::now())
        .await
        .map_err(|e| ApiError::internal("retrying deliveries failed", &e))?;
    if let Some(notify) = &state.notify_delivery {
        notify();
    }
    Ok(Json(json!({"retried": n})))
}
