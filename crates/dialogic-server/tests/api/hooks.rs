use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{spawn_app, texts, Receiver, TestApp};

const SECRET: &str = "purple unicorn";

fn with_hooks(pre: Option<(&str, &str)>, post: Option<(&str, &str)>, extra: &str) -> String {
    let mut t = String::from("[[assistants]]\nid = \"demo\"\nskill = \"builtin:demo\"\n");
    if let Some((url, policy)) = pre {
        t.push_str(&format!(
            "  [assistants.webhooks.pre_message]\n  url = \"{url}\"\n  secret = \"{SECRET}\"\n  on_error = \"{policy}\"\n  timeout = \"1s\"\n  headers = {{ \"X-Tenant\" = \"acme\" }}\n{extra}"
        ));
    }
    if let Some((url, policy)) = post {
        t.push_str(&format!(
            "  [assistants.webhooks.post_message]\n  url = \"{url}\"\n  secret = \"{SECRET}\"\n  on_error = \"{policy}\"\n  timeout = \"1s\"\n"
        ));
    }
    t
}

fn verify_jwt(token: &str, secret: &str) -> bool {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.required_spec_claims = ["exp".to_owned()].into_iter().collect();
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &v,
    )
    .is_ok()
}

#[tokio::test]
async fn pre_message_envelope_auth_and_context() {
    let pre = Receiver::start().await;
    let app = spawn_app(&with_hooks(Some((&pre.url, "fail")), None, "")).await;
    let sid = app.session("demo").await;
    let (s, r) = app
        .post(
            &format!("/v2/assistants/demo/sessions/{sid}/message"),
            json!({"input": {"text": "hello", "source": {"type": "user"}}, "context": {"skills": {"main skill": {"user_defined": {"v": 1}}}}}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let got = pre.last();
    let body = got.json();
    assert_eq!(body["event"], json!({"name": "message_received"}));
    assert_eq!(body["options"], json!({}));
    let payload = &body["payload"];
    assert_eq!(payload["input"]["text"], "hello");
    assert_eq!(
        payload["input"]["source"],
        json!({"type": "user"}),
        "unknown fields pass through"
    );
    assert_eq!(payload["context"]["global"]["session_id"], json!(sid));
    assert_eq!(payload["context"]["global"]["system"]["turn_count"], 1);
    assert_eq!(
        payload["context"]["skills"]["main skill"]["user_defined"]["v"],
        1
    );
    // JWT: bare token, HS256 over the secret, verifies only with it.
    let auth = got.header("authorization").expect("Authorization");
    assert!(!auth.starts_with("Bearer"), "{auth}");
    assert!(verify_jwt(&auth, SECRET));
    assert!(!verify_jwt(&auth, "another secret"));
    // Standard Webhooks signature over the exact body.
    let id = got.header("webhook-id").expect("webhook-id");
    let ts: i64 = got
        .header("webhook-timestamp")
        .expect("timestamp")
        .parse()
        .unwrap();
    let sig = got.header("webhook-signature").expect("signature");
    assert_eq!(
        sig,
        dialogic_webhook::sign_standard(SECRET, &id, ts, &got.body)
    );
    assert_eq!(got.header("x-tenant").as_deref(), Some("acme"));
    assert_eq!(
        got.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(got.header("user-agent").unwrap().starts_with("dialogic/"));

    // Stateless payloads carry the generated session id and skills too.
    app.post(
        "/v2/assistants/demo/message",
        json!({"input": {"text": "hello"}}),
    )
    .await;
    let p = pre.last().json()["payload"].clone();
    assert!(
        p["context"]["global"]["session_id"].is_string()
            && p["context"]["skills"]["main skill"].is_object(),
        "{p}"
    );
    app.stop().await;
}

#[tokio::test]
async fn pre_message_rewrites_the_request() {
    let pre = Receiver::start().await;
    pre.respond_with(|req| {
        let mut payload = req["payload"].clone();
        payload["input"] = json!({"text": "goodbye"});
        payload["context"]["global"]["session_id"] = json!("hijacked");
        payload["context"]["skills"]["main skill"]["user_defined"]["from_pre"] = json!("yes");
        json!({"payload": payload})
    });
    let app = spawn_app(&with_hooks(Some((&pre.url, "fail")), None, "")).await;
    let sid = app.session("demo").await;
    let (s, r) = app
        .say(
            &sid,
            "I want to order a pizza",
            json!({"return_context": true}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        r["output"]["intents"][0]["intent"], "goodbye",
        "the rewritten text was classified: {r}"
    );
    assert_eq!(texts(&r), ["Goodbye! Come back any time."]);
    // The webhook's input replaced the client's whole, options included: no context back.
    assert!(r.get("context").is_none(), "{r}");
    // Its context is the session's from now on; the session id is not its to change.
    pre.respond_with(|req| req.clone());
    let (_, r) = app
        .say(&sid, "hello", json!({"return_context": true}))
        .await;
    assert_eq!(r["context"]["global"]["session_id"], json!(sid));
    assert_eq!(
        r["context"]["skills"]["main skill"]["user_defined"]["from_pre"],
        "yes"
    );
    // The log stores the request after the webhook.
    let (_, logs) = app
        .get("/v2/assistants/demo/logs?sort=request_timestamp")
        .await;
    assert_eq!(
        logs["logs"][0]["request"]["input"]["text"], "goodbye",
        "{logs}"
    );
    app.stop().await;
}

#[tokio::test]
async fn pre_message_skip_header_answers_instead_of_the_skill() {
    let pre = Receiver::start().await;
    let post = Receiver::start().await;
    pre.respond_with(|_| json!({"output": {"generic": [{"response_type": "text", "text": "Response skipped by webhook"}]}}));
    pre.set_headers(&[("X-Watson-Assistant-Webhook-Return", "true")]);
    let app = spawn_app(&with_hooks(
        Some((&pre.url, "fail")),
        Some((&post.url, "fail")),
        "",
    ))
    .await;
    let sid = app.session("demo").await;
    let (s, r) = app.say(&sid, "hello", json!({})).await;
    assert_eq!(
        (s, r),
        (
            200,
            json!({"output": {"generic": [{"response_type": "text", "text": "Response skipped by webhook"}]}})
        )
    );
    assert_eq!(
        post.count(),
        0,
        "post_message does not run on a skipped turn"
    );
    let (_, logs) = app.get("/v2/assistants/demo/logs").await;
    assert_eq!(
        logs["logs"].as_array().unwrap().len(),
        1,
        "the turn is still logged"
    );
    assert_eq!(
        logs["logs"][0]["response"]["output"]["generic"][0]["text"],
        "Response skipped by webhook"
    );
    // lower-case header, any value
    pre.set_headers(&[("x-watson-assistant-webhook-return", "yes")]);
    let (_, r) = app.say(&sid, "hello", json!({})).await;
    assert_eq!(texts(&r), ["Response skipped by webhook"]);
    app.stop().await;
}

/// A failure case: name, how to make the receiver fail, the 422 message.
type Case<'a> = (&'a str, Box<dyn Fn() + 'a>, &'a str);

async fn failing(app: &TestApp, sid: &str) -> (u16, Value) {
    app.say(sid, "hello", json!({"debug": true})).await
}

#[tokio::test]
async fn pre_message_failures_under_each_policy() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/gone", l.local_addr().unwrap())
    };
    let pre = Receiver::start().await;
    let cont = spawn_app(&with_hooks(Some((&pre.url, "continue")), None, "")).await;
    let fail = spawn_app(&with_hooks(Some((&pre.url, "fail")), None, "")).await;
    let (cs, fs) = (cont.session("demo").await, fail.session("demo").await);
    let cases: Vec<Case<'_>> = vec![
        (
            "status",
            Box::new(|| {
                pre.set_status(500);
            }),
            "Webhook responded with [500] status code",
        ),
        (
            "json",
            Box::new(|| {
                pre.set_status(200);
                pre.set_raw("not json");
            }),
            "Webhook responded with invalid JSON body",
        ),
        (
            "shape",
            Box::new(|| {
                pre.respond_with(|_| json!({"payload": {"input": {"text": 5}}}));
            }),
            "Error validating webhook response",
        ),
        (
            "no payload",
            Box::new(|| {
                pre.respond_with(|_| json!({"nothing": 1}));
            }),
            "Error validating webhook response",
        ),
        (
            "timeout",
            Box::new(|| {
                pre.respond_with(|v| v.clone());
                pre.set_delay(Duration::from_millis(1600));
            }),
            "Webhook request timed out",
        ),
    ];
    for (name, setup, message) in &cases {
        setup();
        let (s, r) = failing(&fail, &fs).await;
        assert_eq!(
            (s, r),
            (422, json!({"error": message, "code": 422})),
            "{name}"
        );
        let started = std::time::Instant::now();
        let (s, r) = failing(&cont, &cs).await;
        assert_eq!(s, 200, "{name}: {r}");
        assert_eq!(
            texts(&r).len(),
            1,
            "{name}: the original request was processed: {r}"
        );
        let logged: Vec<String> = r["output"]["debug"]["log_messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            logged.iter().any(|m| m.contains(message)),
            "{name}: {logged:?}"
        );
        if *name == "timeout" {
            let took = started.elapsed();
            assert!(
                took < Duration::from_millis(1400),
                "the 1s timeout was honoured: {took:?}"
            );
        }
    }
    pre.set_delay(Duration::ZERO);
    // Connection failure.
    let app = spawn_app(&with_hooks(Some((&closed, "fail")), None, "")).await;
    let sid = app.session("demo").await;
    let (s, r) = failing(&app, &sid).await;
    assert_eq!(s, 422);
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("Webhook request failed: "),
        "{r}"
    );
    // Failures are recorded.
    let (s, calls) = fail
        .get("/v1/webhook_calls?assistant_id=demo&kind=pre_message&failed=true")
        .await;
    assert_eq!(s, 200);
    let calls = calls["webhook_calls"].as_array().unwrap().clone();
    assert!(calls.len() >= 5, "{calls:?}");
    assert!(calls.iter().all(|c| c["error"].is_string()));
    assert!(calls
        .iter()
        .all(|c| !c["request_body"].as_str().unwrap().contains(SECRET)));
    for a in [cont, fail, app] {
        a.stop().await;
    }
}

#[tokio::test]
async fn post_message_rewrites_the_response_and_saves_context() {
    let post = Receiver::start().await;
    post.respond_with(|req| {
        let mut p = req["payload"].clone();
        assert!(
            p.pointer("/context/skills/main skill/system/state")
                .is_some(),
            "post gets the full context"
        );
        p["output"]["generic"] = json!([{"response_type": "text", "text": "rewritten by post"}]);
        p["context"]["skills"]["main skill"]["user_defined"]["post_webhook_message"] =
            json!("set by post");
        p["context"]["skills"]["main skill"]["system"]["state"] = json!("tampered");
        json!({"payload": p})
    });
    let app = spawn_app(&with_hooks(None, Some((&post.url, "fail")), "")).await;
    let sid = app.session("demo").await;
    let (s, r) = app.say(&sid, "I want to order a pizza", json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(texts(&r), ["rewritten by post"]);
    assert!(
        r.get("context").is_none(),
        "trimmed to what the client asked for"
    );
    let got = post.last().json();
    assert_eq!(got["event"], json!({"name": "message_processed"}));
    assert_eq!(got["options"], json!({}));
    assert_eq!(
        got["payload"]["context"]["global"]["session_id"],
        json!(sid)
    );
    // The saved context has the post's variable, and the dialog state was not tampered with:
    // the slot is still waiting for a size.
    post.respond_with(|req| json!({"payload": req["payload"].clone()}));
    let (_, r) = app
        .say(&sid, "large", json!({"return_context": true}))
        .await;
    assert_eq!(texts(&r), ["Great, one large pizza is on its way!"], "{r}");
    assert_eq!(
        r["context"]["skills"]["main skill"]["user_defined"]["post_webhook_message"],
        "set by post"
    );
    // Post failures.
    post.set_status(503);
    let (s, r) = app.say(&sid, "hello", json!({})).await;
    assert_eq!(
        (s, r),
        (
            422,
            json!({"error": "Webhook responded with [503] status code", "code": 422})
        )
    );
    app.stop().await;
    let cont = spawn_app(&with_hooks(None, Some((&post.url, "continue")), "")).await;
    let sid = cont.session("demo").await;
    post.set_status(200);
    post.set_raw("{\"payload\": 7}");
    let (s, r) = cont.say(&sid, "hello", json!({"debug": true})).await;
    assert_eq!(s, 200);
    assert!(!texts(&r).is_empty(), "the unmodified response: {r}");
    let msgs = r["output"]["debug"]["log_messages"].to_string();
    assert!(
        msgs.contains("post_message webhook failed: Webhook responded with invalid JSON body"),
        "{msgs}"
    );
    cont.stop().await;
}

#[tokio::test]
async fn a_custom_authorization_header_replaces_the_jwt() {
    let pre = Receiver::start().await;
    let toml = format!(
        "[[assistants]]\nid = \"demo\"\nskill = \"builtin:demo\"\n  [assistants.webhooks.pre_message]\n  url = \"{}\"\n  secret = \"{SECRET}\"\n  headers = {{ \"Authorization\" = \"Custom abc\" }}\n",
        pre.url
    );
    let app = spawn_app(&toml).await;
    app.post(
        "/v2/assistants/demo/message",
        json!({"input": {"text": "hi"}}),
    )
    .await;
    assert_eq!(
        pre.last().header("authorization").as_deref(),
        Some("Custom abc")
    );
    app.stop().await;
}

#[tokio::test]
async fn webhook_written_context_over_130kb_is_persisted() {
    let post = Receiver::start().await;
    post.respond_with(|req| {
        let mut p = req["payload"].clone();
        p["context"]["skills"]["main skill"]["user_defined"]["large"] = json!("x".repeat(300_000));
        json!({"payload": p})
    });
    let app = spawn_app(&with_hooks(None, Some((&post.url, "fail")), "")).await;
    let sid = app.session("demo").await;
    let (s, r) = app.say(&sid, "hello", json!({})).await;
    assert_eq!(s, 200, "{r}");
    post.respond_with(|req| json!({"payload": req["payload"].clone()}));
    let (s, r) = app.say(&sid, "help", json!({"return_context": true})).await;
    assert_eq!(s, 200, "{}", r["error"]);
    let large = r["context"]["skills"]["main skill"]["user_defined"]["large"]
        .as_str()
        .unwrap_or("");
    assert_eq!(large.len(), 300_000, "read back next turn");
    app.stop().await;
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let pre = Receiver::start().await;
    let toml = format!(
        "[webhooks]\nallow_http = true\nallow_private_addresses = false\n{}",
        with_hooks(Some((&pre.url, "fail")), None, "")
    );
    // spawn_app allows private addresses; this config turns the guard back on.
    let dir = crate::support::temp_dir();
    let url = format!("sqlite://{}", dir.join("db.sqlite").display());
    let app = crate::support::spawn_app_at_exact(&toml, dir, url).await;
    let sid = app.session("demo").await;
    let (s, r) = app.say(&sid, "hello", json!({})).await;
    assert_eq!(s, 422, "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("Webhook request failed: "),
        "{r}"
    );
    assert_eq!(pre.count(), 0, "nothing was sent");
    app.stop().await;
}
