//! `run(config, listener, shutdown)`: the one entry point used by `main` and the tests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use dialogic_delivery::{TargetResolver, Worker, WorkerConfig};
use dialogic_webhook::{Client, ClientOptions, Target};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::LoadedConfig;
use crate::error::ServerError;
use crate::registry::Registry;
use crate::session_locks::SessionLocks;
use crate::state::{AppState, SharedState};

/// How often expired sessions are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Validate the config and compile every skill; Err lists every problem.
pub fn prepare(loaded: &LoadedConfig) -> Result<Registry, ServerError> {
    let problems = loaded.config.validate();
    if !problems.is_empty() {
        return Err(ServerError::Invalid(problems));
    }
    Registry::build(&loaded.config, &loaded.base_dir, true).map_err(ServerError::Invalid)
}

struct Resolver(Arc<Registry>);

impl TargetResolver for Resolver {
    fn log_target(&self, assistant_id: &str, environment_id: &str) -> Option<Target> {
        self.0.log_target(assistant_id, environment_id)
    }
}

/// Serve the API on `listener` until `shutdown` resolves, then stop accepting, finish the
/// requests in flight and the delivery attempts in flight, and return.
pub async fn run(
    loaded: LoadedConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let registry = prepare(&loaded)?;
    run_prepared(loaded, registry, listener, shutdown).await
}

/// [`run`] with a registry already built by [`prepare`] (so skills are not trained twice when
/// the caller validated the configuration before binding).
pub async fn run_prepared(
    loaded: LoadedConfig,
    registry: Registry,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let registry = Arc::new(registry);
    let config = &loaded.config;
    let store = dialogic_store::open(&config.storage.url)
        .await
        .map_err(ServerError::Store)?;
    let client = Client::new(ClientOptions {
        allow_http: config.webhooks.allow_http,
        allow_private_addresses: config.webhooks.allow_private_addresses,
        ..ClientOptions::default()
    })
    .map_err(ServerError::Webhook)?;
    if config.server.api_keys.is_empty() {
        tracing::warn!(
            "no [server] api_keys configured: the API is open to anyone who can reach it"
        );
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let worker = Worker::new(
        store.clone(),
        client.clone(),
        Arc::new(Resolver(registry.clone())),
        WorkerConfig {
            retry_schedule: config.delivery.retry_schedule.iter().map(|d| d.0).collect(),
            lease: config.delivery.lease.0,
            concurrency: config.delivery.concurrency as usize,
            poll_interval: config.delivery.poll_interval.0,
            ..WorkerConfig::default()
        },
    );
    let worker_task = worker.spawn(stopped(stop_rx.clone()));
    let sweeper_task = crate::sweeper::spawn(store.clone(), SWEEP_EVERY, stopped(stop_rx.clone()));
    let notify_worker = worker.clone();

    let state: SharedState = Arc::new(AppState {
        registry,
        store,
        client,
        api_keys: config
            .server
            .api_keys
            .iter()
            .map(|k| k.expose().to_owned())
            .collect(),
        max_body: config.server.max_body.0 as usize,
        locks: SessionLocks::default(),
        notify_delivery: Some(Arc::new(move || notify_worker.notify())),
    });
    let app = crate::api::router(state);
    let addr = listener.local_addr().map_err(ServerError::Io)?;
    tracing::info!(%addr, "dialogic listening");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Io);
    let _ = stop_tx.send(true);
    let _ = worker_task.await;
    let _ = sweeper_task.await;
    tracing::info!("dialogic stopped");
    served
}
