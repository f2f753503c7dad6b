//! Per-session order (a failing first event holds back the rest of its session) and
//! parallelism across sessions.

use chrono::Utc;
use dialogic_delivery::RunSummary;
use dialogic_store::DeliveryStatus;
use std::time::Duration;

use crate::harness::*;
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver};

on_both_backends!(
    failing_first_event_holds_back_its_session,
    sessions_go_in_parallel_and_in_order,
    a_stuck_session_does_not_block_others,
);

async fn failing_first_event_holds_back_its_session(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    let w = worker(&store, &Resolver::with(target(&rx.url)), config());
    let t0 = Utc::now();
    let ids = enqueue(&store, "s1", 3, t0).await;
    rx.script(&ids[0], [Answer::status(500)]);

    let s = w.run_once(t0).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 1,
            retried: 1,
            ..RunSummary::default()
        }
    );
    // Events 2 and 3 are due but wait for event 1.
    let s = w.run_once(t0 + secs(5.0)).await.unwrap();
    assert_eq!(s.claimed, 0);
    for id in &ids[1..] {
        let (d, a) = delivery(&store, id).await;
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert!(a.is_empty());
    }
    // Once event 1 is due again, the whole session drains in order within one run.
    let due = delivery(&store, &ids[0]).await.0.due_at;
    let s = w.run_once(due).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 3,
            delivered: 3,
            ..RunSummary::default()
        }
    );
    let hits = rx.hits();
    let order: Vec<(&str, Option<i64>)> =
        hits.iter().map(|h| (h.id.as_str(), h.sequence)).collect();
    assert_eq!(
        order,
        [
            (ids[0].as_str(), Some(1)),
            (ids[0].as_str(), Some(1)),
            (ids[1].as_str(), Some(2)),
            (ids[2].as_str(), Some(3)),
        ]
    );
    db.cleanup().await;
}

async fn sessions_go_in_parallel_and_in_order(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    rx.answer_all(Answer::ok().delay(Duration::from_millis(300)));
    let w = worker(&store, &Resolver::with(target(&rx.url)), config());
    let t0 = Utc::now();
    let mut sessions = Vec::new();
    for s in 0..16 {
        let name = format!("s{s}");
        let ids = enqueue(&store, &name, 3, t0).await;
        sessions.push((name, ids));
    }
    let s = w.run_once(t0).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 48,
            delivered: 48,
            ..RunSummary::default()
        }
    );
    let max = rx.max_in_flight();
    assert!(
        max >= 2,
        "sessions were not delivered in parallel (max in flight {max})"
    );
    assert!(max <= 8, "concurrency limit exceeded: {max} in flight");
    assert!(
        rx.overlaps().is_empty(),
        "an event of one session overlapped another: {:?}",
        rx.overlaps()
    );
    let hits = rx.hits();
    for (name, ids) in &sessions {
        let seen: Vec<&str> = hits
            .iter()
            .filter(|h| h.session.as_deref() == Some(name.as_str()))
            .map(|h| h.id.as_str())
            .collect();
        let want: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_eq!(seen, want, "session {name} out of order");
    }
    db.cleanup().await;
}

async fn a_stuck_session_does_not_block_others(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    let w = worker(&store, &Resolver::with(target(&rx.url)), config());
    let t0 = Utc::now();
    let stuck = enqueue(&store, "stuck", 2, t0).await;
    let fine = enqueue(&store, "fine", 3, t0).await;
    rx.script(&stuck[0], [Answer::status(503), Answer::status(503)]);
    let s = w.run_once(t0).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 4,
            delivered: 3,
            retried: 1,
            ..RunSummary::default()
        }
    );
    for id in &fine {
        assert_eq!(
            delivery(&store, id).await.0.status,
            DeliveryStatus::Delivered
        );
    }
    assert_eq!(
        delivery(&store, &stuck[1]).await.0.status,
        DeliveryStatus::Pending
    );
    db.cleanup().await;
}
