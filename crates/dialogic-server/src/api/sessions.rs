//! `POST .../sessions` (201 `{"session_id"}`) and `DELETE .../sessions/{id}` (200 `{}`).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use dialogic_store::Session;
use serde_json::{json, Value};

use super::request::{json_body, query_map, require_version, resolve};
use crate::envelope::ApiError;
use crate::pipeline::context::MAIN_SKILL;
use crate::pipeline::log_record::timestamp;
use crate::state::SharedState;

pub async fn create(
    State(state): State<SharedState>,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_version(&query_map(raw.as_deref()))?;
    let env = resolve(&state, &params)?;
    // The optional body is `{"analytics": {...}}`; it must at least be JSON.
    if let Some(b) = json_body(body, state.max_body).await? {
        if !b.is_object() {
            return Err(ApiError::invalid_body(vec![crate::schema::FieldError {
                message: "the request body must be a JSON object".into(),
                path: "/".into(),
            }]));
        }
    }
    let now = Utc::now();
    let id = uuid::Uuid::now_v7().to_string();
    let context = json!({
        "global": {"system": {"session_start_time": timestamp(now), "turn_count": 0}, "session_id": id},
        "skills": {MAIN_SKILL: {"user_defined": {}, "system": {}}},
    });
    state
        .store
        .create_session(&Session {
            id: id.clone(),
            assistant_id: env.assistant_id.clone(),
            environment_id: env.id.clone(),
            context,
            created_at: now,
            last_active: now,
            timeout_secs: env.session_timeout.as_secs() as i64,
            version: 0,
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "creating a session failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error occurred while creating session",
            )
        })?;
    tracing::debug!(assistant_id = %env.assistant_id, environment_id = %env.id, session_id = %id, "session created");
    Ok((StatusCode::CREATED, Json(json!({"session_id": id}))))
}

pub async fn delete(
    State(state): State<SharedState>,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    require_version(&query_map(raw.as_deref()))?;
    let env = resolve(&state, &params)?;
    let sid = params.get("session_id").map(String::as_str).unwrap_or("");
    let existed = state
        .store
        .delete_session(&env.assistant_id, sid)
        .await
        .map_err(|e| ApiError::internal("deleting a session failed", &e))?;
    if !existed {
        return Err(ApiError::invalid_session());
    }
    Ok(Json(json!({})))
}
