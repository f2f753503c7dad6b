//! `POST .../sessions/{id}/message` (stateful) and `POST .../message` (stateless).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde_json::{json, Value};

use super::request::{customer_id, json_body, query_map, require_version, resolve};
use crate::envelope::ApiError;
use crate::pipeline::{self, MessageCall, Mode};
use crate::schema::message_request_errors;
use crate::state::SharedState;

async fn read(
    state: &SharedState,
    params: &HashMap<String, String>,
    raw: Option<String>,
    body: Body,
) -> Result<(std::sync::Arc<crate::registry::Environment>, Value), ApiError> {
    require_version(&query_map(raw.as_deref()))?;
    let env = resolve(state, params)?;
    let body = json_body(body, state.max_body)
        .await?
        .unwrap_or_else(|| json!({}));
    let errors = message_request_errors(&body);
    if !errors.is_empty() {
        return Err(ApiError::invalid_body(errors));
    }
    Ok((env, body))
}

pub async fn stateful(
    State(state): State<SharedState>,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let (env, body) = read(&state, &params, raw, body).await?;
    let session_id = params.get("session_id").cloned().unwrap_or_default();
    let reply = pipeline::handle(
        &state,
        MessageCall {
            env,
            mode: Mode::Stateful { session_id },
            body,
            customer_id: customer_id(&headers),
        },
    )
    .await?;
    Ok(([(CONTENT_TYPE, "application/json")], reply))
}

pub async fn stateless(
    State(state): State<SharedState>,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let (env, body) = read(&state, &params, raw, body).await?;
    let reply = pipeline::handle(
        &state,
        MessageCall {
            env,
            mode: Mode::Stateless,
            body,
            customer_id: customer_id(&headers),
        },
    )
    .await?;
    Ok(([(CONTENT_TYPE, "application/json")], reply))
}
