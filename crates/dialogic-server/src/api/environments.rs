//! `GET /v2/assistants/{id}/environments[/{env}]` (called by IBM's Node SDK).

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use super::request::{query_map, require_version};
use crate::envelope::ApiError;
use crate::pipeline::context::MAIN_SKILL;
use crate::registry::Environment;
use crate::state::SharedState;

fn environment_json(e: &Environment) -> Value {
    json!({
        "name": e.name,
        "description": "",
        "assistant_id": e.assistant_id,
        "environment_id": e.id,
        "environment": e.kind,
        "session_timeout": e.session_timeout.as_secs(),
        "integration_references": [],
        "skill_references": [{
            "skill_id": e.skill_id,
            "type": "dialog",
            "disabled": false,
            "snapshot": e.snapshot(),
            "skill_reference": MAIN_SKILL,
        }],
    })
}

pub async fn list(
    State(state): State<SharedState>,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let version = require_version(&query_map(raw.as_deref()))?;
    let id = params.get("assistant_id").cloned().unwrap_or_default();
    let a = state
        .registry
        .assistant(&id)
        .ok_or_else(ApiError::not_found)?;
    let envs: Vec<Value> = a.environments.iter().map(|e| environment_json(e)).collect();
    Ok(Json(json!({
        "environments": envs,
        "pagination": {"refresh_url": format!("/v2/assistants/{id}/environments?version={version}")},
    })))
}

pub async fn get_one(
    State(state): State<SharedState>,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    require_version(&query_map(raw.as_deref()))?;
    let id = params.get("assistant_id").map(String::as_str).unwrap_or("");
    let env = params
        .get("environment_id")
        .map(String::as_str)
        .unwrap_or("");
    let a = state
        .registry
        .assistant(id)
        .ok_or_else(ApiError::not_found)?;
    let e = a.environment(env).ok_or_else(ApiError::not_found)?;
    Ok(Json(environment_json(e)))
}
