//! The life of one message: session context -> pre_message hook -> NLU + dialog turn (with
//! dialog webhook calls) -> post_message hook -> ONE commit (session + log + outbox) -> reply.

pub mod context;
mod dialog_turn;
pub mod hooks;
pub mod log_record;
pub mod record;

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use dialogic_store::{Session, SessionUpdate, StoreError, TurnCommit};
use serde_json::{json, Map, Value};

use self::context::{
    apply_user_id, bump_turn_count, deep_merge, dialog_state, ensure_shape, object_at, option_flag,
    protect, session_id_of, size_of, trim_stateful_reply, value_at, SESSION_STATE_LIMIT,
};
use self::hooks::{CallScope, HookOutcome};
use self::record::CallLog;
use crate::config::OnError;
use crate::envelope::ApiError;
use crate::registry::Environment;
use crate::state::AppState;

/// How often a stateful turn is re-run after another process changed the session.
const MAX_ATTEMPTS: usize = 5;

/// Stateful (a stored session) or stateless (the client keeps the context).
#[derive(Debug, Clone)]
pub enum Mode {
    Stateful { session_id: String },
    Stateless,
}

/// One validated `/message` request.
pub struct MessageCall {
    pub env: Arc<Environment>,
    pub mode: Mode,
    pub body: Value,
    pub customer_id: Option<String>,
}

/// Run a message through the pipeline; the value is the JSON answer for the client, serialised.
pub async fn handle(state: &AppState, mut call: MessageCall) -> Result<Bytes, ApiError> {
    match &call.mode {
        Mode::Stateless => {
            let mut calls = CallLog::default();
            // Moved, not copied: a stateless turn runs once.
            let body = std::mem::take(&mut call.body);
            let result = turn(state, &call, body, None, Utc::now(), &mut calls).await;
            let done = with_calls(state, result, calls)?;
            commit(state, &done.commit).await?;
            Ok(done.reply)
        }
        Mode::Stateful { session_id } => {
            let _guard = state
                .locks
                .lock(&format!("{}\u{0}{}", call.env.assistant_id, session_id))
                .await;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let now = Utc::now();
                let session = state
                    .store
                    .load_session(&call.env.assistant_id, session_id, now)
                    .await
                    .map_err(|e| ApiError::internal("loading a session failed", &e))?
                    .filter(|s| s.environment_id == call.env.id)
                    .ok_or_else(ApiError::invalid_session)?;
                let mut calls = CallLog::default();
                // A copy per attempt: the turn re-runs if the session changed underneath it.
                let body = call.body.clone();
                let result = turn(state, &call, body, Some(&session), now, &mut calls).await;
                let mut done = with_calls(state, result, calls)?;
                match state.store.commit_turn(&done.commit).await {
                    Err(StoreError::Conflict(_)) if attempt < MAX_ATTEMPTS => {
                        // The calls did happen: keep their records, though the turn re-runs.
                        CallLog {
                            records: std::mem::take(&mut done.commit.calls),
                        }
                        .spawn_store(state.store.clone());
                        tracing::info!(session_id = %session_id, attempt, "session changed concurrently; re-running the turn");
                        continue;
                    }
                    Err(StoreError::NotFound) => return Err(ApiError::invalid_session()),
                    Err(e) => return Err(ApiError::internal("committing a turn failed", &e)),
                    Ok(()) => {
                        notify(state, &done.commit);
                        return Ok(done.reply);
                    }
                }
            }
        }
    }
}

/// A finished turn carries its webhook call records into its commit; a failed one stores
/// them on their own.
fn with_calls(
    state: &AppState,
    result: Result<Done, ApiError>,
    calls: CallLog,
) -> Result<Done, ApiError> {
    match result {
        Ok(mut done) => {
            done.commit.calls = calls.records;
            Ok(done)
        }
        Err(e) => {
            calls.spawn_store(state.store.clone());
            Err(e)
        }
    }
}

async fn commit(state: &AppState, c: &TurnCommit) -> Result<(), ApiError> {
    state
        .store
        .commit_turn(c)
        .await
        .map_err(|e| ApiError::internal("committing a turn failed", &e))?;
    notify(state, c);
    Ok(())
}

fn notify(state: &AppState, c: &TurnCommit) {
    if !c.deliveries.is_empty() {
        if let Some(n) = &state.notify_delivery {
            n();
        }
    }
}

struct Done {
    commit: TurnCommit,
    /// The client's answer, serialised.
    reply: Bytes,
}

fn serialize_failed(e: serde_json::Error) -> ApiError {
    ApiError::internal("serialising a turn failed", &e)
}

fn to_bytes(v: &Value) -> Result<Bytes, ApiError> {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .map_err(serialize_failed)
}

fn state_too_large() -> ApiError {
    ApiError::bad_request("Session state exceeds the 130kb size limit")
}

/// One run of the pipeline for `body` (the call's request body).
async fn turn(
    state: &AppState,
    call: &MessageCall,
    body: Value,
    session: Option<&Session>,
    now: DateTime<Utc>,
    calls: &mut CallLog,
) -> Result<Done, ApiError> {
    let env = &*call.env;
    let mut request = match body {
        Value::Object(m) => Value::Object(m),
        _ => Value::Object(Map::new()),
    };
    // Taken out of the request (its key stays in place, so the logged request keeps the
    // client's key order) and put back merged below.
    let client_ctx = match request.get_mut("context") {
        Some(c @ Value::Object(_)) => std::mem::take(c),
        _ => json!({}),
    };
    if session.is_some() && size_of(&client_ctx) > SESSION_STATE_LIMIT {
        return Err(state_too_large());
    }
    let (mut ctx, session_id) = match session {
        Some(s) => {
            let mut c = s.context.clone();
            deep_merge(&mut c, &client_ctx);
            (c, s.id.clone())
        }
        None => {
            let sid = session_id_of(&client_ctx)
                .map(str::to_owned)
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            (client_ctx, sid)
        }
    };
    ensure_shape(&mut ctx, &session_id);
    object_at(&mut ctx, &["global", "system"])
        .entry("session_start_time")
        .or_insert_with(|| json!(log_record::timestamp(now)));
    bump_turn_count(&mut ctx);
    set(&mut request, "context", ctx);
    apply_user_id(&mut request, &session_id);

    let scope = CallScope {
        assistant: &env.assistant_id,
        environment: &env.id,
        session: &session_id,
    };
    let mut failures: Vec<String> = Vec::new();

    if let Some(hook) = &env.pre_message {
        let before = dialog_state(&request["context"]);
        match hooks::pre_message(&state.client, hook, &request, &scope, calls).await {
            HookOutcome::Replaced(mut new) => {
                protect(
                    object_or_new(&mut new, "context"),
                    &session_id,
                    before.as_ref(),
                );
                apply_user_id(&mut new, &session_id);
                request = new;
            }
            HookOutcome::Skipped(body) => {
                return skipped(env, session, &session_id, call, request, body, now);
            }
            HookOutcome::Failed(message) => {
                if hook.on_error == OnError::Fail {
                    return Err(ApiError::webhook(message));
                }
                failures.push(format!("pre_message webhook failed: {message}"));
            }
        }
    }

    let size_in = if session.is_some() {
        size_of(&request["context"])
    } else {
        0
    };
    let out = dialog_turn::run(
        &state.client,
        env,
        &mut request,
        now,
        &scope,
        calls,
        &mut failures,
    )
    .await;
    if session.is_some() {
        let size_out = size_of(&out.context);
        // Only context the skill produced counts: context a webhook wrote (up to the 4 MB
        // webhook response cap) is persisted without failing the turn.
        if size_out > SESSION_STATE_LIMIT && size_in <= SESSION_STATE_LIMIT {
            return Err(state_too_large());
        }
    }
    let user_id = request.get("user_id").cloned().unwrap_or(Value::Null);
    // Moved in, not `json!` (which would copy the output and context once more).
    let mut response = Map::new();
    response.insert("output".into(), out.output);
    response.insert("user_id".into(), user_id);
    response.insert("context".into(), out.context);
    let mut response = Value::Object(response);

    if let Some(hook) = &env.post_message {
        let before = dialog_state(&response["context"]);
        match hooks::post_message(&state.client, hook, &response, &scope, calls).await {
            HookOutcome::Replaced(mut new) => {
                protect(
                    object_or_new(&mut new, "context"),
                    &session_id,
                    before.as_ref(),
                );
                response = new;
            }
            HookOutcome::Skipped(_) => {}
            HookOutcome::Failed(message) => {
                if hook.on_error == OnError::Fail {
                    return Err(ApiError::webhook(message));
                }
                failures.push(format!("post_message webhook failed: {message}"));
            }
        }
    }
    let debug = option_flag(&request, "debug");
    if debug && !failures.is_empty() {
        let output = object_or_new(&mut response, "output");
        let messages = object_at(output, &["debug"])
            .entry("log_messages")
            .or_insert_with(|| json!([]));
        if let Value::Array(list) = messages {
            for f in failures {
                list.push(json!({"level": "error", "message": f, "code": "webhook_failed"}));
            }
        }
    }

    let (return_context, export) = (
        option_flag(&request, "return_context"),
        option_flag(&request, "export"),
    );
    let response_ts = Utc::now();
    let logged = log_record::logged_response(&response).map_err(serialize_failed)?;
    let (log, delivery) = log_record::build(
        &log_record::TurnFacts {
            env,
            session_id: &session_id,
            customer_id: call.customer_id.as_deref(),
            response: &logged.json,
            request_timestamp: now,
            response_timestamp: response_ts,
        },
        request,
    )
    .map_err(serialize_failed)?;
    // The session keeps the response's context; the reply carries it only when the client
    // asked for it (return_context / export), so otherwise it is moved out, not copied.
    let session_update = session.map(|s| {
        let context = if return_context || export {
            response.get("context").cloned()
        } else {
            response.as_object_mut().and_then(|m| m.remove("context"))
        };
        SessionUpdate {
            id: s.id.clone(),
            expected_version: s.version,
            context: context.unwrap_or_else(|| json!({})),
            last_active: response_ts,
        }
    });
    let commit = TurnCommit {
        session: session_update,
        log,
        deliveries: delivery.into_iter().collect(),
        calls: Vec::new(),
    };
    let reply = if session.is_some() {
        let mut reply = response;
        trim_stateful_reply(&mut reply, return_context, export, debug);
        to_bytes(&reply)?
    } else if logged.whole {
        // Stateless: the whole response, already serialised for the log.
        Bytes::copy_from_slice(logged.json.get().as_bytes())
    } else {
        to_bytes(&response)?
    };
    Ok(Done { commit, reply })
}

/// The pre-message webhook answered instead of the skill: log the turn, keep the session's
/// context (plus the skill variables the answer carries), and answer with its body as is.
fn skipped(
    env: &Environment,
    session: Option<&Session>,
    session_id: &str,
    call: &MessageCall,
    request: Value,
    body: Value,
    now: DateTime<Utc>,
) -> Result<Done, ApiError> {
    let mut ctx = request.get("context").cloned().unwrap_or_else(|| json!({}));
    if let Some(Value::Object(skills)) = value_at(&body, &["context", "skills"]) {
        for (name, skill) in skills {
            for key in ["user_defined", "skill_variables"] {
                if let Some(v @ Value::Object(_)) = skill.get(key) {
                    let target = object_at(&mut ctx, &["skills", name, key]);
                    let mut merged = Value::Object(std::mem::take(target));
                    deep_merge(&mut merged, v);
                    if let Value::Object(m) = merged {
                        *target = m;
                    }
                }
            }
        }
    }
    let response_ts = Utc::now();
    let logged = log_record::logged_response(&body).map_err(serialize_failed)?;
    let (log, delivery) = log_record::build(
        &log_record::TurnFacts {
            env,
            session_id,
            customer_id: call.customer_id.as_deref(),
            response: &logged.json,
            request_timestamp: now,
            response_timestamp: response_ts,
        },
        request,
    )
    .map_err(serialize_failed)?;
    let reply = if logged.whole {
        Bytes::copy_from_slice(logged.json.get().as_bytes())
    } else {
        to_bytes(&body)?
    };
    Ok(Done {
        commit: TurnCommit {
            session: session.map(|s| SessionUpdate {
                id: s.id.clone(),
                expected_version: s.version,
                context: ctx,
                last_active: response_ts,
            }),
            log,
            deliveries: delivery.into_iter().collect(),
            calls: Vec::new(),
        },
        reply,
    })
}

fn set(v: &mut Value, key: &str, value: Value) {
    if let Value::Object(m) = v {
        m.insert(key.to_owned(), value);
    }
}

/// `v[key]`, made an object if it is missing or not one.
fn object_or_new<'v>(v: &'v mut Value, key: &str) -> &'v mut Value {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    let Value::Object(m) = v else {
        unreachable!("just made an object")
    };
    let entry = m.entry(key.to_owned()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry
}
