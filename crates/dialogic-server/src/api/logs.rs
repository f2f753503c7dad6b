//! `GET /v2/assistants/{id}/logs` and `DELETE /v2/user_data?customer_id=`.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use dialogic_store::LogQuery;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::request::{query_map, require_version};
use crate::envelope::ApiError;
use crate::state::SharedState;

/// The body of a `/logs` page.
#[derive(Serialize)]
pub struct LogList {
    logs: Vec<Box<RawValue>>,
    pagination: Map<String, Value>,
}

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

pub async fn list(
    State(state): State<SharedState>,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<LogList>, ApiError> {
    let q = query_map(raw.as_deref());
    let version = require_version(&q)?;
    let id = params.get("assistant_id").cloned().unwrap_or_default();
    let assistant_id = match state.registry.assistant(&id) {
        Some(a) => a.id.clone(),
        None => state
            .registry
            .resolve(&id, None)
            .map(|e| e.assistant_id.clone())
            .ok_or_else(ApiError::not_found)?,
    };
    let mut query = LogQuery {
        assistant_id: assistant_id.clone(),
        limit: DEFAULT_PAGE,
        ..LogQuery::default()
    };
    match q.get("sort").map(String::as_str) {
        None | Some("-request_timestamp") => {}
        Some("request_timestamp") => query.ascending = true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid value for query parameter 'sort': {other:?} (use request_timestamp or -request_timestamp)"
            )))
        }
    }
    if let Some(l) = q.get("page_limit") {
        query.limit = match l.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid value for query parameter 'page_limit': must be an integer from 1 to {MAX_PAGE}"
                )))
            }
        };
    }
    if let Some(f) = q.get("filter") {
        apply_filter(&mut query, f)?;
    }
    query.cursor = q.get("cursor").cloned().filter(|c| !c.is_empty());
    let page = state.store.list_logs(&query).await.map_err(|e| match e {
        dialogic_store::StoreError::InvalidCursor => {
            ApiError::bad_request("Invalid cursor: use the next_cursor of a previous page")
        }
        e => ApiError::internal("listing logs failed", &e),
    })?;
    let mut pagination = Map::new();
    if let Some(cursor) = &page.next_cursor {
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        next.append_pair("version", &version);
        for key in ["sort", "filter", "page_limit"] {
            if let Some(v) = q.get(key) {
                next.append_pair(key, v);
            }
        }
        next.append_pair("cursor", cursor);
        pagination.insert(
            "next_url".into(),
            json!(format!("/v2/assistants/{id}/logs?{}", next.finish())),
        );
        pagination.insert("next_cursor".into(), json!(cursor));
    }
    pagination.insert("matched".into(), json!(page.matched));
    // The stored records are served byte for byte (checked to be JSON, not re-encoded).
    let logs = page
        .logs
        .into_iter()
        .map(|l| RawValue::from_string(l.record))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal("a stored log record is not JSON", &e))?;
    Ok(Json(LogList { logs, pagination }))
}

/// Watson's filter language, the parts that map onto the store: `customer_id::x` and
/// `session_id::x` (also as `request.context.global.session_id::x` or the response form),
/// joined with `,` (and).
fn apply_filter(query: &mut LogQuery, filter: &str) -> Result<(), ApiError> {
    for part in filter.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((field, value)) = part.split_once("::") else {
            return Err(ApiError::bad_request(format!(
                "Invalid filter {part:?}: use field::value, e.g. customer_id::abc"
            )));
        };
        match field.trim() {
            "customer_id" => query.customer_id = Some(value.to_owned()),
            "session_id"
            | "request.context.global.session_id"
            | "response.context.global.session_id" => query.session_id = Some(value.to_owned()),
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unsupported filter field {other:?} (supported: customer_id, session_id)"
                )))
            }
        }
    }
    Ok(())
}

pub async fn delete_user_data(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let q = query_map(raw.as_deref());
    require_version(&q)?;
    let customer = q
        .get("customer_id")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("Missing required query parameter 'customer_id'"))?;
    let n = state
        .store
        .delete_customer_data(customer)
        .await
        .map_err(|e| ApiError::internal("deleting user data failed", &e))?;
    tracing::info!(deleted = n, "customer data deleted");
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}
