//! The background loop on the real clock: woken by `notify`, and on shutdown it claims
//! nothing more but finishes (and records) what is in flight.

use chrono::Utc;
use dialogic_store::DeliveryStatus;
use std::time::Duration;

use crate::harness::*;
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver};

on_both_backends!(notify_wakes_the_loop_and_shutdown_finishes_in_flight);

async fn notify_wakes_the_loop_and_shutdown_finishes_in_flight(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    rx.answer_all(Answer::ok().delay(Duration::from_millis(500)));
    // Polling is effectively off: only notify() can wake the loop after its first look.
    let mut cfg = config();
    cfg.poll_interval = Duration::from_secs(3600);
    let w = worker(&store, &Resolver::with(target(&rx.url)), cfg);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = w.spawn(async move {
        let _ = stopped.await;
    });
    // Let the loop take its first look at an empty outbox, then commit a turn and notify.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ids = enqueue(&store, "s1", 1, Utc::now()).await;
    let other = enqueue(&store, "s2", 1, Utc::now() + secs(3600.0)).await;
    w.notify();
    assert!(
        rx.wait_for_hits(1, Duration::from_secs(10)).await,
        "notify did not wake the loop"
    );
    // Shut down while the POST is in flight (the receiver holds it for 500 ms).
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .unwrap()
        .unwrap();
    let (d, a) = delivery(&store, &ids[0]).await;
    assert_eq!(
        d.status,
        DeliveryStatus::Delivered,
        "the in-flight attempt was recorded"
    );
    assert_eq!(a.len(), 1);
    // Not due yet: never touched.
    let (d, a) = delivery(&store, &other[0]).await;
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert!(a.is_empty());
    assert_eq!(rx.hits().len(), 1);
    db.cleanup().await;
}
