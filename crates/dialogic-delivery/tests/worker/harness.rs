//! Test wiring: a real store per backend (a temp SQLite file; a fresh PostgreSQL schema when
//! DIALOGIC_TEST_POSTGRES_URL is set), a changeable target resolver, the real webhook client,
//! and turns committed through `Store::commit_turn` exactly as the server does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dialogic_delivery::{TargetResolver, Worker, WorkerConfig};
use dialogic_store::{Delivery, LogRecord, NewDelivery, Store, TurnCommit};
use dialogic_webhook::{Auth, Client, ClientOptions, Secret, Target};
use serde_json::{json, Value};

pub const ASSISTANT: &str = "asst-1";
pub const ENVIRONMENT: &str = "draft";
pub const SECRET: &str = "purple unicorn";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One isolated database; SQLite files are removed on drop, PostgreSQL schemas by `cleanup`.
pub struct TestDb {
    pub url: String,
    dir: Option<PathBuf>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    /// None (after saying so) when the backend is not available here.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("dialogic-delivery-{tag}"));
                std::fs::create_dir_all(&dir).unwrap();
                Some(TestDb {
                    url: format!("sqlite://{}", dir.join("store.db").display()),
                    dir: Some(dir),
                    pg_schema: None,
                })
            }
            Backend::Postgres => {
                let Ok(base) = std::env::var("DIALOGIC_TEST_POSTGRES_URL") else {
                    eprintln!("skipping: DIALOGIC_TEST_POSTGRES_URL not set (PostgreSQL test)");
                    return None;
                };
                let schema = format!("dlv_{tag}");
                exec_pg(&base, &format!("CREATE SCHEMA {schema}")).await;
                let sep = if base.contains('?') { '&' } else { '?' };
                Some(TestDb {
                    url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                    dir: None,
                    pg_schema: Some((base, schema)),
                })
            }
        }
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        dialogic_store::open(&self.url).await.unwrap()
    }

    pub async fn cleanup(self) {
        if let Some((base, schema)) = &self.pg_schema {
            exec_pg(base, &format!("DROP SCHEMA {schema} CASCADE")).await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn exec_pg(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// Targets by (assistant, environment), changeable mid-test.
#[derive(Default)]
pub struct Resolver {
    targets: Mutex<HashMap<(String, String), Target>>,
}

impl Resolver {
    pub fn with(target: Target) -> Arc<Resolver> {
        let r = Resolver::default();
        r.set(Some(target));
        Arc::new(r)
    }
    pub fn set(&self, target: Option<Target>) {
        let key = (ASSISTANT.to_string(), ENVIRONMENT.to_string());
        let mut t = self.targets.lock().unwrap();
        match target {
            Some(target) => t.insert(key, target),
            None => t.remove(&key),
        };
    }
}

impl TargetResolver for Resolver {
    fn log_target(&self, assistant_id: &str, environment_id: &str) -> Option<Target> {
        self.targets
            .lock()
            .unwrap()
            .get(&(assistant_id.to_string(), environment_id.to_string()))
            .cloned()
    }
}

pub fn target(url: &str) -> Target {
    Target {
        url: url.to_string(),
        auth: Auth::Jwt(Secret::new(SECRET)),
        headers: vec![("X-Tenant".to_string(), "acme".to_string())],
        timeout: Duration::from_secs(5),
    }
}

pub fn client() -> Client {
    Client::new(ClientOptions {
        allow_http: true,
        allow_private_addresses: true,
        ..ClientOptions::default()
    })
    .unwrap()
}

/// The schedule in virtual seconds: the tests move the clock, nothing waits for it.
pub fn config() -> WorkerConfig {
    WorkerConfig {
        retry_schedule: vec![
            Duration::from_secs(10),
            Duration::from_secs(20),
            Duration::from_secs(40),
        ],
        lease: Duration::from_secs(30),
        concurrency: 8,
        poll_interval: Duration::from_millis(20),
        jitter: 0.2,
        max_retry_after: Duration::from_secs(3600),
    }
}

pub fn worker(store: &Arc<dyn Store>, resolver: &Arc<Resolver>, config: WorkerConfig) -> Worker {
    config.validate(Duration::from_secs(5)).unwrap();
    Worker::new(
        Arc::clone(store),
        client(),
        Arc::clone(resolver) as Arc<dyn TargetResolver>,
        config,
    )
}

pub fn secs(s: f64) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(Duration::from_secs_f64(s)).unwrap()
}

/// Commit one turn per event for `session`, each with its log record and one outbox row,
/// due at `due`. Returns the delivery ids (= log ids) in sequence order.
pub async fn enqueue(
    store: &Arc<dyn Store>,
    session: &str,
    count: usize,
    due: DateTime<Utc>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        let log_id = uuid::Uuid::new_v4().to_string();
        let record = json!({
            "log_id": log_id,
            "assistant_id": ASSISTANT,
            "session_id": session,
            "skill_id": "skill-1",
            "snapshot": ENVIRONMENT,
            "language": "en",
            "request_timestamp": due.to_rfc3339(),
            "response_timestamp": due.to_rfc3339(),
            "request": {"input": {"text": format!("message {i}")}},
            "response": {"output": {"generic": [{"response_type": "text", "text": "hi"}]}},
        });
        store
            .commit_turn(&TurnCommit {
                session: None,
                log: LogRecord {
                    log_id: log_id.clone(),
                    assistant_id: ASSISTANT.to_string(),
                    environment_id: ENVIRONMENT.to_string(),
                    session_id: session.to_string(),
                    customer_id: None,
                    request_timestamp: due,
                    response_timestamp: due,
                    record: record.to_string(),
                },
                calls: vec![],
                deliveries: vec![NewDelivery {
                    id: log_id.clone(),
                    assistant_id: ASSISTANT.to_string(),
                    environment_id: ENVIRONMENT.to_string(),
                    session_id: session.to_string(),
                    event: "message_logged".to_string(),
                    body: None,
                    due_at: due,
                }],
            })
            .await
            .unwrap();
        ids.push(log_id);
    }
    ids
}

pub async fn delivery(
    store: &Arc<dyn Store>,
    id: &str,
) -> (Delivery, Vec<dialogic_store::Attempt>) {
    store.get_delivery(id).await.unwrap().unwrap()
}

pub fn body_of(d: &Delivery) -> Value {
    serde_json::from_str(&d.body).expect("a delivery body is JSON")
}

/// Defines one `#[tokio::test]` per scenario and backend: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::harness::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::harness::Backend::Postgres).await
                }
            )*
        }
    };
}
