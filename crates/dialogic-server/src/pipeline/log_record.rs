//! The Watson `Log` record of a turn (served by `/logs`, and the log webhook's payload),
//! written as JSON text once: the response inside it is serialised once and, when nothing
//! had to be stripped from it, is also the stateless reply's body.

use chrono::{DateTime, SecondsFormat, Utc};
use dialogic_store::{LogRecord, NewDelivery};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::context::{has_private_context, strip_private_context};
use crate::registry::Environment;

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The response as logged: serialised, private variables stripped.
pub struct LoggedResponse {
    pub json: Box<RawValue>,
    /// Nothing was stripped: `json` is the whole response, byte for byte.
    pub whole: bool,
}

/// Serialise `response` for the log (copying it only when it has private variables to strip).
pub fn logged_response(response: &Value) -> serde_json::Result<LoggedResponse> {
    match response.get("context") {
        Some(c) if has_private_context(c) => {
            let mut stripped = response.clone();
            if let Some(c) = stripped.get_mut("context") {
                strip_private_context(c);
            }
            Ok(LoggedResponse {
                json: serde_json::value::to_raw_value(&stripped)?,
                whole: false,
            })
        }
        _ => Ok(LoggedResponse {
            json: serde_json::value::to_raw_value(response)?,
            whole: true,
        }),
    }
}

/// Everything that goes into a log record.
pub struct TurnFacts<'a> {
    pub env: &'a Environment,
    pub session_id: &'a str,
    pub customer_id: Option<&'a str>,
    /// The response as logged ([`logged_response`]).
    pub response: &'a RawValue,
    pub request_timestamp: DateTime<Utc>,
    pub response_timestamp: DateTime<Utc>,
}

/// The record's keys, in Watson's order.
#[derive(Serialize)]
struct Record<'a> {
    log_id: &'a str,
    request: &'a Value,
    response: &'a RawValue,
    assistant_id: &'a str,
    environment_id: &'a str,
    session_id: &'a str,
    skill_id: &'a str,
    snapshot: &'a str,
    request_timestamp: String,
    response_timestamp: String,
    language: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<&'a str>,
}

/// The record of `request` (taken: the turn has no further use for it) and the turn's logged
/// response, private variables stripped, and, when subscribed, its log-webhook delivery.
pub fn build(
    f: &TurnFacts<'_>,
    mut request: Value,
) -> serde_json::Result<(LogRecord, Option<NewDelivery>)> {
    // Time-ordered (UUIDv7): new records append to the store's indexes instead of landing on
    // random pages.
    let log_id = uuid::Uuid::now_v7().to_string();
    if let Some(c) = request.get_mut("context") {
        strip_private_context(c);
    }
    let record = serde_json::to_string(&Record {
        log_id: &log_id,
        request: &request,
        response: f.response,
        assistant_id: &f.env.assistant_id,
        environment_id: &f.env.id,
        session_id: f.session_id,
        skill_id: &f.env.skill_id,
        snapshot: f.env.snapshot(),
        request_timestamp: timestamp(f.request_timestamp),
        response_timestamp: timestamp(f.response_timestamp),
        language: f.env.skill.language(),
        customer_id: f.customer_id,
    })?;
    let delivery = f.env.logs_subscribed().map(|_| NewDelivery {
        id: log_id.clone(),
        assistant_id: f.env.assistant_id.clone(),
        environment_id: f.env.id.clone(),
        session_id: f.session_id.to_owned(),
        event: "message_logged".into(),
        // The store builds the body from the log row: the record is written once.
        body: None,
        due_at: f.response_timestamp,
    });
    let log = LogRecord {
        log_id,
        assistant_id: f.env.assistant_id.clone(),
        environment_id: f.env.id.clone(),
        session_id: f.session_id.to_owned(),
        customer_id: f.customer_id.map(str::to_owned),
        request_timestamp: f.request_timestamp,
        response_timestamp: f.response_timestamp,
        record,
    };
    Ok((log, delivery))
}
