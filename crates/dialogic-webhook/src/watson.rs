//! Watson's pre-message and post-message rules, as pure functions for the server's pipeline.
//!
//! - Envelopes: [`pre_message_envelope`] `{"event":{"name":"message_received"},"options":{},"payload":request}`
//!   and [`post_message_envelope`] (`message_processed`).
//! - [`apply_pre_reply`]: a reply carrying `X-Watson-Assistant-Webhook-Return` (any value, any
//!   case) skips the turn and its body (no `payload` wrapper) is the response; otherwise each
//!   top-level key of the reply's `payload` replaces the request's key whole and keys it leaves
//!   out keep the original (so `input.options` come from the webhook's `input`). The result must
//!   be a valid v2 message request, else `Error validating webhook response`.
//! - [`apply_post_reply`]: the same top-level replacement on the response; an invalid result is
//!   treated like invalid JSON (Watson documents no validation error for post).
//! - Neither webhook may change `context.global.session_id` or any `system.state`: those are
//!   put back as they were in the original after the merge (see [`protect_identity`]).
//! - [`HookFailure`]: the failures, with Watson's 422 messages ([`HookFailure::message`],
//!   [`HookFailure::error_body`]).
//! - [`dialog_callout_result`]: a dialog node webhook's result (any JSON value).

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::error::CallError;
use crate::target::Reply;

/// The pre-message reply header that skips message processing (matched case-insensitively;
/// `http::HeaderMap` names are lower case).
pub const SKIP_HEADER: &str = "x-watson-assistant-webhook-return";

/// The HTTP status of every webhook failure returned to the client under `on_error = "fail"`.
pub const FAILURE_STATUS: u16 = 422;

/// `{"event":{"name":"message_received"},"options":{},"payload":request}`.
pub fn pre_message_envelope(request: &Value) -> Value {
    json!({"event": {"name": "message_received"}, "options": {}, "payload": request})
}

/// `{"event":{"name":"message_processed"},"options":{},"payload":response}`.
pub fn post_message_envelope(response: &Value) -> Value {
    json!({"event": {"name": "message_processed"}, "options": {}, "payload": response})
}

/// The exact body bytes of an envelope (what is signed and sent).
pub fn envelope_bytes(envelope: &Value) -> Bytes {
    // Serialising a `Value` cannot fail: its map keys are strings.
    Bytes::from(serde_json::to_vec(envelope).unwrap_or_default())
}

/// Why a pre/post-message webhook call did not produce a usable result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookFailure {
    /// A non-2xx status (including a 3xx: redirects are not followed).
    #[error("Webhook responded with [{0}] status code")]
    Status(u16),
    /// The body is not JSON, or (post-message) not a usable `payload`.
    #[error("Webhook responded with invalid JSON body")]
    InvalidJson { detail: String },
    /// Pre-message only: the result is not a valid v2 message request (or, with the skip
    /// header, the body is not a valid message response).
    #[error("Error validating webhook response")]
    Invalid { detail: String },
    #[error("Webhook request timed out")]
    Timeout,
    /// Connection, TLS, DNS, SSRF refusal, oversize body, bad configuration.
    #[error("Webhook request failed: {reason}")]
    Failed { reason: String },
}

impl HookFailure {
    /// The client-facing message (the `error` field of the 422 envelope).
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// Always 422.
    pub fn code(&self) -> u16 {
        FAILURE_STATUS
    }

    /// `{"error": message, "code": 422}`.
    pub fn error_body(&self) -> Value {
        json!({"error": self.message(), "code": FAILURE_STATUS})
    }

    /// More detail for logs and `output.debug.log_messages` (never contains secrets).
    pub fn detail(&self) -> Option<&str> {
        match self {
            HookFailure::InvalidJson { detail } | HookFailure::Invalid { detail } => Some(detail),
            HookFailure::Failed { reason } => Some(reason),
            HookFailure::Status(_) | HookFailure::Timeout => None,
        }
    }
}

impl From<&CallError> for HookFailure {
    fn from(err: &CallError) -> Self {
        match err {
            CallError::Timeout => HookFailure::Timeout,
            CallError::TooLarge => HookFailure::Failed {
                reason: "response body over the size limit".into(),
            },
            other => HookFailure::Failed {
                reason: other.to_string(),
            },
        }
    }
}

impl From<CallError> for HookFailure {
    fn from(err: CallError) -> Self {
        HookFailure::from(&err)
    }
}

/// What the pre-message webhook decided.
#[derive(Debug, Clone, PartialEq)]
pub enum PreOutcome {
    /// Process this request (the original with the webhook's payload applied).
    Process(Value),
    /// Skip the skill and post-message: answer with this message response.
    Skip(Value),
}

/// Whether a reply carries the skip header (any value).
pub fn is_skip(headers: &http::HeaderMap) -> bool {
    headers.contains_key(SKIP_HEADER)
}

/// [`apply_pre_reply`] on the result of `Client::post`.
pub fn pre_outcome(
    request: &Value,
    result: &Result<Reply, CallError>,
) -> Result<PreOutcome, HookFailure> {
    match result {
        Ok(reply) => apply_pre_reply(request, reply),
        Err(err) => Err(err.into()),
    }
}

/// [`apply_post_reply`] on the result of `Client::post`.
pub fn post_outcome(
    response: &Value,
    result: &Result<Reply, CallError>,
) -> Result<Value, HookFailure> {
    match result {
        Ok(reply) => apply_post_reply(response, reply),
        Err(err) => Err(err.into()),
    }
}

/// Apply a pre-message webhook's reply to the `request` it was sent.
pub fn apply_pre_reply(request: &Value, reply: &Reply) -> Result<PreOutcome, HookFailure> {
    check_status(reply)?;
    let body = parse_json(&reply.body)?;
    if is_skip(&reply.headers) {
        let mut response = body;
        validate_response(&response).map_err(|detail| HookFailure::Invalid { detail })?;
        protect_identity(request, &mut response);
        return Ok(PreOutcome::Skip(response));
    }
    let payload = payload_of(&body).map_err(|detail| HookFailure::Invalid { detail })?;
    let mut merged = replace_top_level(request, payload);
    protect_identity(request, &mut merged);
    validate_request(&merged).map_err(|detail| HookFailure::Invalid { detail })?;
    Ok(PreOutcome::Process(merged))
}

/// Apply a post-message webhook's reply to the `response` it was sent.
pub fn apply_post_reply(response: &Value, reply: &Reply) -> Result<Value, HookFailure> {
    check_status(reply)?;
    let body = parse_json(&reply.body)?;
    let payload = payload_of(&body).map_err(|detail| HookFailure::InvalidJson { detail })?;
    let mut merged = replace_top_level(response, payload);
    protect_identity(response, &mut merged);
    validate_response(&merged).map_err(|detail| HookFailure::InvalidJson { detail })?;
    Ok(merged)
}

/// A dialog node callout's result: a 2xx reply's JSON body (any JSON value).
pub fn dialog_callout_result(result: &Result<Reply, CallError>) -> Result<Value, HookFailure> {
    let reply = result.as_ref().map_err(HookFailure::from)?;
    check_status(reply)?;
    parse_json(&reply.body)
}

fn check_status(reply: &Reply) -> Result<(), HookFailure> {
    if reply.is_success() {
        Ok(())
    } else {
        Err(HookFailure::Status(reply.status))
    }
}

fn parse_json(body: &[u8]) -> Result<Value, HookFailure> {
    serde_json::from_slice(body).map_err(|e| HookFailure::InvalidJson {
        detail: format!("the body is not JSON ({e})"),
    })
}

fn payload_of(body: &Value) -> Result<&Map<String, Value>, String> {
    match body.get("payload") {
        Some(Value::Object(payload)) => Ok(payload),
        Some(_) => Err("/payload: must be an object".into()),
        None if body.is_object() => Err("/payload: missing".into()),
        None => Err("the body must be a JSON object with a payload".into()),
    }
}

/// The original with each top-level key of `payload` replacing the original's whole.
fn replace_top_level(original: &Value, payload: &Map<String, Value>) -> Value {
    let mut merged = original.as_object().cloned().unwrap_or_default();
    for (key, value) in payload {
        merged.insert(key.clone(), value.clone());
    }
    Value::Object(merged)
}

/// Put back `context.global.session_id`, `context.global.system.state` and every
/// `context.skills.<skill>.system.state` as they were in `original` (added, replaced or
/// removed), so no webhook can move a conversation to another session or dialog position.
/// A `context` that is not an object is left for validation to refuse.
pub fn protect_identity(original: &Value, merged: &mut Value) {
    let Some(original_context) = original.get("context").and_then(Value::as_object) else {
        return;
    };
    let Some(context) = merged.as_object_mut().and_then(|m| m.get_mut("context")) else {
        return;
    };
    if !context.is_object() {
        return;
    }
    let original_context = Value::Object(original_context.clone());
    restore(&original_context, context, &["global", "session_id"]);
    restore(&original_context, context, &["global", "system", "state"]);
    let mut skills: Vec<String> = Vec::new();
    for source in [&original_context, &*context] {
        if let Some(map) = source.get("skills").and_then(Value::as_object) {
            skills.extend(
                map.keys()
                    .filter(|k| !skills.contains(k))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
    }
    for skill in &skills {
        restore(
            &original_context,
            context,
            &["skills", skill, "system", "state"],
        );
    }
}

fn lookup<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn restore(original: &Value, target: &mut Value, path: &[&str]) {
    let wanted = lookup(original, path).cloned();
    if lookup(target, path) == wanted.as_ref() {
        return;
    }
    let Some((leaf, parents)) = path.split_last() else {
        return;
    };
    let mut node = target;
    for key in parents {
        let Some(map) = node.as_object_mut() else {
            return;
        };
        if wanted.is_none() && !map.contains_key(*key) {
            return;
        }
        node = map
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let Some(map) = node.as_object_mut() else {
        return;
    };
    match wanted {
        Some(value) => {
            map.insert((*leaf).to_owned(), value);
        }
        None => {
            map.remove(*leaf);
        }
    }
}

type Check = Result<(), String>;

fn fail<T>(path: &str, problem: &str) -> Result<T, String> {
    Err(format!("{path}: {problem}"))
}

fn object_at<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .map_or_else(|| fail(path, "must be an object"), Ok)
}

fn optional<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key)
}

fn opt_string(map: &Map<String, Value>, key: &str, path: &str) -> Check {
    match optional(map, key) {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => fail(&format!("{path}/{key}"), "must be a string"),
    }
}

fn opt_bool(map: &Map<String, Value>, key: &str, path: &str) -> Check {
    match optional(map, key) {
        None | Some(Value::Bool(_)) => Ok(()),
        Some(_) => fail(&format!("{path}/{key}"), "must be a boolean"),
    }
}

fn opt_object<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match optional(map, key) {
        None => Ok(None),
        Some(v) => object_at(v, &format!("{path}/{key}")).map(Some),
    }
}

fn opt_array<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a [Value], String> {
    match optional(map, key) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => fail(&format!("{path}/{key}"), "must be an array"),
    }
}

fn required_string(map: &Map<String, Value>, key: &str, path: &str) -> Check {
    match map.get(key) {
        Some(Value::String(_)) => Ok(()),
        Some(_) => fail(&format!("{path}/{key}"), "must be a string"),
        None => fail(&format!("{path}/{key}"), "is required"),
    }
}

fn required_number(map: &Map<String, Value>, key: &str, path: &str) -> Check {
    match map.get(key) {
        Some(Value::Number(_)) => Ok(()),
        Some(_) => fail(&format!("{path}/{key}"), "must be a number"),
        None => fail(&format!("{path}/{key}"), "is required"),
    }
}

/// Check that `value` is a valid v2 message request (the shape Watson's schema enforces;
/// unknown fields are allowed and passed through). The error is a JSON pointer and a problem.
pub fn validate_request(value: &Value) -> Check {
    let request = object_at(value, "")?;
    if let Some(input) = opt_object(request, "input", "")? {
        validate_input(input)?;
    }
    if let Some(context) = opt_object(request, "context", "")? {
        validate_context(context)?;
    }
    opt_string(request, "user_id", "")
}

fn validate_input(input: &Map<String, Value>) -> Check {
    const P: &str = "/input";
    opt_string(input, "message_type", P)?;
    match input.get("text") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => {
            if text.contains(['\r', '\n', '\t']) {
                return fail(
                    "/input/text",
                    "must not contain carriage return, newline or tab characters",
                );
            }
        }
        Some(_) => return fail("/input/text", "must be a string"),
    }
    if let Some(options) = opt_object(input, "options", P)? {
        for key in [
            "restart",
            "alternate_intents",
            "async_callout",
            "debug",
            "return_context",
            "export",
        ] {
            opt_bool(options, key, "/input/options")?;
        }
        if let Some(spelling) = opt_object(options, "spelling", "/input/options")? {
            opt_bool(spelling, "suggestions", "/input/options/spelling")?;
            opt_bool(spelling, "auto_correct", "/input/options/spelling")?;
        }
    }
    for (i, item) in opt_array(input, "intents", P)?.iter().enumerate() {
        let path = format!("/input/intents/{i}");
        let intent = object_at(item, &path)?;
        required_string(intent, "intent", &path)?;
        required_number(intent, "confidence", &path)?;
    }
    for (i, item) in opt_array(input, "entities", P)?.iter().enumerate() {
        let path = format!("/input/entities/{i}");
        let entity = object_at(item, &path)?;
        required_string(entity, "entity", &path)?;
        required_string(entity, "value", &path)?;
        match entity.get("location") {
            None => {}
            Some(Value::Array(l)) if l.len() == 2 && l.iter().all(Value::is_u64) => {}
            Some(_) => return fail(&format!("{path}/location"), "must be two character offsets"),
        }
    }
    opt_string(input, "suggestion_id", P)?;
    for (i, item) in opt_array(input, "attachments", P)?.iter().enumerate() {
        let path = format!("/input/attachments/{i}");
        required_string(object_at(item, &path)?, "url", &path)?;
    }
    opt_object(input, "analytics", P)?;
    Ok(())
}

fn validate_context(context: &Map<String, Value>) -> Check {
    const P: &str = "/context";
    if let Some(global) = opt_object(context, "global", P)? {
        opt_string(global, "session_id", "/context/global")?;
        if let Some(system) = opt_object(global, "system", "/context/global")? {
            let path = "/context/global/system";
            for key in [
                "timezone",
                "user_id",
                "locale",
                "reference_time",
                "session_start_time",
                "state",
            ] {
                opt_string(system, key, path)?;
            }
            match system.get("turn_count") {
                None => {}
                Some(n) if n.is_u64() => {}
                Some(_) => {
                    return fail(
                        "/context/global/system/turn_count",
                        "must be a non-negative integer",
                    )
                }
            }
            opt_bool(system, "skip_user_input", path)?;
        }
    }
    if let Some(skills) = opt_object(context, "skills", P)? {
        for (name, skill) in skills {
            let path = format!("/context/skills/{name}");
            let skill = object_at(skill, &path)?;
            for key in [
                "user_defined",
                "system",
                "action_variables",
                "skill_variables",
                "private_action_variables",
                "private_skill_variables",
            ] {
                opt_object(skill, key, &path)?;
            }
        }
    }
    opt_object(context, "integrations", P)?;
    Ok(())
}

/// Check that `value` is a valid v2 message response: `output` an object whose `generic`
/// items carry a `response_type`, `context` (if any) a valid context, `user_id` a string.
pub fn validate_response(value: &Value) -> Check {
    let response = object_at(value, "")?;
    let output = match response.get("output") {
        Some(output) => object_at(output, "/output")?,
        None => return fail("/output", "is required"),
    };
    for (i, item) in opt_array(output, "generic", "/output")?.iter().enumerate() {
        let path = format!("/output/generic/{i}");
        required_string(object_at(item, &path)?, "response_type", &path)?;
    }
    for key in ["intents", "entities", "actions"] {
        opt_array(output, key, "/output")?;
    }
    if let Some(context) = opt_object(response, "context", "")? {
        validate_context(context)?;
    }
    opt_string(response, "user_id", "")
}
