//! Two workers (each with its own store handle, as two server processes would have) sharing
//! one database never send the same attempt twice at once, nor two events of one session.

use chrono::Utc;
use dialogic_store::DeliveryStatus;
use std::collections::HashMap;
use std::time::Duration;

use crate::harness::*;
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver};

on_both_backends!(two_workers_one_database);

async fn two_workers_one_database(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let rx = Receiver::start().await;
    rx.answer_all(Answer::ok().delay(Duration::from_millis(20)));
    let resolver = Resolver::with(target(&rx.url));
    let store_a = db.open().await;
    let store_b = db.open().await;
    let a = worker(&store_a, &resolver, config());
    let b = worker(&store_b, &resolver, config());
    let t0 = Utc::now();
    let mut all = Vec::new();
    for s in 0..12 {
        let ids = enqueue(&store_a, &format!("s{s}"), 4, t0).await;
        // The first event of every other session fails once, so retries interleave too.
        if s % 2 == 0 {
            rx.script(&ids[0], [Answer::status(500)]);
        }
        all.push((format!("s{s}"), ids));
    }

    let mut now = t0;
    let mut delivered = 0;
    let mut rounds = 0;
    while delivered < 48 {
        rounds += 1;
        assert!(
            rounds <= 5,
            "not drained after {rounds} rounds ({delivered} delivered)"
        );
        let (ra, rb) = tokio::join!(a.run_once(now), b.run_once(now));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        delivered += ra.delivered + rb.delivered;
        now += secs(3600.0);
    }
    assert_eq!(delivered, 48);
    assert!(
        rx.overlaps().is_empty(),
        "concurrent duplicates: {:?}",
        rx.overlaps()
    );

    let hits = rx.hits();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for h in &hits {
        *per_id.entry(h.id.as_str()).or_default() += 1;
    }
    for (s, (name, ids)) in all.iter().enumerate() {
        for (i, id) in ids.iter().enumerate() {
            let want = if s % 2 == 0 && i == 0 { 2 } else { 1 };
            assert_eq!(
                per_id.get(id.as_str()),
                Some(&want),
                "{name} event {}",
                i + 1
            );
            assert_eq!(
                delivery(&store_b, id).await.0.status,
                DeliveryStatus::Delivered
            );
        }
        let got: Vec<&str> = hits
            .iter()
            .filter(|h| h.session.as_deref() == Some(name.as_str()) && h.answered == 200)
            .map(|h| h.id.as_str())
            .collect();
        let want: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_eq!(got, want, "{name} out of order");
    }
    db.cleanup().await;
}
