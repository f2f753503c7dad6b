//! The Watson `Log` record of a turn (served by `/logs`, and the log webhook's payload).

use chrono::{DateTime, SecondsFormat, Utc};
use dialogic_store::{LogRecord, NewDelivery};
use serde_json::{json, Map, Value};

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
    // Built key by key: `json!` would copy the request and response once more (it serializes
    // each value into a new one).
    let mut record = Map::new();
    let mut put = |k: &str, v: Value| {
        record.insert(k.to_owned(), v);
    };
    put("log_id", Value::String(log_id.clone()));
    put("request", request);
    put("response", response);
    put("assistant_id", Value::String(f.env.assistant_id.clone()));
    put("environment_id", Value::String(f.env.id.clone()));
    put("session_id", Value::String(f.session_id.to_owned()));
    put("skill_id", json!(f.env.skill_id));
    put("snapshot", json!(f.env.snapshot()));
    put(
        "request_timestamp",
        Value::String(timestamp(f.request_timestamp)),
    );
    put(
        "response_timestamp",
        Value::String(timestamp(f.response_timestamp)),
    );
    put("language", json!(f.env.skill.language()));
    if let Some(c) = f.customer_id {
        put("customer_id", Value::String(c.to_owned()));
    }
    let record = Value::Object(record);
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
