//! Targets that are missing, refused by the SSRF guard, or not listening.

use chrono::Utc;
use dialogic_delivery::attempt::NO_TARGET_ERROR;
use dialogic_delivery::{RunSummary, TargetResolver, Worker};
use dialogic_store::DeliveryStatus;
use dialogic_webhook::{Client, ClientOptions};
use std::sync::Arc;

use crate::harness::*;
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver};
use std::time::Duration;

on_both_backends!(
    missing_target_keeps_the_event_on_the_schedule,
    refused_destination_is_dead_at_once,
    connection_refused_is_retried,
    oversized_reply_is_retried_not_delivered,
    a_timeout_longer_than_the_lease_is_shortened,
);

async fn missing_target_keeps_the_event_on_the_schedule(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    let resolver = Arc::new(Resolver::default());
    let w = worker(&store, &resolver, config());
    let t0 = Utc::now();
    let id = enqueue(&store, "s1", 1, t0).await.remove(0);
    let s = w.run_once(t0).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 1,
            retried: 1,
            ..RunSummary::default()
        }
    );
    let (d, a) = delivery(&store, &id).await;
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(a[0].error.as_deref(), Some(NO_TARGET_ERROR));
    assert_eq!(a[0].status_code, None);
    // The operator puts the webhook back: the event goes out on its next turn.
    resolver.set(Some(target(&rx.url)));
    let s = w.run_once(d.due_at).await.unwrap();
    assert_eq!(s.delivered, 1);
    assert_eq!(rx.hits_for(&id).len(), 1);
    db.cleanup().await;
}

async fn refused_destination_is_dead_at_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    // The production guard: loopback is refused.
    let guarded = Client::new(ClientOptions {
        allow_http: true,
        allow_private_addresses: false,
        ..ClientOptions::default()
    })
    .unwrap();
    let resolver: Arc<dyn TargetResolver> = Resolver::with(target(&rx.url));
    let w = Worker::new(Arc::clone(&store), guarded, resolver, config());
    let t0 = Utc::now();
    let id = enqueue(&store, "s1", 1, t0).await.remove(0);
    let s = w.run_once(t0).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 1,
            dead: 1,
            ..RunSummary::default()
        }
    );
    let (d, a) = delivery(&store, &id).await;
    assert_eq!(d.status, DeliveryStatus::Dead);
    assert!(a[0].error.is_some());
    assert!(rx.hits().is_empty(), "nothing reached the refused address");
    db.cleanup().await;
}

async fn connection_refused_is_retried(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/log");
    let w = worker(&store, &Resolver::with(target(&url)), config());
    let t0 = Utc::now();
    let id = enqueue(&store, "s1", 1, t0).await.remove(0);
    let s = w.run_once(t0).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 1,
            retried: 1,
            ..RunSummary::default()
        }
    );
    let (d, a) = delivery(&store, &id).await;
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(a[0].status_code, None);
    assert!(a[0].error.is_some());
    let wait = (d.due_at - a[0].at).as_seconds_f64();
    assert!((8.0..=13.0).contains(&wait), "wait {wait}");
    db.cleanup().await;
}

async fn oversized_reply_is_retried_not_delivered(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    // A 200 whose body is over the client's cap: we never saw the whole answer.
    rx.answer_all(Answer::status(200).body("y".repeat(10_000)));
    let small = Client::new(ClientOptions {
        allow_http: true,
        allow_private_addresses: true,
        max_response_bytes: 1_000,
    })
    .unwrap();
    let resolver: Arc<dyn TargetResolver> = Resolver::with(target(&rx.url));
    let w = Worker::new(Arc::clone(&store), small, resolver, config());
    let t0 = Utc::now();
    let id = enqueue(&store, "s1", 1, t0).await.remove(0);
    let s = w.run_once(t0).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 1,
            retried: 1,
            ..RunSummary::default()
        }
    );
    let (d, a) = delivery(&store, &id).await;
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(
        a[0].error.as_deref(),
        Some(dialogic_webhook::CallError::TooLarge.to_string().as_str())
    );
    db.cleanup().await;
}

async fn a_timeout_longer_than_the_lease_is_shortened(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    rx.answer_all(Answer::ok().delay(Duration::from_secs(5)));
    let mut t = target(&rx.url);
    t.timeout = Duration::from_secs(10);
    let mut cfg = config();
    cfg.lease = Duration::from_secs(1);
    // validate() would refuse this pair; a resolver could still hand it out at run time.
    assert!(cfg.validate(t.timeout).is_err());
    let resolver: Arc<dyn TargetResolver> = Resolver::with(t);
    let w = Worker::new(Arc::clone(&store), client(), resolver, cfg);
    let t0 = Utc::now();
    let id = enqueue(&store, "s1", 1, t0).await.remove(0);
    let s = w.run_once(t0).await.unwrap();
    assert_eq!(s.retried, 1);
    let (_, a) = delivery(&store, &id).await;
    assert_eq!(
        a[0].error.as_deref(),
        Some(dialogic_webhook::CallError::Timeout.to_string().as_str())
    );
    // Cut at 90% of the 1 s lease, not at the 10 s timeout nor the 5 s answer.
    assert!(
        (850..3000).contains(&a[0].latency_ms),
        "latency {}",
        a[0].latency_ms
    );
    db.cleanup().await;
}
