//! The conformance cases. Every case runs against every backend.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use dialogic_store::{
    Attempt, AttemptOutcome, DeliveryCounts, DeliveryQuery, DeliveryStatus, LogQuery, LogRecord,
    NewDelivery, Session, SessionUpdate, Store, StoreError, TurnCommit, WebhookCallQuery,
    WebhookCallRecord,
};
use serde_json::json;

use crate::Harness;

const LEASE: Duration = Duration::from_secs(60);

/// A fixed instant (2027-01-15) plus `secs`; whole seconds survive every backend exactly.
fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn session(id: &str, assistant: &str, last_active: DateTime<Utc>, timeout: i64) -> Session {
    Session {
        id: id.into(),
        assistant_id: assistant.into(),
        environment_id: "draft".into(),
        // Key order must survive storage (clients see it).
        context: json!({"global": {"system": {"turn_count": 0}}, "skills": {}, "a": 1, "Z": 2}),
        created_at: last_active,
        last_active,
        timeout_secs: timeout,
        version: 0,
    }
}

fn log(log_id: &str, assistant: &str, session: &str, customer: Option<&str>, ts: i64) -> LogRecord {
    LogRecord {
        log_id: log_id.into(),
        assistant_id: assistant.into(),
        environment_id: "live".into(),
        session_id: session.into(),
        customer_id: customer.map(Into::into),
        request_timestamp: t(ts),
        response_timestamp: t(ts) + TimeDelta::milliseconds(250),
        record: json!({"log_id": log_id, "request": {"input": {"text": "hi"}}, "response": {}})
            .to_string(),
    }
}

fn delivery(id: &str, session: &str, due: DateTime<Utc>) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        assistant_id: "a1".into(),
        environment_id: "live".into(),
        session_id: session.into(),
        event: "message_logged".into(),
        // As the server does: the body is the turn's log record, read from its row.
        body: None,
        due_at: due,
    }
}

/// A stateless turn whose log id is also its one delivery's id (as the server does).
fn stateless_turn(log_id: &str, session: &str, customer: Option<&str>, ts: i64) -> TurnCommit {
    TurnCommit {
        session: None,
        log: log(log_id, "a1", session, customer, ts),
        calls: vec![],
        deliveries: vec![delivery(log_id, session, t(ts))],
    }
}

fn attempt(id: &str, at: DateTime<Utc>, status: Option<i32>) -> Attempt {
    Attempt {
        delivery_id: id.into(),
        at,
        status_code: status,
        latency_ms: 12,
        response_body: status.map(|s| format!("status {s}")),
        error: if status.is_none() {
            Some("connection refused".into())
        } else {
            None
        },
    }
}

async fn all_logs(store: &Arc<dyn Store>, assistant: &str) -> Vec<LogRecord> {
    store
        .list_logs(&LogQuery {
            assistant_id: assistant.into(),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .logs
}

async fn claim_ids(store: &Arc<dyn Store>, now: DateTime<Utc>, limit: u32) -> Vec<String> {
    store
        .claim_deliveries(now, LEASE, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect()
}

async fn status_of(store: &Arc<dyn Store>, id: &str) -> DeliveryStatus {
    store.get_delivery(id).await.unwrap().unwrap().0.status
}

pub async fn backend_name_and_ping(h: &Harness) {
    assert!(["sqlite", "postgres"].contains(&h.store.backend()));
    h.store.ping().await.unwrap();
}

pub async fn session_crud(h: &Harness) {
    let s = &h.store;
    let sess = session("s1", "a1", t(0), 300);
    s.create_session(&sess).await.unwrap();
    let loaded = s.load_session("a1", "s1", t(10)).await.unwrap().unwrap();
    assert_eq!(loaded, sess);
    assert_eq!(
        serde_json::to_string(&loaded.context).unwrap(),
        serde_json::to_string(&sess.context).unwrap(),
        "key order is kept"
    );
    assert_eq!(loaded.expires_at(), t(300));
    // Another assistant's id does not reach it.
    assert_eq!(s.load_session("a2", "s1", t(10)).await.unwrap(), None);
    assert_eq!(s.load_session("a1", "nope", t(10)).await.unwrap(), None);
    // Creating the same id twice is refused.
    assert!(s.create_session(&sess).await.is_err());

    assert!(!s.delete_session("a2", "s1").await.unwrap());
    assert!(s.delete_session("a1", "s1").await.unwrap());
    assert!(!s.delete_session("a1", "s1").await.unwrap());
    assert_eq!(s.load_session("a1", "s1", t(10)).await.unwrap(), None);
}

pub async fn session_expiry_and_sweep(h: &Harness) {
    let s = &h.store;
    s.create_session(&session("short", "a1", t(0), 60))
        .await
        .unwrap();
    s.create_session(&session("long", "a1", t(0), 3600))
        .await
        .unwrap();
    assert!(s
        .load_session("a1", "short", t(59))
        .await
        .unwrap()
        .is_some());
    // Expired exactly at last_active + timeout.
    assert!(s
        .load_session("a1", "short", t(60))
        .await
        .unwrap()
        .is_none());

    // A committed turn moves last_active, and with it the expiry.
    let turn = TurnCommit {
        session: Some(SessionUpdate {
            id: "short".into(),
            expected_version: 0,
            context: json!({"turn": 1}),
            last_active: t(50),
        }),
        log: log("l1", "a1", "short", None, 50),
        calls: vec![],
        deliveries: vec![],
    };
    s.commit_turn(&turn).await.unwrap();
    assert!(s
        .load_session("a1", "short", t(100))
        .await
        .unwrap()
        .is_some());
    assert!(s
        .load_session("a1", "short", t(110))
        .await
        .unwrap()
        .is_none());

    assert_eq!(s.sweep_expired(t(109)).await.unwrap(), 0);
    assert_eq!(s.sweep_expired(t(110)).await.unwrap(), 1);
    assert!(!s.delete_session("a1", "short").await.unwrap(), "swept");
    assert!(s
        .load_session("a1", "long", t(110))
        .await
        .unwrap()
        .is_some());
    assert_eq!(s.sweep_expired(t(3600)).await.unwrap(), 1);
    assert_eq!(s.sweep_expired(t(99_999)).await.unwrap(), 0);
}

pub async fn commit_turn_updates_session_and_writes_log(h: &Harness) {
    let s = &h.store;
    s.create_session(&session("s1", "a1", t(0), 300))
        .await
        .unwrap();
    for (v, ts) in [(0, 5), (1, 6)] {
        let turn = TurnCommit {
            session: Some(SessionUpdate {
                id: "s1".into(),
                expected_version: v,
                context: json!({"global": {"system": {"turn_count": v + 1}}}),
                last_active: t(ts),
            }),
            log: log(&format!("l{v}"), "a1", "s1", None, ts),
            calls: vec![],
            deliveries: vec![],
        };
        s.commit_turn(&turn).await.unwrap();
    }
    let loaded = s.load_session("a1", "s1", t(7)).await.unwrap().unwrap();
    assert_eq!(loaded.version, 2);
    assert_eq!(loaded.last_active, t(6));
    assert_eq!(loaded.created_at, t(0));
    assert_eq!(
        loaded.context,
        json!({"global": {"system": {"turn_count": 2}}})
    );
    let logs = all_logs(s, "a1").await;
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0], log("l1", "a1", "s1", None, 6));
}

pub async fn commit_turn_conflict_writes_nothing(h: &Harness) {
    let s = &h.store;
    s.create_session(&session("s1", "a1", t(0), 300))
        .await
        .unwrap();
    let stale = TurnCommit {
        session: Some(SessionUpdate {
            id: "s1".into(),
            expected_version: 7,
            context: json!({"lost": true}),
            last_active: t(5),
        }),
        log: log("l1", "a1", "s1", Some("c1"), 5),
        calls: vec![call("w1", 5, "a1", "dialog", Some(200))],
        deliveries: vec![delivery("l1", "s1", t(5))],
    };
    let err = s.commit_turn(&stale).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(id) if id == "s1"),
        "{err:?}"
    );

    let loaded = s.load_session("a1", "s1", t(6)).await.unwrap().unwrap();
    assert_eq!(loaded.version, 0);
    assert_eq!(loaded.context, session("s1", "a1", t(0), 300).context);
    assert!(all_logs(s, "a1").await.is_empty(), "no log");
    assert_eq!(s.get_delivery("l1").await.unwrap(), None, "no outbox row");
    let no_calls = s.list_webhook_calls(&WebhookCallQuery::default()).await;
    assert!(no_calls.unwrap().is_empty(), "no webhook call record");
    assert!(claim_ids(s, t(1000), 10).await.is_empty());

    // The same turn at the right version goes through, with sequence 1 (the failed attempt
    // consumed nothing).
    let good = TurnCommit {
        session: Some(SessionUpdate {
            expected_version: 0,
            ..stale.session.clone().unwrap()
        }),
        ..stale
    };
    s.commit_turn(&good).await.unwrap();
    let (d, _) = s.get_delivery("l1").await.unwrap().unwrap();
    assert_eq!(d.sequence, 1);
    // The turn's webhook call records commit with it.
    let calls = s
        .list_webhook_calls(&WebhookCallQuery::default())
        .await
        .unwrap();
    assert_eq!(calls, vec![call("w1", 5, "a1", "dialog", Some(200))]);
}

pub async fn commit_turn_on_deleted_session_is_a_conflict(h: &Harness) {
    let s = &h.store;
    s.create_session(&session("s1", "a1", t(0), 300))
        .await
        .unwrap();
    s.delete_session("a1", "s1").await.unwrap();
    let turn = TurnCommit {
        session: Some(SessionUpdate {
            id: "s1".into(),
            expected_version: 0,
            context: json!({}),
            last_active: t(5),
        }),
        log: log("l1", "a1", "s1", None, 5),
        calls: vec![],
        deliveries: vec![],
    };
    assert!(matches!(
        s.commit_turn(&turn).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(all_logs(s, "a1").await.is_empty());
}

pub async fn concurrent_commits_exactly_one_wins(h: &Harness) {
    let s = &h.store;
    let other = h.reopen().await;
    s.create_session(&session("s1", "a1", t(0), 300))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        // Half through a second store instance: a second process, as the database sees it.
        let store = if i % 2 == 0 { s.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            let turn = TurnCommit {
                session: Some(SessionUpdate {
                    id: "s1".into(),
                    expected_version: 0,
                    context: json!({"winner": i}),
                    last_active: t(10),
                }),
                log: log(&format!("l{i}"), "a1", "s1", None, 10),
                calls: vec![],
                deliveries: vec![delivery(&format!("l{i}"), "s1", t(10))],
            };
            (i, store.commit_turn(&turn).await)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (i, r) = task.await.unwrap();
        match r {
            Ok(()) => winners.push(i),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("commit {i}: unexpected error {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one wins: {winners:?}");
    let loaded = s.load_session("a1", "s1", t(11)).await.unwrap().unwrap();
    assert_eq!(loaded.version, 1);
    assert_eq!(loaded.context, json!({"winner": winners[0]}));
    let logs = all_logs(s, "a1").await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].log_id, format!("l{}", winners[0]));
    let deliveries = s.list_deliveries(&DeliveryQuery::default()).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].0.sequence, 1);
}

/// 25 logs where timestamps repeat (5 per second), so only the (timestamp, id) key orders them.
async fn seed_logs(s: &Arc<dyn Store>) -> Vec<(DateTime<Utc>, String)> {
    let mut keys = Vec::new();
    for i in 0..25 {
        let id = format!("log-{:02}", (i * 7) % 25);
        let ts = i / 5;
        s.commit_turn(&TurnCommit {
            session: None,
            log: log(&id, "a1", "s1", None, ts),
            calls: vec![],
            deliveries: vec![],
        })
        .await
        .unwrap();
        keys.push((t(ts), id));
    }
    // Another assistant's logs never show up.
    s.commit_turn(&TurnCommit {
        session: None,
        log: log("other", "a2", "s1", None, 1),
        calls: vec![],
        deliveries: vec![],
    })
    .await
    .unwrap();
    keys.sort();
    keys
}

async fn page_through(s: &Arc<dyn Store>, ascending: bool, limit: u32) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = s
            .list_logs(&LogQuery {
                assistant_id: "a1".into(),
                ascending,
                limit,
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.matched, 25);
        assert!(page.logs.len() <= limit as usize);
        seen.extend(page.logs.into_iter().map(|l| l.log_id));
        pages += 1;
        assert!(pages <= 30, "pagination does not end");
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    seen
}

pub async fn logs_pagination_newest_first(h: &Harness) {
    let s = &h.store;
    let keys = seed_logs(s).await;
    let expected: Vec<String> = keys.iter().rev().map(|(_, id)| id.clone()).collect();
    for limit in [1, 4, 5, 7, 25, 100] {
        assert_eq!(
            page_through(s, false, limit).await,
            expected,
            "limit {limit}"
        );
    }
    // An exact fit ends without a dangling cursor to an empty page.
    let page = s
        .list_logs(&LogQuery {
            assistant_id: "a1".into(),
            limit: 25,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.next_cursor, None);
    // Limit 0 means the default page size.
    let page = s
        .list_logs(&LogQuery {
            assistant_id: "a1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.logs.len(), 25);
}

pub async fn logs_pagination_oldest_first(h: &Harness) {
    let s = &h.store;
    let keys = seed_logs(s).await;
    let expected: Vec<String> = keys.iter().map(|(_, id)| id.clone()).collect();
    for limit in [1, 3, 5, 24, 26] {
        assert_eq!(
            page_through(s, true, limit).await,
            expected,
            "limit {limit}"
        );
    }
    // A page is stable: new records after the cursor position appear, earlier ones don't
    // shift it.
    let first = s
        .list_logs(&LogQuery {
            assistant_id: "a1".into(),
            ascending: true,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    s.commit_turn(&TurnCommit {
        session: None,
        log: log("log-early", "a1", "s1", None, -100),
        calls: vec![],
        deliveries: vec![],
    })
    .await
    .unwrap();
    let second = s
        .list_logs(&LogQuery {
            assistant_id: "a1".into(),
            ascending: true,
            limit: 10,
            cursor: first.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = second.logs.iter().map(|l| l.log_id.as_str()).collect();
    let want: Vec<&str> = expected[10..20].iter().map(String::as_str).collect();
    assert_eq!(ids, want);
    assert_eq!(second.matched, 26);
}

pub async fn logs_session_filter(h: &Harness) {
    let s = &h.store;
    for (i, sess) in ["s1", "s2", "s1", "s3", "s1"].iter().enumerate() {
        s.commit_turn(&TurnCommit {
            session: None,
            log: log(&format!("l{i}"), "a1", sess, None, i as i64),
            calls: vec![],
            deliveries: vec![],
        })
        .await
        .unwrap();
    }
    let page = s
        .list_logs(&LogQuery {
            assistant_id: "a1".into(),
            session_id: Some("s1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = page.logs.iter().map(|l| l.log_id.as_str()).collect();
    assert_eq!(ids, ["l4", "l2", "l0"]);
    assert_eq!(page.matched, 3);
}

pub async fn logs_invalid_cursor(h: &Harness) {
    for cursor in ["garbage", "", "djE6eDp5", "%%%"] {
        let r = h
            .store
            .list_logs(&LogQuery {
                assistant_id: "a1".into(),
                cursor: Some(cursor.into()),
                ..Default::default()
            })
            .await;
        assert!(
            matches!(r, Err(StoreError::InvalidCursor)),
            "{cursor}: {r:?}"
        );
    }
}

pub async fn logs_customer_filter_and_delete_customer_data(h: &Harness) {
    let s = &h.store;
    for (i, customer) in [Some("alice"), Some("bob"), None, Some("alice")]
        .iter()
        .enumerate()
    {
        s.commit_turn(&stateless_turn(
            &format!("l{i}"),
            &format!("s{i}"),
            *customer,
            i as i64,
        ))
        .await
        .unwrap();
    }
    let alice = |s: Arc<dyn Store>| async move {
        s.list_logs(&LogQuery {
            assistant_id: "a1".into(),
            customer_id: Some("alice".into()),
            ..Default::default()
        })
        .await
        .unwrap()
    };
    let page = alice(s.clone()).await;
    let ids: Vec<&str> = page.logs.iter().map(|l| l.log_id.as_str()).collect();
    assert_eq!(ids, ["l3", "l0"]);
    assert_eq!(page.logs[0].customer_id.as_deref(), Some("alice"));

    // l0's delivery went out already; l3's is pending. Both copies of alice's data go.
    let claimed = claim_ids(s, t(100), 10).await;
    assert!(claimed.contains(&"l0".to_owned()));
    s.record_attempt(
        &attempt("l0", t(100), Some(200)),
        &AttemptOutcome::Delivered,
    )
    .await
    .unwrap();

    assert_eq!(s.delete_customer_data("alice").await.unwrap(), 2);
    assert!(alice(s.clone()).await.logs.is_empty());
    assert_eq!(s.get_delivery("l0").await.unwrap(), None);
    assert_eq!(s.get_delivery("l3").await.unwrap(), None);
    let left: Vec<String> = all_logs(s, "a1")
        .await
        .into_iter()
        .map(|l| l.log_id)
        .collect();
    assert_eq!(left, ["l2", "l1"]);
    assert!(s.get_delivery("l1").await.unwrap().is_some());
    assert_eq!(s.delete_customer_data("alice").await.unwrap(), 0);
    assert_eq!(s.delete_customer_data("nobody").await.unwrap(), 0);
}

pub async fn delivery_sequence_per_session(h: &Harness) {
    let s = &h.store;
    let plan = [("sA", 3), ("sB", 2), ("sA", 2), ("sC", 1), ("sB", 1)];
    let mut n = 0;
    for (sess, count) in plan {
        let deliveries = (0..count)
            .map(|_| {
                n += 1;
                delivery(&format!("d{n}"), sess, t(n))
            })
            .collect();
        s.commit_turn(&TurnCommit {
            session: None,
            log: log(&format!("log{n}"), "a1", sess, None, n),
            deliveries,
            calls: vec![],
        })
        .await
        .unwrap();
    }
    let mut by_session: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for (d, attempts) in s.list_deliveries(&DeliveryQuery::default()).await.unwrap() {
        assert!(attempts.is_empty());
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert_eq!(d.attempts, 0);
        assert_eq!(d.lease_until, None);
        assert_eq!(d.event, "message_logged");
        by_session
            .entry(d.session_id.clone())
            .or_default()
            .push((d.sequence, d.id));
    }
    for list in by_session.values_mut() {
        list.sort();
    }
    let seqs = |k: &str| by_session[k].iter().map(|(q, _)| *q).collect::<Vec<_>>();
    assert_eq!(seqs("sA"), [1, 2, 3, 4, 5]);
    assert_eq!(seqs("sB"), [1, 2, 3]);
    assert_eq!(seqs("sC"), [1]);
    let ids: Vec<&str> = by_session["sA"].iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids, ["d1", "d2", "d3", "d6", "d7"], "in commit order");

    // Sequences are never reused, even after the newest events are deleted.
    s.commit_turn(&stateless_turn("gone", "sD", Some("cust"), 50))
        .await
        .unwrap();
    s.delete_customer_data("cust").await.unwrap();
    s.commit_turn(&stateless_turn("after", "sD", None, 51))
        .await
        .unwrap();
    let (d, _) = s.get_delivery("after").await.unwrap().unwrap();
    assert_eq!(d.sequence, 2);
}

pub async fn claim_respects_session_order(h: &Harness) {
    let s = &h.store;
    for i in 1..=3 {
        s.commit_turn(&stateless_turn(&format!("a{i}"), "sA", None, i))
            .await
            .unwrap();
        s.commit_turn(&stateless_turn(&format!("b{i}"), "sB", None, i))
            .await
            .unwrap();
    }
    let now = t(100);
    // One per session, the lowest sequence.
    let mut first = claim_ids(s, now, 10).await;
    first.sort();
    assert_eq!(first, ["a1", "b1"]);
    // While those are leased, nothing else of these sessions can be claimed.
    assert!(claim_ids(s, now, 10).await.is_empty());

    // a1 delivered: a2 becomes claimable; b1 failed with a retry later: b2 must wait.
    s.record_attempt(&attempt("a1", now, Some(200)), &AttemptOutcome::Delivered)
        .await
        .unwrap();
    s.record_attempt(
        &attempt("b1", now, Some(503)),
        &AttemptOutcome::RetryAt(t(130)),
    )
    .await
    .unwrap();
    assert_eq!(claim_ids(s, now, 10).await, ["a2"]);
    assert!(claim_ids(s, t(129), 10).await.is_empty());
    // At the retry time b1 (not b2) comes back; a2 is still leased until now + 60s.
    assert_eq!(claim_ids(s, t(130), 10).await, ["b1"]);
}

pub async fn claim_respects_lease(h: &Harness) {
    let s = &h.store;
    s.commit_turn(&stateless_turn("x", "s1", None, 0))
        .await
        .unwrap();
    let claimed = s.claim_deliveries(t(10), LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].lease_until, Some(t(70)));
    assert_eq!(claimed[0].status, DeliveryStatus::Pending);
    assert_eq!(claimed[0].sequence, 1);
    // Stored without a body: assembled from the log row, the record's text byte for byte.
    assert_eq!(
        claimed[0].body,
        r#"{"event":{"name":"message_logged"},"payload":{"log_id":"x","request":{"input":{"text":"hi"}},"response":{}}}"#
    );
    assert_eq!(claimed[0].log_id.as_deref(), Some("x"));
    assert!(claim_ids(s, t(69), 10).await.is_empty(), "lease still live");
    // The worker died: after the lease the row is claimable again.
    let again = s.claim_deliveries(t(70), LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].lease_until, Some(t(130)));
    let (stored, _) = s.get_delivery("x").await.unwrap().unwrap();
    assert_eq!(stored.lease_until, Some(t(130)));
}

pub async fn claim_respects_due_time_and_limit(h: &Harness) {
    let s = &h.store;
    for i in 0..10 {
        // Due at t(i*10), one per session.
        s.commit_turn(&stateless_turn(
            &format!("d{i}"),
            &format!("s{i}"),
            None,
            i * 10,
        ))
        .await
        .unwrap();
    }
    assert!(claim_ids(s, t(-1), 10).await.is_empty(), "nothing due yet");
    assert_eq!(claim_ids(s, t(0), 10).await, ["d0"]);
    // Due ones, oldest first, at most `limit`.
    assert_eq!(claim_ids(s, t(45), 3).await, ["d1", "d2", "d3"]);
    assert_eq!(claim_ids(s, t(45), 3).await, ["d4"]);
    assert!(
        claim_ids(s, t(1000), 0).await.is_empty(),
        "limit 0 claims nothing"
    );
    assert_eq!(claim_ids(s, t(59), 100).await, ["d5"]);
    // d0's lease (from t(0)) has run out by t(100); d1..d4 are leased until t(105).
    assert_eq!(
        claim_ids(s, t(100), 100).await,
        ["d0", "d6", "d7", "d8", "d9"]
    );
    assert!(claim_ids(s, t(100), 100).await.is_empty());
}

pub async fn dead_event_does_not_block_its_session(h: &Harness) {
    let s = &h.store;
    for i in 1..=2 {
        s.commit_turn(&stateless_turn(&format!("e{i}"), "s1", None, i))
            .await
            .unwrap();
    }
    assert_eq!(claim_ids(s, t(10), 10).await, ["e1"]);
    s.record_attempt(&attempt("e1", t(10), Some(400)), &AttemptOutcome::Dead)
        .await
        .unwrap();
    assert_eq!(status_of(s, "e1").await, DeliveryStatus::Dead);
    assert_eq!(claim_ids(s, t(10), 10).await, ["e2"]);
}

pub async fn concurrent_claimers_never_share_a_row(h: &Harness) {
    let s = &h.store;
    let other = h.reopen().await;
    // 120 sessions with 1 event and 20 sessions with 3: 140 heads claimable at once.
    let mut expected = HashSet::new();
    for i in 0..120 {
        let id = format!("one-{i}");
        s.commit_turn(&stateless_turn(&id, &format!("s1-{i}"), None, 0))
            .await
            .unwrap();
        expected.insert(id);
    }
    for i in 0..20 {
        for k in 0..3 {
            let id = format!("three-{i}-{k}");
            s.commit_turn(&stateless_turn(&id, &format!("s3-{i}"), None, 0))
                .await
                .unwrap();
            if k == 0 {
                expected.insert(id);
            }
        }
    }
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = if w % 2 == 0 { s.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim_deliveries(t(10), LEASE, 3).await.unwrap();
                if got.is_empty() {
                    break;
                }
                mine.extend(got.into_iter().map(|d| (d.id, d.session_id)));
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut sessions = HashSet::new();
    for task in tasks {
        for (id, session) in task.await.unwrap() {
            assert!(seen.insert(id.clone()), "{id} claimed twice");
            assert!(
                sessions.insert(session.clone()),
                "two events of {session} in flight"
            );
        }
    }
    assert_eq!(seen, expected);
}

pub async fn concurrent_workers_deliver_each_session_in_order(h: &Harness) {
    const SESSIONS: usize = 24;
    const PER_SESSION: usize = 4;
    let s = &h.store;
    let other = h.reopen().await;
    // Interleaved commits, so sessions' events are spread through the table.
    for k in 0..PER_SESSION {
        for i in 0..SESSIONS {
            s.commit_turn(&stateless_turn(
                &format!("e{i}-{k}"),
                &format!("s{i}"),
                None,
                0,
            ))
            .await
            .unwrap();
        }
    }
    let ledger = Arc::new(std::sync::Mutex::new(Vec::<(String, i64)>::new()));
    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = if w % 2 == 0 { s.clone() } else { other.clone() };
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mut idle_rounds = 0u32;
            loop {
                if ledger.lock().unwrap().len() == SESSIONS * PER_SESSION {
                    return;
                }
                let got = store.claim_deliveries(t(10), LEASE, 4).await.unwrap();
                if got.is_empty() {
                    // Others hold the heads; their successors become due when they finish.
                    idle_rounds += 1;
                    assert!(idle_rounds < 200_000, "no progress");
                    tokio::task::yield_now().await;
                    continue;
                }
                for d in got {
                    ledger
                        .lock()
                        .unwrap()
                        .push((d.session_id.clone(), d.sequence));
                    store
                        .record_attempt(
                            &attempt(&d.id, t(10), Some(200)),
                            &AttemptOutcome::Delivered,
                        )
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let ledger = ledger.lock().unwrap().clone();
    assert_eq!(
        ledger.len(),
        SESSIONS * PER_SESSION,
        "each event exactly once"
    );
    let mut per_session: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (session, seq) in ledger {
        per_session.entry(session).or_default().push(seq);
    }
    assert_eq!(per_session.len(), SESSIONS);
    for (session, seqs) in per_session {
        assert_eq!(seqs, [1, 2, 3, 4], "{session} out of order");
    }
}

pub async fn record_attempt_outcomes(h: &Harness) {
    let s = &h.store;
    for id in ["ok", "retry", "dead"] {
        s.commit_turn(&stateless_turn(id, id, None, 0))
            .await
            .unwrap();
    }
    assert_eq!(claim_ids(s, t(1), 10).await.len(), 3);
    s.record_attempt(&attempt("ok", t(2), Some(204)), &AttemptOutcome::Delivered)
        .await
        .unwrap();
    s.record_attempt(
        &attempt("retry", t(2), None),
        &AttemptOutcome::RetryAt(t(7)),
    )
    .await
    .unwrap();
    s.record_attempt(&attempt("dead", t(2), Some(410)), &AttemptOutcome::Dead)
        .await
        .unwrap();

    let (ok, ok_attempts) = s.get_delivery("ok").await.unwrap().unwrap();
    assert_eq!(ok.status, DeliveryStatus::Delivered);
    assert_eq!(ok.attempts, 1);
    assert_eq!(ok.lease_until, None);
    assert_eq!(ok_attempts, [attempt("ok", t(2), Some(204))]);

    let (retry, _) = s.get_delivery("retry").await.unwrap().unwrap();
    assert_eq!(retry.status, DeliveryStatus::Failed);
    assert_eq!(retry.due_at, t(7));
    assert_eq!(retry.lease_until, None);
    assert_eq!(retry.attempts, 1);

    let (dead, _) = s.get_delivery("dead").await.unwrap().unwrap();
    assert_eq!(dead.status, DeliveryStatus::Dead);
    assert_eq!(dead.lease_until, None);

    // Only the failed one comes back, at its retry time, then it is delivered.
    assert!(claim_ids(s, t(6), 10).await.is_empty());
    assert_eq!(claim_ids(s, t(7), 10).await, ["retry"]);
    s.record_attempt(
        &attempt("retry", t(8), Some(200)),
        &AttemptOutcome::Delivered,
    )
    .await
    .unwrap();
    let (retry, attempts) = s.get_delivery("retry").await.unwrap().unwrap();
    assert_eq!(retry.status, DeliveryStatus::Delivered);
    assert_eq!(retry.attempts, 2);
    assert_eq!(
        attempts,
        [
            attempt("retry", t(2), None),
            attempt("retry", t(8), Some(200))
        ]
    );
    assert!(claim_ids(s, t(10_000), 10).await.is_empty());
}

pub async fn record_attempt_never_undoes_delivered(h: &Harness) {
    let s = &h.store;
    s.commit_turn(&stateless_turn("x", "s1", None, 0))
        .await
        .unwrap();
    // Worker A's lease runs out; worker B claims, delivers; A then reports a timeout.
    assert_eq!(claim_ids(s, t(0), 1).await, ["x"]);
    assert_eq!(claim_ids(s, t(61), 1).await, ["x"]);
    s.record_attempt(&attempt("x", t(62), Some(200)), &AttemptOutcome::Delivered)
        .await
        .unwrap();
    s.record_attempt(&attempt("x", t(63), None), &AttemptOutcome::RetryAt(t(70)))
        .await
        .unwrap();
    s.record_attempt(&attempt("x", t(64), Some(400)), &AttemptOutcome::Dead)
        .await
        .unwrap();
    let (d, attempts) = s.get_delivery("x").await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Delivered);
    assert_eq!(attempts.len(), 3, "every attempt is still recorded");
    assert!(claim_ids(s, t(100), 1).await.is_empty());
}

pub async fn record_attempt_unknown_delivery(h: &Harness) {
    let r = h
        .store
        .record_attempt(
            &attempt("nope", t(0), Some(200)),
            &AttemptOutcome::Delivered,
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
}

pub async fn list_and_get_deliveries_with_attempts(h: &Harness) {
    let s = &h.store;
    for i in 0..4 {
        let mut turn = stateless_turn(&format!("d{i}"), &format!("s{i}"), None, i);
        turn.log.assistant_id = if i < 3 { "a1" } else { "a2" }.into();
        turn.deliveries[0].assistant_id = turn.log.assistant_id.clone();
        s.commit_turn(&turn).await.unwrap();
        // Distinct creation instants, so newest-first is well defined.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    claim_ids(s, t(100), 10).await;
    s.record_attempt(
        &attempt("d0", t(100), None),
        &AttemptOutcome::RetryAt(t(200)),
    )
    .await
    .unwrap();
    s.record_attempt(
        &attempt("d1", t(100), Some(200)),
        &AttemptOutcome::Delivered,
    )
    .await
    .unwrap();

    let all = s.list_deliveries(&DeliveryQuery::default()).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|(d, _)| d.id.as_str()).collect();
    assert_eq!(ids, ["d3", "d2", "d1", "d0"], "newest first");
    assert_eq!(all[3].1, [attempt("d0", t(100), None)]);
    assert_eq!(all[2].1, [attempt("d1", t(100), Some(200))]);
    assert!(all[0].1.is_empty());

    let a1 = s
        .list_deliveries(&DeliveryQuery {
            assistant_id: Some("a1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(a1.len(), 3);
    let counts = s.delivery_counts(None).await.unwrap();
    assert_eq!(
        counts,
        DeliveryCounts {
            pending: 2,
            failed: 1,
            delivered: 1,
            dead: 0
        }
    );
    assert_eq!(counts.total(), 4);
    let counts = s.delivery_counts(Some("a2")).await.unwrap();
    assert_eq!((counts.pending, counts.total()), (1, 1));
    assert_eq!(s.delivery_counts(Some("zz")).await.unwrap().total(), 0);
    let failed = s
        .list_deliveries(&DeliveryQuery {
            status: Some("failed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0.id, "d0");
    let limited = s
        .list_deliveries(&DeliveryQuery {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);

    let (d, attempts) = s.get_delivery("d1").await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Delivered);
    assert_eq!(attempts.len(), 1);
    assert_eq!(s.get_delivery("missing").await.unwrap(), None);
}

pub async fn retry_one(h: &Harness) {
    let s = &h.store;
    for i in 1..=2 {
        s.commit_turn(&stateless_turn(&format!("e{i}"), "s1", None, i))
            .await
            .unwrap();
    }
    claim_ids(s, t(10), 10).await;
    s.record_attempt(&attempt("e1", t(10), Some(404)), &AttemptOutcome::Dead)
        .await
        .unwrap();
    assert!(!s.retry_delivery("missing", t(20)).await.unwrap());
    assert!(s.retry_delivery("e1", t(20)).await.unwrap());
    let (d, _) = s.get_delivery("e1").await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!(d.due_at, t(20));
    assert_eq!(d.attempts, 1, "history is kept");
    // Pending again, it is the session's head once more: due at t(20), not before.
    assert_eq!(claim_ids(s, t(19), 10).await, Vec::<String>::new());
    assert_eq!(claim_ids(s, t(20), 10).await, ["e1"]);
}

pub async fn retry_batch_by_status_and_since(h: &Harness) {
    let s = &h.store;
    for i in 0..3 {
        s.commit_turn(&stateless_turn(
            &format!("old{i}"),
            &format!("o{i}"),
            None,
            0,
        ))
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let since = Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    for i in 0..3 {
        s.commit_turn(&stateless_turn(
            &format!("new{i}"),
            &format!("n{i}"),
            None,
            0,
        ))
        .await
        .unwrap();
    }
    assert_eq!(claim_ids(s, t(1), 100).await.len(), 6);
    for id in ["old0", "old1", "new0", "new1"] {
        s.record_attempt(&attempt(id, t(1), Some(500)), &AttemptOutcome::Dead)
            .await
            .unwrap();
    }
    s.record_attempt(
        &attempt("old2", t(1), Some(200)),
        &AttemptOutcome::Delivered,
    )
    .await
    .unwrap();
    s.record_attempt(
        &attempt("new2", t(1), None),
        &AttemptOutcome::RetryAt(t(500)),
    )
    .await
    .unwrap();

    assert_eq!(
        s.retry_deliveries(DeliveryStatus::Dead, Some(since), t(2))
            .await
            .unwrap(),
        2
    );
    assert_eq!(status_of(s, "new0").await, DeliveryStatus::Pending);
    assert_eq!(status_of(s, "new1").await, DeliveryStatus::Pending);
    assert_eq!(status_of(s, "old0").await, DeliveryStatus::Dead);
    let mut due = claim_ids(s, t(2), 100).await;
    due.sort();
    assert_eq!(due, ["new0", "new1"]);

    assert_eq!(
        s.retry_deliveries(DeliveryStatus::Dead, None, t(3))
            .await
            .unwrap(),
        2
    );
    assert_eq!(status_of(s, "old1").await, DeliveryStatus::Pending);
    assert_eq!(
        s.retry_deliveries(DeliveryStatus::Failed, None, t(3))
            .await
            .unwrap(),
        1
    );
    let (d, _) = s.get_delivery("new2").await.unwrap().unwrap();
    assert_eq!((d.status, d.due_at), (DeliveryStatus::Pending, t(3)));
    assert_eq!(status_of(s, "old2").await, DeliveryStatus::Delivered);
    assert_eq!(
        s.retry_deliveries(DeliveryStatus::Dead, None, t(4))
            .await
            .unwrap(),
        0
    );
}

fn call(id: &str, at: i64, assistant: &str, kind: &str, status: Option<i32>) -> WebhookCallRecord {
    WebhookCallRecord {
        id: id.into(),
        at: t(at),
        assistant_id: assistant.into(),
        environment_id: "draft".into(),
        session_id: if at % 2 == 0 { Some("s1".into()) } else { None },
        kind: kind.into(),
        url: "https://hooks.example.com/pre".into(),
        status_code: status,
        latency_ms: at,
        error: if status.is_none() {
            Some("timeout".into())
        } else {
            None
        },
        request_body: format!("{{\"n\":{at}}}"),
        response_body: status.map(|_| "{}".into()),
    }
}

pub async fn webhook_calls_filters_newest_first(h: &Harness) {
    let s = &h.store;
    let calls = [
        call("c1", 1, "a1", "pre_message", Some(200)),
        call("c2", 2, "a1", "post_message", Some(500)),
        call("c3", 3, "a2", "pre_message", None),
        call("c4", 4, "a1", "dialog", Some(201)),
        // Same instant as c4: insertion order breaks the tie.
        call("c5", 4, "a1", "pre_message", Some(404)),
    ];
    for c in &calls {
        s.record_webhook_call(c).await.unwrap();
    }
    let ids = |v: Vec<WebhookCallRecord>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let all = s
        .list_webhook_calls(&WebhookCallQuery::default())
        .await
        .unwrap();
    assert_eq!(all[4], calls[0], "round trip");
    assert_eq!(all[2], calls[2], "round trip with nulls");
    assert_eq!(ids(all), ["c5", "c4", "c3", "c2", "c1"]);
    let q = |assistant: Option<&str>, kind: Option<&str>, failed_only: bool, limit: u32| {
        WebhookCallQuery {
            assistant_id: assistant.map(Into::into),
            kind: kind.map(Into::into),
            failed_only,
            limit,
        }
    };
    let got = s
        .list_webhook_calls(&q(Some("a1"), None, false, 0))
        .await
        .unwrap();
    assert_eq!(ids(got), ["c5", "c4", "c2", "c1"]);
    let got = s
        .list_webhook_calls(&q(None, Some("pre_message"), false, 0))
        .await
        .unwrap();
    assert_eq!(ids(got), ["c5", "c3", "c1"]);
    let got = s.list_webhook_calls(&q(None, None, true, 0)).await.unwrap();
    assert_eq!(ids(got), ["c5", "c3", "c2"]);
    let got = s
        .list_webhook_calls(&q(Some("a1"), Some("pre_message"), true, 0))
        .await
        .unwrap();
    assert_eq!(ids(got), ["c5"]);
    let got = s
        .list_webhook_calls(&q(None, None, false, 2))
        .await
        .unwrap();
    assert_eq!(ids(got), ["c5", "c4"]);
}

pub async fn survives_reopen(h: &Harness) {
    let s = &h.store;
    s.create_session(&session("s1", "a1", t(0), 600))
        .await
        .unwrap();
    s.commit_turn(&TurnCommit {
        session: Some(SessionUpdate {
            id: "s1".into(),
            expected_version: 0,
            context: json!({"kept": true}),
            last_active: t(5),
        }),
        log: log("l1", "a1", "s1", Some("c"), 5),
        calls: vec![],
        deliveries: vec![delivery("l1", "s1", t(5))],
    })
    .await
    .unwrap();
    s.record_webhook_call(&call("w1", 5, "a1", "pre_message", Some(200)))
        .await
        .unwrap();
    // A claim in flight when the process stops.
    assert_eq!(claim_ids(s, t(6), 10).await, ["l1"]);

    let reopened = h.reopen().await;
    let sess = reopened
        .load_session("a1", "s1", t(7))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sess.version, sess.context), (1, json!({"kept": true})));
    assert_eq!(all_logs(&reopened, "a1").await.len(), 1);
    assert_eq!(
        reopened
            .list_webhook_calls(&WebhookCallQuery::default())
            .await
            .unwrap()
            .len(),
        1
    );
    // The pending event resumes once the dead process's lease runs out.
    assert!(claim_ids(&reopened, t(7), 10).await.is_empty());
    assert_eq!(claim_ids(&reopened, t(66), 10).await, ["l1"]);
    // The next event of the session continues the sequence.
    reopened
        .commit_turn(&stateless_turn("l2", "s1", None, 70))
        .await
        .unwrap();
    let (d, _) = reopened.get_delivery("l2").await.unwrap().unwrap();
    assert_eq!(d.sequence, 2);
}

pub async fn json_round_trips_exactly(h: &Harness) {
    let s = &h.store;
    let context = json!({
        "z_first": "kept in this order",
        "unicode": "Grüße, 東京, emoji 🚀, quote \" backslash \\ nul-free",
        "numbers": [0, -1, 9007199254740993u64, i64::MIN, 0.1, 0.93, 1e300, -2.5e-300,
                    0.9312345678901234],
        "nested": {"empty_obj": {}, "empty_arr": [], "null": null, "t": true},
        "big": "x".repeat(100_000),
        "a_last": 1,
    });
    let mut sess = session("s1", "a1", t(0), 60);
    sess.context = context.clone();
    s.create_session(&sess).await.unwrap();
    let loaded = s.load_session("a1", "s1", t(1)).await.unwrap().unwrap();
    assert_eq!(loaded.context, context);
    assert_eq!(
        serde_json::to_string(&loaded.context).unwrap(),
        serde_json::to_string(&context).unwrap()
    );
    let mut turn = stateless_turn("l1", "s2", None, 0);
    turn.log.record = serde_json::to_string(&context).unwrap();
    s.commit_turn(&turn).await.unwrap();
    assert_eq!(all_logs(s, "a1").await[0].record, turn.log.record);
}

pub async fn concurrent_turns_with_failures_commit_the_rest(h: &Harness) {
    let s = &h.store;
    s.commit_turn(&stateless_turn("dup", "shared", None, 0))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = s.clone();
        tasks.push(tokio::spawn(async move {
            let id = if i % 4 == 0 {
                "dup".to_owned()
            } else {
                format!("ok{i}")
            };
            (
                id.clone(),
                store
                    .commit_turn(&stateless_turn(&id, "shared", None, i))
                    .await,
            )
        }));
    }
    let mut ok = 0;
    for task in tasks {
        let (id, r) = task.await.unwrap();
        match (id.as_str(), r) {
            ("dup", Err(StoreError::Database(_))) => {}
            ("dup", other) => panic!("duplicate log id must fail: {other:?}"),
            (_, Ok(())) => ok += 1,
            (id, Err(e)) => panic!("{id} failed: {e:?}"),
        }
    }
    assert_eq!(ok, 15);
    assert_eq!(all_logs(s, "a1").await.len(), 16);
    // Failed turns consumed no sequence number: the session's sequence has no gaps.
    let mut seqs: Vec<i64> = s
        .list_deliveries(&DeliveryQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|(d, _)| d.sequence)
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=16).collect::<Vec<i64>>());
}

pub async fn record_attempts_in_one_batch(h: &Harness) {
    let s = &h.store;
    for id in ["b1", "b2", "b3"] {
        s.commit_turn(&stateless_turn(id, id, None, 0))
            .await
            .unwrap();
    }
    assert_eq!(claim_ids(s, t(1), 10).await.len(), 3);
    let batch = [
        (attempt("b1", t(2), Some(200)), AttemptOutcome::Delivered),
        (attempt("b2", t(2), None), AttemptOutcome::RetryAt(t(9))),
        (
            attempt("missing", t(2), Some(200)),
            AttemptOutcome::Delivered,
        ),
        (attempt("b3", t(2), Some(400)), AttemptOutcome::Dead),
    ];
    assert_eq!(s.record_attempts(&batch).await.unwrap(), 3);
    assert_eq!(s.record_attempts(&[]).await.unwrap(), 0);
    assert_eq!(status_of(s, "b1").await, DeliveryStatus::Delivered);
    let (b1, attempts) = s.get_delivery("b1").await.unwrap().unwrap();
    assert_eq!(
        (b1.attempts, b1.lease_until, attempts),
        (1, None, vec![attempt("b1", t(2), Some(200))])
    );
    let (b2, attempts) = s.get_delivery("b2").await.unwrap().unwrap();
    assert_eq!(
        (b2.status, b2.due_at, b2.lease_until),
        (DeliveryStatus::Failed, t(9), None)
    );
    assert_eq!(attempts, [attempt("b2", t(2), None)]);
    assert_eq!(status_of(s, "b3").await, DeliveryStatus::Dead);
    assert_eq!(claim_ids(s, t(9), 10).await, ["b2"]);
}

/// An outbox row with its own body is sent as stored; one without takes its log record's
/// envelope, in claims, listings and single reads alike.
pub async fn delivery_bodies_explicit_and_from_the_log(h: &Harness) {
    let s = &h.store;
    let mut own = stateless_turn("own", "s1", None, 0);
    own.deliveries[0].body = Some(json!({"event": {"name": "custom"}, "payload": [1, 2]}));
    s.commit_turn(&own).await.unwrap();
    s.commit_turn(&stateless_turn("logged", "s2", None, 1))
        .await
        .unwrap();
    let logged_body = r#"{"event":{"name":"message_logged"},"payload":{"log_id":"logged","request":{"input":{"text":"hi"}},"response":{}}}"#;
    let mut claimed = s.claim_deliveries(t(10), LEASE, 10).await.unwrap();
    claimed.sort_by(|a, b| a.id.cmp(&b.id));
    let bodies: Vec<&str> = claimed.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            logged_body,
            r#"{"event":{"name":"custom"},"payload":[1,2]}"#
        ]
    );
    let listed = s.list_deliveries(&DeliveryQuery::default()).await.unwrap();
    let logged = listed.iter().find(|(d, _)| d.id == "logged").unwrap();
    assert_eq!(logged.0.body, logged_body);
    let (got, _) = s.get_delivery("logged").await.unwrap().unwrap();
    assert_eq!(got.body, logged_body);
}

/// Writes of different kinds racing (turns, session creations, webhook call records), some of
/// them failing (a session id taken twice): each caller gets its own true result, and every
/// write that succeeded is stored.
pub async fn concurrent_writes_of_every_kind_with_failures(h: &Harness) {
    let s = &h.store;
    s.create_session(&session("taken", "a1", t(0), 3600))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..30_i64 {
        let store = s.clone();
        tasks.push(tokio::spawn(async move {
            match i % 3 {
                0 => {
                    let id = if i % 2 == 0 {
                        "taken".to_owned()
                    } else {
                        format!("s{i}")
                    };
                    let r = store.create_session(&session(&id, "a1", t(0), 3600)).await;
                    (id, r)
                }
                1 => {
                    let id = format!("turn{i}");
                    let r = store
                        .commit_turn(&stateless_turn(&id, &format!("sess{i}"), None, i))
                        .await;
                    (id, r)
                }
                _ => {
                    let id = format!("call{i}");
                    let c = call(&id, i, "a1", "pre_message", Some(200));
                    (id, store.record_webhook_call(&c).await)
                }
            }
        }));
    }
    let (mut failed, mut ok) = (0, 0);
    for task in tasks {
        let (id, r) = task.await.unwrap();
        match (id.as_str(), r) {
            ("taken", Err(StoreError::Database(_))) => failed += 1,
            ("taken", other) => panic!("a taken session id must fail: {other:?}"),
            (_, Ok(())) => ok += 1,
            (id, Err(e)) => panic!("{id} failed: {e:?}"),
        }
    }
    assert_eq!((failed, ok), (5, 25));
    for i in [3, 9, 15, 21, 27] {
        assert!(s
            .load_session("a1", &format!("s{i}"), t(1))
            .await
            .unwrap()
            .is_some());
    }
    assert_eq!(all_logs(s, "a1").await.len(), 10);
    let calls = s
        .list_webhook_calls(&WebhookCallQuery::default())
        .await
        .unwrap();
    assert_eq!(calls.len(), 10);
}
