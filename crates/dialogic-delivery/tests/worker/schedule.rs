//! The retry schedule, jitter, slow-down after timeouts and 429s, Retry-After, dead-lettering
//! and replay.

use chrono::{DateTime, Utc};
use dialogic_delivery::RunSummary;
use dialogic_store::{Attempt, Delivery, DeliveryStatus};
use dialogic_webhook::CallError;
use std::time::Duration;

use crate::harness::*;
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver};

on_both_backends!(
    retry_schedule_then_dead,
    jitter_stays_within_bounds,
    timeout_and_429_wait_longer,
    retry_after_seconds_date_and_clamp,
    other_4xx_are_dead_at_once,
    replay_dead_deliveries,
);

/// Seconds from the attempt's start to the next due time.
fn wait_after(d: &Delivery, attempt: &Attempt) -> f64 {
    (d.due_at - attempt.at).as_seconds_f64()
}

fn in_range(x: f64, lo: f64, hi: f64) -> bool {
    x >= lo && x <= hi
}

async fn retry_schedule_then_dead(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    rx.answer_all(Answer::status(500).body("boom"));
    let w = worker(&store, &Resolver::with(target(&rx.url)), config());
    let t0 = Utc::now();
    let ids = enqueue(&store, "s1", 1, t0).await;
    let mut now = t0;
    for (i, base) in [10.0, 20.0, 40.0].into_iter().enumerate() {
        let s = w.run_once(now).await.unwrap();
        assert_eq!(
            s,
            RunSummary {
                claimed: 1,
                retried: 1,
                ..RunSummary::default()
            },
            "attempt {}",
            i + 1
        );
        let (d, attempts) = delivery(&store, &ids[0]).await;
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert_eq!(d.attempts as usize, i + 1);
        assert_eq!(attempts.len(), i + 1);
        let wait = wait_after(&d, attempts.last().unwrap());
        // +/-20% jitter, plus the real time the attempt took (well under a second).
        assert!(
            in_range(wait, 0.8 * base, 1.2 * base + 1.0),
            "wait {wait} after attempt {}",
            i + 1
        );
        // Not due a millisecond early.
        let early = w.run_once(d.due_at - secs(0.001)).await.unwrap();
        assert_eq!(early.claimed, 0);
        now = d.due_at;
    }
    let s = w.run_once(now).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 1,
            dead: 1,
            ..RunSummary::default()
        }
    );
    let (d, attempts) = delivery(&store, &ids[0]).await;
    assert_eq!(d.status, DeliveryStatus::Dead);
    assert_eq!(attempts.len(), 4);
    for a in &attempts {
        assert_eq!(a.status_code, Some(500));
        assert_eq!(a.response_body.as_deref(), Some("boom"));
        assert_eq!(a.error, None);
        assert!(a.latency_ms >= 0);
    }
    let hits = rx.hits_for(&ids[0]);
    assert_eq!(hits.len(), 4, "one POST per attempt, same webhook-id");
    // Dead stays dead, however late.
    let later = w.run_once(now + secs(1e6)).await.unwrap();
    assert_eq!(later.claimed, 0);
    db.cleanup().await;
}

async fn jitter_stays_within_bounds(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    rx.answer_all(Answer::status(503));
    let w = worker(&store, &Resolver::with(target(&rx.url)), config());
    let t0 = Utc::now();
    let mut ids = Vec::new();
    for s in 0..50 {
        ids.extend(enqueue(&store, &format!("s{s}"), 1, t0).await);
    }
    let s = w.run_once(t0).await.unwrap();
    assert_eq!(s.claimed, 50);
    assert_eq!(s.retried, 50);
    let mut waits = Vec::new();
    for id in &ids {
        let (d, attempts) = delivery(&store, id).await;
        waits.push(wait_after(&d, &attempts[0]));
    }
    let min = waits.iter().copied().fold(f64::MAX, f64::min);
    let max = waits.iter().copied().fold(f64::MIN, f64::max);
    assert!(min >= 8.0, "shortest wait {min} below -20%");
    assert!(max <= 12.0 + 1.0, "longest wait {max} above +20%");
    // Jitter actually spreads them (50 uniform draws over 8..12 s span well over 2 s).
    assert!(max - min > 2.0, "waits not spread: {min}..{max}");
    db.cleanup().await;
}

async fn timeout_and_429_wait_longer(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    let mut t = target(&rx.url);
    t.timeout = Duration::from_millis(300);
    let w = worker(&store, &Resolver::with(t), config());
    let t0 = Utc::now();
    let slow = enqueue(&store, "slow", 1, t0).await.remove(0);
    let throttled = enqueue(&store, "throttled", 1, t0).await.remove(0);
    let broken = enqueue(&store, "broken", 1, t0).await.remove(0);
    rx.script(&slow, [Answer::ok().delay(Duration::from_secs(3))]);
    rx.script(&throttled, [Answer::status(429)]);
    rx.script(&broken, [Answer::status(502)]);
    let s = w.run_once(t0).await.unwrap();
    assert_eq!(s.retried, 3);

    let (d, a) = delivery(&store, &slow).await;
    assert_eq!(a[0].status_code, None);
    assert_eq!(
        a[0].error.as_deref(),
        Some(CallError::Timeout.to_string().as_str())
    );
    assert!(a[0].latency_ms >= 300, "latency {}", a[0].latency_ms);
    let wait = wait_after(&d, &a[0]);
    assert!(in_range(wait, 16.0, 24.0 + 1.0), "after a timeout: {wait}");

    let (d, a) = delivery(&store, &throttled).await;
    assert_eq!(a[0].status_code, Some(429));
    let wait = wait_after(&d, &a[0]);
    assert!(in_range(wait, 16.0, 24.0 + 1.0), "after a 429: {wait}");

    let (d, a) = delivery(&store, &broken).await;
    let wait = wait_after(&d, &a[0]);
    assert!(in_range(wait, 8.0, 12.0 + 1.0), "after a 502: {wait}");
    db.cleanup().await;
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

async fn retry_after_seconds_date_and_clamp(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    let w = worker(&store, &Resolver::with(target(&rx.url)), config());
    let t0 = Utc::now();
    let seconds = enqueue(&store, "seconds", 1, t0).await.remove(0);
    let date = enqueue(&store, "date", 1, t0).await.remove(0);
    let huge = enqueue(&store, "huge", 1, t0).await.remove(0);
    let tiny = enqueue(&store, "tiny", 1, t0).await.remove(0);
    rx.script(&seconds, [Answer::status(503).header("Retry-After", "300")]);
    rx.script(
        &date,
        [Answer::status(429).header("Retry-After", &http_date(t0 + secs(600.0)))],
    );
    rx.script(&huge, [Answer::status(503).header("Retry-After", "86400")]);
    rx.script(&tiny, [Answer::status(503).header("Retry-After", "1")]);
    let s = w.run_once(t0).await.unwrap();
    assert_eq!(s.retried, 4);

    let (d, a) = delivery(&store, &seconds).await;
    let wait = wait_after(&d, &a[0]);
    assert!(in_range(wait, 300.0, 301.0), "Retry-After: 300 gave {wait}");

    let (d, _) = delivery(&store, &date).await;
    let off = (d.due_at - (t0 + secs(600.0))).as_seconds_f64();
    assert!(
        in_range(off, -1.0, 1.0),
        "Retry-After date missed by {off}s"
    );

    let (d, a) = delivery(&store, &huge).await;
    let wait = wait_after(&d, &a[0]);
    assert!(in_range(wait, 3600.0, 3601.0), "clamped to 1h, got {wait}");

    let (d, a) = delivery(&store, &tiny).await;
    let wait = wait_after(&d, &a[0]);
    assert!(
        in_range(wait, 8.0, 13.0),
        "a shorter Retry-After never beats the schedule: {wait}"
    );
    db.cleanup().await;
}

async fn other_4xx_are_dead_at_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    let w = worker(&store, &Resolver::with(target(&rx.url)), config());
    let t0 = Utc::now();
    let mut cases = Vec::new();
    for status in [400u16, 401, 403, 404, 410, 422, 301, 408] {
        let id = enqueue(&store, &format!("s{status}"), 1, t0)
            .await
            .remove(0);
        rx.script(&id, [Answer::status(status).header("Retry-After", "5")]);
        cases.push((status, id));
    }
    let s = w.run_once(t0).await.unwrap();
    assert_eq!(s.claimed, 8);
    assert_eq!(s.dead, 7);
    assert_eq!(s.retried, 1);
    for (status, id) in cases {
        let (d, a) = delivery(&store, &id).await;
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].status_code, Some(i32::from(status)));
        let expected = if status == 408 {
            DeliveryStatus::Failed
        } else {
            DeliveryStatus::Dead
        };
        assert_eq!(d.status, expected, "status {status}");
    }
    db.cleanup().await;
}

async fn replay_dead_deliveries(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    rx.answer_all(Answer::status(404));
    let w = worker(&store, &Resolver::with(target(&rx.url)), config());
    let t0 = Utc::now();
    let mut ids = Vec::new();
    for s in 0..4 {
        ids.extend(enqueue(&store, &format!("s{s}"), 1, t0).await);
    }
    assert_eq!(w.run_once(t0).await.unwrap().dead, 4);

    // The receiver is fixed. One by hand...
    rx.answer_all(Answer::ok());
    let t1 = t0 + secs(60.0);
    assert!(store.retry_delivery(&ids[0], t1).await.unwrap());
    let s = w.run_once(t1).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 1,
            delivered: 1,
            ..RunSummary::default()
        }
    );
    assert_eq!(
        delivery(&store, &ids[0]).await.0.status,
        DeliveryStatus::Delivered
    );

    // ...then the rest as a batch (nothing created after "since" in the future).
    let future = Utc::now() + secs(3600.0);
    assert_eq!(
        store
            .retry_deliveries(DeliveryStatus::Dead, Some(future), t1)
            .await
            .unwrap(),
        0
    );
    let n = store
        .retry_deliveries(DeliveryStatus::Dead, Some(t0 - secs(60.0)), t1)
        .await
        .unwrap();
    assert_eq!(n, 3);
    let s = w.run_once(t1).await.unwrap();
    assert_eq!(
        s,
        RunSummary {
            claimed: 3,
            delivered: 3,
            ..RunSummary::default()
        }
    );
    for id in &ids {
        let (d, a) = delivery(&store, id).await;
        assert_eq!(d.status, DeliveryStatus::Delivered);
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].status_code, Some(200));
        // Same webhook-id both times: the receiver can dedupe.
        assert_eq!(rx.hits_for(id).len(), 2);
    }
    db.cleanup().await;
}
