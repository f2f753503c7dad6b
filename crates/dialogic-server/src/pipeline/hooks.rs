//! The pre-message and post-message webhooks, as Watson runs them: envelopes, the skip
//! header, the top-level replace rule, and the failure messages of the 422 answers.

use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use dialogic_webhook::{CallError, Client, OutboundRequest};
use serde_json::{Map, Value};

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
    let envelope = Envelope::new("message_received", request);
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
    let Some(payload) = payload_of(body) else {
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
    let envelope = Envelope::new("message_processed", response);
    let reply = match call(client, hook, "post_message", &envelope, scope, calls).await {
        Ok(r) => r,
        Err(message) => return HookOutcome::Failed(message),
    };
    let body: Value = match serde_json::from_slice(&reply.body) {
        Ok(v) => v,
        Err(_) => return fail(calls, "Webhook responded with invalid JSON body"),
    };
    let merged = match payload_of(body) {
        Some(payload) => replace_top_level(response, payload),
        None => return fail(calls, "Webhook responded with invalid JSON body"),
    };
    if schema::message_response_errors(&merged).is_empty() {
        HookOutcome::Replaced(merged)
    } else {
        // Watson documents no validation error for post: an unusable payload counts as invalid JSON.
        fail(calls, "Webhook responded with invalid JSON body")
    }
}

/// The body of a pre- or post-message call, serialized straight from the borrowed payload
/// (no copy of the request or response is built).
#[derive(serde::Serialize)]
struct Envelope<'a> {
    event: EventName,
    options: NoOptions,
    payload: &'a Value,
}

#[derive(serde::Serialize)]
struct EventName {
    name: &'static str,
}

/// Serializes as `{}`.
#[derive(serde::Serialize)]
struct NoOptions {}

impl<'a> Envelope<'a> {
    fn new(name: &'static str, payload: &'a Value) -> Self {
        Envelope {
            event: EventName { name },
            options: NoOptions {},
            payload,
        }
    }
}

/// The webhook's `payload` object, taken out of its answer.
fn payload_of(body: Value) -> Option<Map<String, Value>> {
    match body {
        Value::Object(mut top) => match top.remove("payload") {
            Some(Value::Object(payload)) => Some(payload),
            _ => None,
        },
        _ => None,
    }
}

/// A top-level key the webhook returns replaces the original whole; keys it leaves out stay.
/// Keys keep the original's order; keys only the webhook has come after them.
pub fn replace_top_level(original: &Value, mut payload: Map<String, Value>) -> Value {
    let mut out = Map::new();
    if let Value::Object(original) = original {
        for (k, v) in original {
            let value = payload.shift_remove(k).unwrap_or_else(|| v.clone());
            out.insert(k.clone(), value);
        }
    }
    out.extend(payload);
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
    envelope: &Envelope<'_>,
    scope: &CallScope<'_>,
    calls: &mut CallLog,
) -> Result<HookReply, String> {
    let id = uuid::Uuid::now_v7().to_string();
    let at = Utc::now();
    let started = Instant::now();
    let body = match serde_json::to_vec(envelope) {
        Ok(bytes) => Bytes::from(bytes),
        // A Value always serializes; keep the 422 path rather than panic if that ever changes.
        Err(e) => return Err(format!("Webhook request failed: {e}")),
    };
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
        request: &request.body,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn returned_keys_replace_whole_keep_their_place_and_new_ones_follow() {
        let original = json!({"input": {"text": "hi", "options": {"debug": true}}, "context": {"a": 1}, "user_id": "u"});
        let Value::Object(payload) = json!({"extra": 1, "input": {"text": "hello"}}) else {
            unreachable!()
        };
        let merged = replace_top_level(&original, payload);
        assert_eq!(
            serde_json::to_string(&merged).unwrap(),
            r#"{"input":{"text":"hello"},"context":{"a":1},"user_id":"u","extra":1}"#
        );
    }

    #[test]
    fn the_envelope_is_watsons() {
        let payload = json!({"input": {"text": "hi"}});
        let text = serde_json::to_string(&Envelope::new("message_received", &payload)).unwrap();
        assert_eq!(
            text,
            r#"{"event":{"name":"message_received"},"options":{},"payload":{"input":{"text":"hi"}}}"#
        );
    }

    #[test]
    fn only_an_object_payload_is_taken() {
        assert!(payload_of(json!({"payload": {"a": 1}})).is_some());
        assert!(payload_of(json!({"payload": [1]})).is_none());
        assert!(payload_of(json!([1])).is_none());
    }
}
