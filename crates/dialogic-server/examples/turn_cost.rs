//! `turn_cost`: the CPU cost of the message pipeline without HTTP or storage.
//!
//! Loads the demo assistant the way `dialogic serve` does, then runs messages through
//! [`pipeline::handle`] against an in-memory store that keeps sessions and drops everything
//! else, so instruction counts measure the pipeline's own work (NLU, dialog, context, log
//! record). Measure it deterministically with callgrind:
//!
//!     cargo build --release -p dialogic-server --example turn_cost
//!     valgrind --tool=callgrind --collect-atstart=no --toggle-collect='turn_cost::run_messages*' \
//!         target/release/examples/turn_cost 200
//!
//! `turn_cost check` instead prints the replies and log records of a varied set of requests,
//! timestamps and ids masked, to compare before and after a change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use dialogic_server::pipeline::{self, MessageCall, Mode};
use dialogic_server::registry::Environment;
use dialogic_server::session_locks::SessionLocks;
use dialogic_server::state::AppState;
use dialogic_store::{
    Attempt, AttemptOutcome, Delivery, DeliveryQuery, DeliveryStatus, LogPage, LogQuery, Session,
    Store, StoreError, TurnCommit, WebhookCallQuery, WebhookCallRecord,
};
use dialogic_webhook::{Client, ClientOptions};
use serde_json::{json, Value};
use tokio::runtime::Runtime;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sessions in memory; in check mode, the committed log records too.
#[derive(Default)]
struct MemoryStore {
    sessions: Mutex<HashMap<String, Session>>,
    logs: Option<Mutex<Vec<Value>>>,
}

fn unsupported<T>() -> dialogic_store::Result<T> {
    Err(StoreError::NotFound)
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }
    async fn ping(&self) -> dialogic_store::Result<()> {
        Ok(())
    }
    async fn create_session(&self, session: &Session) -> dialogic_store::Result<()> {
        let mut sessions = self.sessions.lock().expect("sessions");
        sessions.insert(session.id.clone(), session.clone());
        Ok(())
    }
    async fn load_session(
        &self,
        _assistant_id: &str,
        session_id: &str,
        _now: DateTime<Utc>,
    ) -> dialogic_store::Result<Option<Session>> {
        Ok(self
            .sessions
            .lock()
            .expect("sessions")
            .get(session_id)
            .cloned())
    }
    async fn delete_session(&self, _a: &str, session_id: &str) -> dialogic_store::Result<bool> {
        Ok(self
            .sessions
            .lock()
            .expect("sessions")
            .remove(session_id)
            .is_some())
    }
    async fn sweep_expired(&self, _now: DateTime<Utc>) -> dialogic_store::Result<u64> {
        Ok(0)
    }
    async fn commit_turn(&self, turn: &TurnCommit) -> dialogic_store::Result<()> {
        if let Some(update) = &turn.session {
            let mut sessions = self.sessions.lock().expect("sessions");
            let s = sessions.get_mut(&update.id).ok_or(StoreError::NotFound)?;
            s.context = update.context.clone();
            s.version += 1;
        }
        if let Some(logs) = &self.logs {
            let record = serde_json::from_str(&turn.log.record).expect("a JSON log record");
            logs.lock().expect("logs").push(record);
        }
        Ok(())
    }
    async fn list_logs(&self, _query: &LogQuery) -> dialogic_store::Result<LogPage> {
        unsupported()
    }
    async fn delete_customer_data(&self, _customer_id: &str) -> dialogic_store::Result<u64> {
        Ok(0)
    }
    async fn claim_deliveries(
        &self,
        _now: DateTime<Utc>,
        _lease: std::time::Duration,
        _limit: u32,
    ) -> dialogic_store::Result<Vec<Delivery>> {
        Ok(Vec::new())
    }
    async fn record_attempt(
        &self,
        _a: &Attempt,
        _o: &AttemptOutcome,
    ) -> dialogic_store::Result<()> {
        unsupported()
    }
    async fn list_deliveries(
        &self,
        _query: &DeliveryQuery,
    ) -> dialogic_store::Result<Vec<(Delivery, Vec<Attempt>)>> {
        Ok(Vec::new())
    }
    async fn get_delivery(
        &self,
        _id: &str,
    ) -> dialogic_store::Result<Option<(Delivery, Vec<Attempt>)>> {
        Ok(None)
    }
    async fn retry_delivery(&self, _id: &str, _now: DateTime<Utc>) -> dialogic_store::Result<bool> {
        Ok(false)
    }
    async fn retry_deliveries(
        &self,
        _status: DeliveryStatus,
        _since: Option<DateTime<Utc>>,
        _now: DateTime<Utc>,
    ) -> dialogic_store::Result<u64> {
        Ok(0)
    }
    async fn record_webhook_call(&self, _call: &WebhookCallRecord) -> dialogic_store::Result<()> {
        Ok(())
    }
    async fn list_webhook_calls(
        &self,
        _query: &WebhookCallQuery,
    ) -> dialogic_store::Result<Vec<WebhookCallRecord>> {
        Ok(Vec::new())
    }
}

fn demo_state(store: Arc<MemoryStore>) -> anyhow::Result<(AppState, Arc<Environment>)> {
    let loaded = dialogic_server::config::load(None, Vec::<(String, String)>::new())?;
    let registry = dialogic_server::server::prepare(&loaded)?;
    let env = registry
        .resolve("demo", None)
        .ok_or_else(|| anyhow::anyhow!("no demo assistant"))?;
    let state = AppState {
        registry: Arc::new(registry),
        store,
        client: Client::new(ClientOptions::default())?,
        api_keys: Vec::new(),
        max_body: 1 << 20,
        locks: SessionLocks::default(),
        notify_delivery: None,
    };
    Ok((state, env))
}

fn call(env: &Arc<Environment>, mode: Mode, body: Value, customer: Option<&str>) -> MessageCall {
    MessageCall {
        env: env.clone(),
        mode,
        body,
        customer_id: customer.map(str::to_owned),
    }
}

/// One stateless message like the profiled one; the length of the reply.
async fn one_message(state: &AppState, env: &Arc<Environment>) -> usize {
    let body = json!({"input": {"text": "I want a large pizza"}});
    let reply = pipeline::handle(state, call(env, Mode::Stateless, body, None))
        .await
        .map_err(|e| e.message)
        .expect("a reply");
    reply.len()
}

/// The measured loop: `n` messages (a plain function, so callgrind can toggle on it).
#[inline(never)]
fn run_messages(rt: &Runtime, state: &AppState, env: &Arc<Environment>, n: usize) -> usize {
    rt.block_on(async {
        let mut bytes = 0;
        for _ in 0..n {
            bytes += one_message(state, env).await;
        }
        bytes
    })
}

/// Timestamps and UUIDs masked, so two runs compare byte for byte.
fn masked(v: &Value) -> Value {
    match v {
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => json!("<uuid>"),
        Value::String(s) if DateTime::parse_from_rfc3339(s).is_ok() => json!("<time>"),
        Value::Array(a) => Value::Array(a.iter().map(masked).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), masked(v))).collect()),
        other => other.clone(),
    }
}

fn check_requests() -> Vec<(bool, Value, Option<&'static str>)> {
    vec![
        (
            false,
            json!({"input": {"text": "I want a large pizza"}}),
            None,
        ),
        (
            false,
            json!({"input": {"text": "hello there"}, "context": {"global": {"system": {"user_id": "u1", "timezone": "Europe/Paris"}}, "skills": {"main skill": {"user_defined": {"x": 1, "$priv": 2}}}}}),
            Some("cust"),
        ),
        (
            false,
            json!({"input": {"text": "weather in Pari tomorrow at 5pm", "options": {"alternate_intents": true, "debug": true}}}),
            None,
        ),
        (
            false,
            json!({"input": {"text": "a smal one please, 2 of them", "intents": [{"intent": "order_pizza", "confidence": 1}]}}),
            None,
        ),
        (
            false,
            json!({"input": {"text": "bye", "entities": [{"entity": "city", "location": [0, 3], "value": "Paris", "confidence": 1}]}}),
            None,
        ),
        (
            false,
            json!({"input": {"text": ""}, "user_id": "top"}),
            None,
        ),
        (true, json!({"input": {"text": "hi"}}), None),
        (
            true,
            json!({"input": {"text": "I'd like a medium pizza", "options": {"return_context": true}}}),
            Some("c2"),
        ),
        (
            true,
            json!({"input": {"text": "what is the weather in New York", "options": {"export": true, "debug": true}}, "context": {"skills": {"main skill": {"user_defined": {"y": [1, 2]}}}}}),
            None,
        ),
        (
            true,
            json!({"input": {"text": "help", "options": {"restart": true, "return_context": true}}}),
            None,
        ),
        (
            true,
            json!({"input": {"text": "goodbye", "options": {"alternate_intents": true, "return_context": true}}}),
            None,
        ),
    ]
}

/// Replies and log records of [`check_requests`], masked, one JSON line each.
async fn check() -> anyhow::Result<()> {
    let store = Arc::new(MemoryStore {
        logs: Some(Mutex::new(Vec::new())),
        ..MemoryStore::default()
    });
    let (state, env) = demo_state(store.clone())?;
    let now = Utc::now();
    store
        .create_session(&Session {
            id: "s1".into(),
            assistant_id: env.assistant_id.clone(),
            environment_id: env.id.clone(),
            context: json!({}),
            created_at: now,
            last_active: now,
            timeout_secs: 300,
            version: 0,
        })
        .await?;
    for (stateful, body, customer) in check_requests() {
        let mode = if stateful {
            Mode::Stateful {
                session_id: "s1".into(),
            }
        } else {
            Mode::Stateless
        };
        let reply = pipeline::handle(&state, call(&env, mode, body, customer)).await;
        match reply {
            Ok(r) => {
                let r: Value = serde_json::from_slice(&r).expect("a JSON reply");
                println!("reply {}", masked(&r));
            }
            Err(e) => println!("error {}", e.message),
        }
    }
    for log in store
        .logs
        .as_ref()
        .expect("logs")
        .lock()
        .expect("logs")
        .iter()
    {
        println!("log {}", masked(log));
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let arg = std::env::args().nth(1).unwrap_or_else(|| "100".into());
    if arg == "check" {
        return rt.block_on(check());
    }
    let n: usize = arg.parse()?;
    let (state, env) = rt.block_on(async { demo_state(Arc::new(MemoryStore::default())) })?;
    // Warm-up outside the measured loop (lazy statics, first allocations).
    rt.block_on(one_message(&state, &env));
    let bytes = run_messages(&rt, &state, &env, n);
    println!("{n} messages, {bytes} reply bytes");
    Ok(())
}
