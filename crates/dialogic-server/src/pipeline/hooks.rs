//! The pre-message and post-message webhooks, as Watson runs them: envelopes, the skip
//! header, the top-level replace rule, and the failure messages of the 422 answers.

use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use dialogic_webhook::{CallError, Client, OutboundRequest};
use serde_json::{json, Map, Value};

use super::record::{CallFacts, CallLog};
use crate::registry::HookTarget;
use crate::schema;

/// The header that makes a pre-message reply the answer (any value, any case).
pub const SKIP_HEADER: &str = "x-watson-assistant-webhook-return";

/// What a hook call came to.
#[derive(Debug, Clone, PartialEq)]
pub enum HookOutcome {
    /// The webhook's `payload` merged over the original (the new request or response).
    Replaced(Value),
    /// Pre-message only: the skip header was set; this body is the answer.
    Skipped(Value),
    /// The call failed; the message is the 422 `error` text.
    Failed(String),
}

/// Who the call is for (for the records).
pub struct CallScope<'a> {
    pub assistant: &'a str,
    pub environment: &'a str,
    pub session: &'a str,
}

/// POST `{"event":{"name":"message_received"},"options":{},"payload":request}`.
pub async fn pre_message(
    client: &Client,
    hook: &HookTarget,
    request: &Value,
    scope: &CallScope<'_>,
    calls: &mut CallLog,
) -> HookOutcome {
    let envelope =
        json!({"event": {"name": "message_received"}, "options": {}, "payload": request});
    let reply = match call(client, hook, "pre_message", &envelope, scope, calls).await {
        Ok(r) => r,
        Err(message) => return HookOutcome::Failed(message),
    };
    if reply.skip {
        return match serde_json::from_slice::<Value>(&reply.body) {
            Err(_) => fail(calls, "Webhook responded with invalid JSON body"),
            Ok(body) if !schema::message_response_errors(&body).is_empty() => {
                fail(calls, "Error validating webhook response")
            }
            Ok(body) => HookOutcome::Skipped(body),
        };
    }
    let body: Value = match serde_json::from_slice(&reply.body) {
        Ok(v) => v,
        Err(_) => return fail(calls, "Webhook responded with invalid JSON body"),
    };
    let Some(Value::Object(payload)) = body.get("payload") else {
        return fail(calls, "Error validating webhook response");
    };
    let merged = replace_top_level(request, payload);
    if !schema::message_request_errors(&merged).is_empty() {
        return fail(calls, "Error validating webhook response");
    }
    HookOutcome::Replaced(merged)
}

/// POST `{"event":{"name":"message_processed"},"options":{},"payload":response}`.
pub async fn post_message(
    client: &Client,
    hook: &HookTarget,
    response: &Value,
    scope: &CallScope<'_>,
    calls: &mut CallLog,
) -> HookOutcome {
    let envelope =
        json!({"event": {"name": "message_processed"}, "options": {}, "payload": response});
    let reply = match call(client, hook, "post_message", &envelope, scope, calls).await {
        Ok(r) => r,
        Err(message) => return HookOutcome::Failed(message),
    };
    let body: Value = match serde_json::from_slice(&reply.body) {
        Ok(v) => v,
        Err(_) => return fail(calls, "Webhook responded with invalid JSON body"),
    };
    let merged = match body.get("payload") {
        Some(Value::Object(payload)) => replace_top_level(response, payload),
        _ => return fail(calls, "Webhook responded with invalid JSON body"),
    };
    if schema::message_response_errors(&merged).is_empty() {
        HookOutcome::Replaced(merged)
    } else {
        // Watson documents no validation error for post: an unusable payload counts as invalid JSON.
        fail(calls, "Webhook responded with invalid JSON body")
    }
}

/// A top-level key the webhook returns replaces the original whole; keys it leaves out stay.
pub fn replace_top_level(original: &Value, payload: &Map<String, Value>) -> Value {
    let mut out = original.as_object().cloned().unwrap_or_default();
    for (k, v) in payload {
        out.insert(k.clone(), v.clone());
    }
    Value::Object(out)
}

struct HookReply {
    body: Bytes,
    skip: bool,
}

fn fail(calls: &mut CallLog, message: &str) -> HookOutcome {
    if let Some(last) = calls.records.last_mut() {
        if last.error.is_none() {
            last.error = Some(message.to_owned());
        }
    }
    HookOutcome::Failed(message.to_owned())
}

/// Make the call and record it; Err is the 422 message of a transport or status failure.
async fn call(
    client: &Client,
    hook: &HookTarget,
    kind: &'static str,
    envelope: &Value,
    scope: &CallScope<'_>,
    calls: &mut CallLog,
) -> Result<HookReply, String> {
    let id = uuid::Uuid::now_v7().to_string();
    let at = Utc::now();
    let started = Instant::now();
    let body = Bytes::from(envelope.to_string());
    let request = OutboundRequest {
        webhook_id: id.clone(),
        body,
        extra_headers: Vec::new(),
    };
    let result = client.post(&hook.target, &request).await;
    let latency_ms = started.elapsed().as_millis() as i64;
    let facts = |status, error, response| CallFacts {
        id: id.clone(),
        at,
        kind,
        target: &hook.target,
        request: envelope,
        status,
        latency_ms,
        error,
        response,
    };
    match result {
        Err(e) => {
            let message = call_error_message(&e);
            calls.add(
                scope.assistant,
                scope.environment,
                Some(scope.session),
                facts(None, Some(message.clone()), None),
            );
            Err(message)
        }
        Ok(reply) => {
            let ok = (200..300).contains(&reply.status);
            let message =
                (!ok).then(|| format!("Webhook responded with [{}] status code", reply.status));
            calls.add(
                scope.assistant,
                scope.environment,
                Some(scope.session),
                facts(Some(reply.status), message.clone(), Some(&reply.body)),
            );
            match message {
                Some(m) => Err(m),
                None => Ok(HookReply {
                    skip: reply.headers.contains_key(SKIP_HEADER),
                    body: reply.body,
                }),
            }
        }
    }
}

/// The 422 text for a call that got no usable reply (ours; Watson documents none).
pub fn call_error_message(e: &CallError) -> String {
    match e {
        CallError::Timeout => "Webhook request timed out".into(),
        other => format!("Webhook request failed: {other}"),
    }
}
