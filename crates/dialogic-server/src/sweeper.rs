//! Deletes expired sessions in the background.

use std::sync::Arc;
use std::time::Duration;

use dialogic_store::Store;

/// Sweep every `every` until `shutdown` resolves.
pub fn spawn(
    store: Arc<dyn Store>,
    every: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tick.tick() => {
                    match store.sweep_expired(chrono::Utc::now()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(swept = n, "expired sessions deleted"),
                        Err(e) => tracing::warn!(error = %e, "session sweep failed"),
                    }
                }
            }
        }
    })
}
