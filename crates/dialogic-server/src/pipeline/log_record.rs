//! The Watson `Log` record of a turn (served by `/logs`, and the log webhook's payload).

use chrono::{DateTime, SecondsFormat, Utc};
use dialogic_store::{LogRecord, NewDelivery};
use serde_json::{json, Value};

use super::context::strip_private_context;
use crate::registry::Environment;

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Everything that goes into a log record.
pub struct TurnFacts<'a> {
    pub env: &'a Environment,
    pub session_id: &'a str,
    pub customer_id: Option<&'a str>,
    pub response: &'a Value,
    pub request_timestamp: DateTime<Utc>,
    pub response_timestamp: DateTime<Utc>,
}

/// The record of `request` (taken: the turn has no further use for it) and the turn's response,
/// private variables stripped, and, when subscribed, its log-webhook delivery.
pub fn build(f: &TurnFacts<'_>, mut request: Value) -> (LogRecord, Option<NewDelivery>) {
    // Time-ordered (UUIDv7): new records append to the store's indexes instead of landing on
    // random pages.
    let log_id = uuid::Uuid::now_v7().to_string();
    if let Some(c) = request.get_mut("context") {
        strip_private_context(c);
    }
    let mut response = f.response.clone();
    if let Some(c) = response.get_mut("context") {
        strip_private_context(c);
    }
    let mut record = json!({
        "log_id": log_id,
        "request": request,
        "response": response,
        "assistant_id": f.env.assistant_id,
        "environment_id": f.env.id,
        "session_id": f.session_id,
        "skill_id": f.env.skill_id,
        "snapshot": f.env.snapshot(),
        "request_timestamp": timestamp(f.request_timestamp),
        "response_timestamp": timestamp(f.response_timestamp),
        "language": f.env.skill.language(),
    });
    if let (Some(c), Value::Object(m)) = (f.customer_id, &mut record) {
        m.insert("customer_id".into(), json!(c));
    }
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
    (log, delivery)
}
