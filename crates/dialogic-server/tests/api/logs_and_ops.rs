use std::time::Duration;

use serde_json::json;

use crate::support::{spawn_app, Receiver, DEMO};

#[tokio::test]
async fn logs_list_filter_paginate_and_delete_user_data() {
    let app = spawn_app(DEMO).await;
    let sid = app.session("demo").await;
    let path = format!("/v2/assistants/demo/sessions/{sid}/message");
    for (i, customer) in ["alice", "bob", "alice"].iter().enumerate() {
        let (s, _) = app
            .post_with(
                &path,
                json!({"input": {"text": format!("hello {i}")},
                       "context": {"integrations": {"chat": {"private": {"jwt": "secret-jwt"}}},
                                   "skills": {"main skill": {"user_defined": {"private": {"card": "4111"}}}}}}),
                &[("X-Watson-Metadata", &format!("customer_id={customer}"))],
            )
            .await;
        assert_eq!(s, 200);
    }
    let (s, page) = app.get("/v2/assistants/demo/logs").await;
    assert_eq!(s, 200);
    let logs = page["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 3);
    assert_eq!(page["pagination"]["matched"], 3);
    assert_eq!(
        logs[0]["request"]["input"]["text"], "hello 2",
        "newest first"
    );
    let l = &logs[0];
    for key in [
        "log_id",
        "request",
        "response",
        "assistant_id",
        "session_id",
        "skill_id",
        "snapshot",
        "request_timestamp",
        "response_timestamp",
        "language",
        "customer_id",
    ] {
        assert!(l.get(key).is_some(), "missing {key}: {l}");
    }
    assert_eq!(
        (
            &l["assistant_id"],
            &l["session_id"],
            &l["snapshot"],
            &l["language"]
        ),
        (&json!("demo"), &json!(sid), &json!("live"), &json!("en"))
    );
    let text = page.to_string();
    assert!(
        !text.contains("secret-jwt") && !text.contains("4111"),
        "private variables are stripped"
    );
    assert!(
        l["response"]["context"]["global"]["session_id"].is_string(),
        "full context in logs"
    );

    let (_, p) = app
        .get("/v2/assistants/demo/logs?sort=request_timestamp&page_limit=2")
        .await;
    assert_eq!(p["logs"].as_array().unwrap().len(), 2);
    assert_eq!(p["logs"][0]["request"]["input"]["text"], "hello 0");
    let cursor = p["pagination"]["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    assert!(p["pagination"]["next_url"]
        .as_str()
        .unwrap()
        .contains("cursor="));
    let (_, p2) = app
        .get(&format!(
            "/v2/assistants/demo/logs?sort=request_timestamp&page_limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(p2["logs"].as_array().unwrap().len(), 1);
    assert_eq!(p2["logs"][0]["request"]["input"]["text"], "hello 2");

    let (_, f) = app
        .get("/v2/assistants/demo/logs?filter=customer_id::alice")
        .await;
    assert_eq!(f["logs"].as_array().unwrap().len(), 2);
    let (s, _) = app.get("/v2/assistants/demo/logs?filter=bogus::1").await;
    assert_eq!(s, 400);
    let (s, e) = app
        .get("/v2/assistants/demo/logs?cursor=not-a-cursor!")
        .await;
    assert_eq!((s, &e["code"]), (400, &json!(400)), "{e}");
    let (s, _) = app.get("/v2/assistants/nope/logs").await;
    assert_eq!(s, 404);

    let (s, b) = app.delete("/v2/user_data?customer_id=alice").await;
    assert_eq!((s, b), (202, json!({})));
    let (_, f) = app.get("/v2/assistants/demo/logs").await;
    assert_eq!(f["logs"].as_array().unwrap().len(), 1);
    assert_eq!(f["logs"][0]["customer_id"], "bob");
    let (s, _) = app.delete("/v2/user_data").await;
    assert_eq!(s, 400);
    app.stop().await;
}

#[tokio::test]
async fn log_webhook_gets_every_turn_through_the_outbox() {
    let log = Receiver::start().await;
    let toml = format!(
        "[delivery]\nretry_schedule = [\"50ms\"]\npoll_interval = \"20ms\"\n[[assistants]]\nid = \"demo\"\nskill = \"builtin:demo\"\n  [assistants.webhooks.log]\n  url = \"{}\"\n  secret = \"log secret\"\n  timeout = \"2s\"\n",
        log.url
    );
    let app = spawn_app(&toml).await;
    let sid = app.session("demo").await;
    for t in ["hello", "help"] {
        let (s, _) = app.say(&sid, t, json!({})).await;
        assert_eq!(s, 200);
    }
    let mut waited = 0;
    while log.count() < 2 && waited < 500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    let got = log.received();
    assert_eq!(got.len(), 2);
    let first = got[0].json();
    assert_eq!(first["event"], json!({"name": "message_logged"}));
    assert_eq!(first["payload"]["request"]["input"]["text"], "hello");
    assert_eq!(
        got[0].header("webhook-id"),
        first["payload"]["log_id"].as_str().map(str::to_owned)
    );
    assert_eq!(got[0].header("webhook-sequence").as_deref(), Some("1"));
    assert_eq!(got[1].header("webhook-sequence").as_deref(), Some("2"));

    // Deliveries API.
    let mut delivered = 0;
    for _ in 0..200 {
        let (_, d) = app
            .get("/v1/deliveries?assistant_id=demo&status=delivered")
            .await;
        delivered = d["deliveries"].as_array().unwrap().len();
        if delivered == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(delivered, 2);
    let (_, d) = app.get("/v1/deliveries?status=delivered").await;
    let one = &d["deliveries"][0];
    assert_eq!(one["attempts"][0]["status_code"], 200);
    let id = one["id"].as_str().unwrap().to_owned();
    let (s, _) = app.get("/v1/deliveries?status=bogus").await;
    assert_eq!(s, 400);
    let (s, _) = app.post("/v1/deliveries/no-such-id/retry", json!({})).await;
    assert_eq!(s, 404);
    let (s, b) = app
        .post(
            "/v1/deliveries/retry?status=dead&since=2020-01-01T00:00:00Z",
            json!({}),
        )
        .await;
    assert_eq!((s, b), (200, json!({"retried": 0})));
    let (s, _) = app
        .post("/v1/deliveries/retry?since=yesterday", json!({}))
        .await;
    assert_eq!(s, 400);
    let _ = id;
    app.stop().await;
}

#[tokio::test]
async fn stateless_reply_keeps_private_variables_that_its_log_strips() {
    let app = spawn_app(DEMO).await;
    let (s, reply) = app
        .post(
            "/v2/assistants/demo/message",
            json!({"input": {"text": "hello"},
                   "context": {"integrations": {"chat": {"private": {"jwt": "secret-jwt"}}},
                               "skills": {"main skill": {"user_defined": {"$private": {"card": "4111"}}}}}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        reply["context"]["integrations"]["chat"]["private"]["jwt"], "secret-jwt",
        "the client keeps its whole context: {reply}"
    );
    assert_eq!(
        reply["context"]["skills"]["main skill"]["user_defined"]["$private"]["card"],
        "4111"
    );
    let (_, page) = app.get("/v2/assistants/demo/logs").await;
    let log = &page["logs"][0];
    assert_eq!(log["request"]["input"]["text"], "hello");
    assert_eq!(
        log["response"]["output"], reply["output"],
        "the logged response is the reply"
    );
    let text = page.to_string();
    assert!(
        !text.contains("secret-jwt") && !text.contains("4111"),
        "{text}"
    );
}
