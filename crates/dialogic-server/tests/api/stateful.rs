use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{spawn_app, spawn_app_at, texts, DEMO};

#[tokio::test]
async fn a_conversation_with_a_slot_and_context_rules() {
    let app = spawn_app(DEMO).await;
    let sid = app.session("demo").await;
    let (s, r) = app.say(&sid, "", json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert!(texts(&r)[0].contains("Dialogic demo assistant"), "{r}");
    assert!(r.get("context").is_none(), "context only on request: {r}");
    assert_eq!(
        r["user_id"],
        json!(sid),
        "user_id defaults to the session id"
    );

    let (_, r) = app
        .say(
            &sid,
            "I want to order a pizza",
            json!({"return_context": true}),
        )
        .await;
    assert!(texts(&r).iter().any(|t| t.contains("What size")), "{r}");
    assert_eq!(r["output"]["intents"][0]["intent"], "order_pizza", "{r}");
    assert_eq!(r["output"]["intents"].as_array().unwrap().len(), 1);
    let ctx = &r["context"];
    assert_eq!(ctx["global"]["session_id"], json!(sid));
    assert_eq!(ctx["global"]["system"]["turn_count"], 2);
    assert!(ctx["global"]["system"]["session_start_time"].is_string());
    assert!(
        ctx.pointer("/skills/main skill/system/state").is_none(),
        "state only with export: {ctx}"
    );

    let (_, r) = app.say(&sid, "large please", json!({"export": true})).await;
    assert_eq!(texts(&r), ["Great, one large pizza is on its way!"], "{r}");
    assert_eq!(
        r["context"]["skills"]["main skill"]["user_defined"]["pizza_size"],
        "large"
    );
    assert!(
        r.pointer("/context/skills/main skill/system/state")
            .is_some(),
        "export includes state"
    );

    let (_, r) = app
        .say(
            &sid,
            "hello",
            json!({"debug": true, "return_context": true, "alternate_intents": true}),
        )
        .await;
    assert!(
        r.pointer("/context/skills/main skill/system/state")
            .is_some(),
        "debug+return_context includes state"
    );
    assert!(r["output"]["debug"]["nodes_visited"].is_array(), "{r}");
    assert!(
        r["output"]["intents"].as_array().unwrap().len() > 1,
        "alternate_intents gives the ranked list"
    );
    app.stop().await;
}

#[tokio::test]
async fn client_context_merges_and_user_id_rules() {
    let app = spawn_app(DEMO).await;
    let sid = app.session("demo").await;
    let path = format!("/v2/assistants/demo/sessions/{sid}/message");
    let (s, r) = app
        .post(&path, json!({"input": {"text": "hi", "options": {"return_context": true}},
            "context": {"global": {"system": {"user_id": "ctx-user"}}, "skills": {"main skill": {"user_defined": {"a": 1, "b": 1}}}}}))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["user_id"], "ctx-user");
    let (_, r) = app
        .post(&path, json!({"input": {"text": "hi", "options": {"return_context": true}}, "user_id": "root-user",
            "context": {"skills": {"main skill": {"user_defined": {"b": 2}}}}}))
        .await;
    assert_eq!(r["user_id"], "root-user");
    assert_eq!(r["context"]["global"]["system"]["user_id"], "root-user");
    let ud = &r["context"]["skills"]["main skill"]["user_defined"];
    assert_eq!(
        (&ud["a"], &ud["b"]),
        (&json!(1), &json!(2)),
        "stored kept, client overwrote: {ud}"
    );
    // A client cannot move the session.
    let (_, r) = app
        .post(&path, json!({"input": {"text": "hi", "options": {"return_context": true}}, "context": {"global": {"session_id": "other"}}}))
        .await;
    assert_eq!(r["context"]["global"]["session_id"], json!(sid));
    assert_eq!(r["context"]["global"]["system"]["turn_count"], 3);
    app.stop().await;
}

#[tokio::test]
async fn restart_goes_back_to_the_root() {
    let app = spawn_app(DEMO).await;
    let sid = app.session("demo").await;
    app.say(&sid, "", json!({})).await;
    let (_, r) = app.say(&sid, "I want to order a pizza", json!({})).await;
    assert!(texts(&r).iter().any(|t| t.contains("What size")), "{r}");
    let (_, r) = app
        .say(
            &sid,
            "hello",
            json!({"restart": true, "return_context": true}),
        )
        .await;
    assert_eq!(r["output"]["intents"][0]["intent"], "greeting", "{r}");
    assert!(
        !texts(&r).iter().any(|t| t.contains("What size")),
        "the pending slot is gone: {r}"
    );
    assert_eq!(
        r["context"]["global"]["system"]["turn_count"], 3,
        "restart keeps turn_count"
    );
    app.stop().await;
}

#[tokio::test]
async fn session_state_over_130kb_is_refused() {
    let app = spawn_app(DEMO).await;
    let sid = app.session("demo").await;
    let path = format!("/v2/assistants/demo/sessions/{sid}/message");
    let big = "x".repeat(140_000);
    let toml_big = json!({"input": {"text": "hi"}, "context": {"skills": {"main skill": {"user_defined": {"big": big}}}}});
    let r = app
        .http
        .post(app.url(&path))
        .json(&toml_big)
        .send()
        .await
        .unwrap();
    let (s, b) = crate::support::status_json(r).await;
    // The body limit (1MB) lets it through; the session-state limit does not.
    assert_eq!(
        (s, b),
        (
            400,
            json!({"error": "Session state exceeds the 130kb size limit", "code": 400})
        )
    );
    let (s, _) = app.say(&sid, "hi", json!({})).await;
    assert_eq!(s, 200, "the session still works");
    app.stop().await;
}

#[tokio::test]
async fn racing_messages_on_one_session_lose_no_update() {
    let app = spawn_app(DEMO).await;
    let sid = app.session("demo").await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let http = app.http.clone();
        let url = app.url(&format!("/v2/assistants/demo/sessions/{sid}/message"));
        tasks.push(tokio::spawn(async move {
            let body = json!({"input": {"text": "hello"}, "context": {"skills": {"main skill": {"user_defined": {format!("k{i}"): i}}}}});
            http.post(url).json(&body).send().await.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let (_, r) = app
        .say(&sid, "hello", json!({"return_context": true}))
        .await;
    assert_eq!(r["context"]["global"]["system"]["turn_count"], 13);
    let ud = r["context"]["skills"]["main skill"]["user_defined"]
        .as_object()
        .unwrap()
        .clone();
    for i in 0..12 {
        assert_eq!(ud.get(&format!("k{i}")), Some(&json!(i)), "{ud:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn sessions_survive_a_restart_and_expire() {
    let app = spawn_app(DEMO).await;
    let (dir, url) = (app.dir.clone(), app.storage_url.clone());
    let sid = app.session("demo").await;
    app.say(&sid, "", json!({})).await;
    let (_, r) = app.say(&sid, "I want to order a pizza", json!({})).await;
    assert!(texts(&r).iter().any(|t| t.contains("What size")), "{r}");
    app.stop().await;

    let app = spawn_app_at(DEMO, dir, url).await;
    let (s, r) = app
        .say(&sid, "small", json!({"return_context": true}))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(texts(&r), ["Great, one small pizza is on its way!"], "{r}");
    assert_eq!(r["context"]["global"]["system"]["turn_count"], 3);
    app.stop().await;

    let app = spawn_app(
        "[[assistants]]\nid = \"demo\"\nskill = \"builtin:demo\"\nsession_timeout = \"1s\"\n",
    )
    .await;
    let sid = app.session("demo").await;
    assert_eq!(app.say(&sid, "hi", json!({})).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (s, b): (u16, Value) = app.say(&sid, "hi", json!({})).await;
    assert_eq!(
        (s, b),
        (404, json!({"error": "Invalid Session", "code": 404}))
    );
    app.stop().await;
}
