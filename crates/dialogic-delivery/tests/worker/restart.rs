//! Nothing pending is lost when the worker (or the process) stops: a new worker over the same
//! database delivers it, and an attempt abandoned mid-flight comes back when its lease ends.

use chrono::Utc;
use dialogic_delivery::RunSummary;
use dialogic_store::DeliveryStatus;
use std::time::Duration;

use crate::harness::*;
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver};

on_both_backends!(
    resume_after_restart,
    abandoned_attempt_returns_after_its_lease,
);

async fn resume_after_restart(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let rx = Receiver::start().await;
    let resolver = Resolver::with(target(&rx.url));
    let t0 = Utc::now();
    let (s1, s2) = {
        let store = db.open().await;
        let w = worker(&store, &resolver, config());
        let s1 = enqueue(&store, "s1", 3, t0).await;
        let s2 = enqueue(&store, "s2", 2, t0).await;
        rx.answer_all(Answer::status(503));
        let s = w.run_once(t0).await.unwrap();
        assert_eq!(
            s,
            RunSummary {
                claimed: 2,
                retried: 2,
                ..RunSummary::default()
            }
        );
        (s1, s2)
        // The worker and its store (the connection pool) are dropped here: "the server stops".
    };
    rx.answer_all(Answer::ok());
    let store = db.open().await;
    let w = worker(&store, &resolver, config());
    let s = w.run_once(t0 + secs(3600.0)).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 5,
            delivered: 5,
            ..RunSummary::default()
        }
    );
    for id in s1.iter().chain(&s2) {
        assert_eq!(
            delivery(&store, id).await.0.status,
            DeliveryStatus::Delivered
        );
    }
    for (name, ids) in [("s1", &s1), ("s2", &s2)] {
        let got: Vec<String> = rx
            .hits()
            .into_iter()
            .filter(|h| h.session.as_deref() == Some(name) && h.answered == 200)
            .map(|h| h.id)
            .collect();
        assert_eq!(&got, ids, "{name} delivered out of order");
    }
    db.cleanup().await;
}

async fn abandoned_attempt_returns_after_its_lease(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    let w = worker(&store, &Resolver::with(target(&rx.url)), config());
    let t0 = Utc::now();
    let ids = enqueue(&store, "s1", 2, t0).await;
    // A worker claims the head and dies before recording anything.
    let lease = Duration::from_secs(30);
    let claimed = store.claim_deliveries(t0, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, ids[0]);
    // While the lease lives, nobody else may send it (nor the session's next event).
    let s = w.run_once(t0 + secs(29.0)).await.unwrap();
    assert_eq!(s.claimed, 0);
    assert!(rx.hits().is_empty());
    // After it, the event is sent, then the next one.
    let s = w.run_once(t0 + secs(30.5)).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 2,
            delivered: 2,
            ..RunSummary::default()
        }
    );
    let got: Vec<String> = rx.hits().into_iter().map(|h| h.id).collect();
    assert_eq!(got, ids);
    db.cleanup().await;
}
