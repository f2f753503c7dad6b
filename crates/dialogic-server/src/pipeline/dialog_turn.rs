//! The skill's part of a message: NLU (unless the request supplies intents/entities), then
//! the sans-I/O dialog engine, making its `main_webhook` calls within one 8 s budget.

use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use dialogic_dialog::{Poll, TurnInput, TurnOutput, WebhookRequest};
use dialogic_nlu::AnalyzeContext;
use dialogic_webhook::{Client, OutboundRequest, Target};
use serde_json::{Map, Value};

use super::context::{option_flag, value_at};
use super::hooks::{call_error_message, CallScope};
use super::record::{CallFacts, CallLog};
use crate::config::DIALOG_WEBHOOK_BUDGET;
use crate::registry::{auth_for, Environment};

/// Run NLU and the dialog engine for `request` (after the pre-message webhook). Failed
/// dialog webhook calls are added to `failures` (reported with `debug`). The request's `input`
/// and `context` are lent to the engine, not copied: they are back in place when it returns.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    client: &Client,
    env: &Environment,
    request: &mut Value,
    now: DateTime<Utc>,
    scope: &CallScope<'_>,
    calls: &mut CallLog,
    failures: &mut Vec<String>,
) -> TurnOutput {
    let alternate = option_flag(request, "alternate_intents");
    let restart = option_flag(request, "restart");
    let debug = option_flag(request, "debug");
    let input = take_field(request, "input").unwrap_or_else(|| Value::Object(Map::new()));
    let context = take_field(request, "context").unwrap_or(Value::Null);
    let reference_time = value_at(&context, &["global", "system", "reference_time"])
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(now);
    let timezone = value_at(&context, &["global", "system", "timezone"]).and_then(Value::as_str);
    let analyze = AnalyzeContext {
        timezone,
        reference_time,
    };
    let (intents, entities) = recognition(env, &input, &analyze);
    let mut turn = env.skill.start_turn(TurnInput {
        input,
        intents,
        entities,
        context,
        restart,
        debug,
        now: reference_time,
    });
    let deadline = Instant::now() + DIALOG_WEBHOOK_BUDGET;
    let mut out = loop {
        match turn.poll() {
            Poll::Done(out) => break out,
            Poll::Webhook(call) => {
                let (node, var) = (call.node.clone(), call.result_variable.clone());
                let result = dialog_call(client, env, call, deadline, scope, calls).await;
                if let Err(reason) = &result {
                    failures.push(format!(
                        "dialog webhook of node {node:?} (result_variable {var}) failed: {reason}"
                    ));
                }
                turn.resume(result);
            }
        }
    };
    let lent = turn.into_input();
    put_back(request, "input", lent.input);
    put_back(request, "context", lent.context);
    let shown_intents: Vec<Value> = if alternate {
        lent.intents
    } else {
        lent.intents.into_iter().take(1).collect()
    };
    out.output = with_recognition(out.output, shown_intents, lent.entities);
    out
}

/// The turn's intents and entities: those the request's `input` supplies, the rest from the
/// NLU (which analyses only what is missing).
fn recognition(
    env: &Environment,
    input: &Value,
    ctx: &AnalyzeContext<'_>,
) -> (Vec<Value>, Vec<Value>) {
    let text = input.get("text").and_then(Value::as_str).unwrap_or("");
    let supplied = |key: &str| input.get(key).and_then(Value::as_array).cloned();
    match (supplied("intents"), supplied("entities")) {
        (Some(i), Some(e)) => (i, e),
        (Some(i), None) => (i, env.nlu.entities(text, ctx)),
        (None, Some(e)) => (env.nlu.intents(text), e),
        (None, None) => {
            let analysis = env.nlu.analyze(text, ctx);
            (analysis.intents, analysis.entities)
        }
    }
}

/// `request[key]` moved out, `null` left in its place (so the keys keep their order).
fn take_field(request: &mut Value, key: &str) -> Option<Value> {
    request.get_mut(key).map(Value::take)
}

/// Put back what [`take_field`] took (nothing when the key was missing).
fn put_back(request: &mut Value, key: &str, value: Value) {
    if let Some(slot) = request.get_mut(key) {
        *slot = value;
    }
}

/// `output` with `generic` first, then the turn's `intents` and `entities`, then the rest.
fn with_recognition(output: Value, intents: Vec<Value>, entities: Vec<Value>) -> Value {
    let mut rest = match output {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut out = Map::new();
    out.insert(
        "generic".into(),
        rest.remove("generic")
            .unwrap_or_else(|| Value::Array(vec![])),
    );
    out.insert("intents".into(), Value::Array(intents));
    out.insert("entities".into(), Value::Array(entities));
    rest.remove("intents");
    rest.remove("entities");
    out.extend(rest);
    Value::Object(out)
}

/// One `main_webhook` call. Err(reason) goes to the engine (`output.webhook_error.<var>`).
async fn dialog_call(
    client: &Client,
    env: &Environment,
    call: WebhookRequest,
    deadline: Instant,
    scope: &CallScope<'_>,
    calls: &mut CallLog,
) -> Result<Value, String> {
    let url = env.dialog.url.clone().unwrap_or_else(|| call.url.clone());
    if url.trim().is_empty() || url.trim() == "https://" {
        return Err("no webhook URL is configured for this skill".into());
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err("Webhook request timed out".into());
    }
    let mut headers: Vec<(String, String)> = call
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
        .filter(|(k, _)| {
            !env.dialog
                .headers
                .iter()
                .any(|(o, _)| o.eq_ignore_ascii_case(k))
        })
        .cloned()
        .collect();
    headers.extend(env.dialog.headers.iter().cloned());
    let target = Target {
        url,
        auth: auth_for(env.dialog.secret.as_ref(), None),
        headers,
        timeout: remaining,
    };
    let id = uuid::Uuid::now_v7().to_string();
    let at = Utc::now();
    let started = Instant::now();
    let request = OutboundRequest {
        webhook_id: id.clone(),
        body: Bytes::from(call.body.to_string()),
        extra_headers: Vec::new(),
    };
    let result = client.post(&target, &request).await;
    let latency_ms = started.elapsed().as_millis() as i64;
    let (status, response, outcome) = match result {
        Err(e) => (None, None, Err(call_error_message(&e))),
        Ok(reply) if !(200..300).contains(&reply.status) => (
            Some(reply.status),
            Some(reply.body),
            Err(format!(
                "Webhook responded with [{}] status code",
                reply.status
            )),
        ),
        Ok(reply) => {
            let parsed = if reply.body.iter().all(u8::is_ascii_whitespace) {
                Ok(Value::String(String::new()))
            } else {
                serde_json::from_slice::<Value>(&reply.body)
                    .map_err(|_| "Webhook responded with invalid JSON body".to_owned())
            };
            (Some(reply.status), Some(reply.body), parsed)
        }
    };
    calls.add(
        scope.assistant,
        scope.environment,
        Some(scope.session),
        CallFacts {
            id,
            at,
            kind: "dialog",
            target: &target,
            request: &request.body,
            status,
            latency_ms,
            error: outcome.as_ref().err().cloned(),
            response: response.as_deref(),
        },
    );
    outcome
}
