use base64::Engine;
use serde_json::json;

use crate::support::{spawn_app, status_json, DEMO};

#[tokio::test]
async fn version_is_required_and_checked() {
    let app = spawn_app(DEMO).await;
    for q in ["", "?version=2024-13-45", "?version=latest"] {
        let r = app
            .http
            .post(format!("{}/v2/assistants/demo/sessions{q}", app.base))
            .send()
            .await
            .unwrap();
        let (s, b) = status_json(r).await;
        assert_eq!(s, 400, "{q}: {b}");
        assert_eq!(b["code"], 400);
        assert!(b["error"].as_str().unwrap().contains("version"), "{b}");
    }
    app.stop().await;
}

#[tokio::test]
async fn api_keys_basic_and_bearer() {
    let app = spawn_app(&format!("[server]\napi_keys = [\"k1\"]\n{DEMO}")).await;
    let url = app.url("/v2/assistants/demo/sessions");
    let (s, b) = status_json(app.http.post(&url).send().await.unwrap()).await;
    assert_eq!(
        (s, b.clone()),
        (401, json!({"error": "Unauthorized", "code": 401}))
    );
    let (s, _) = status_json(
        app.http
            .post(&url)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = status_json(
        app.http
            .post(&url)
            .basic_auth("apikey", Some("k1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = status_json(app.http.post(&url).bearer_auth("k1").send().await.unwrap()).await;
    assert_eq!(s, 201);
    let other = base64::engine::general_purpose::STANDARD.encode("someone:k1");
    let (s, _) = status_json(
        app.http
            .post(&url)
            .header("authorization", format!("Basic {other}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
    // Health needs no key.
    let (s, b) = status_json(
        app.http
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, &b["status"]), (200, &json!("ok")));
    let (s, b) = status_json(
        app.http
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, &b["storage"]), (200, &json!("sqlite")));
    // The ops API needs one.
    let (s, _) = status_json(
        app.http
            .get(format!("{}/v1/webhook_calls", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
    app.stop().await;
}

#[tokio::test]
async fn unknown_things_answer_watson_404s() {
    let app = spawn_app(DEMO).await;
    let (s, b) = app.post("/v2/assistants/nope/sessions", json!({})).await;
    assert_eq!(
        (s, b),
        (404, json!({"error": "Resource not found", "code": 404}))
    );
    let (s, b) = app
        .post("/v2/assistants/demo/environments/nope/message", json!({}))
        .await;
    assert_eq!(
        (s, b),
        (404, json!({"error": "Resource not found", "code": 404}))
    );
    let (s, b) = app
        .post(
            "/v2/assistants/demo/sessions/no-such-session/message",
            json!({"input": {"text": "hi"}}),
        )
        .await;
    assert_eq!(
        (s, b),
        (404, json!({"error": "Invalid Session", "code": 404}))
    );
    let (s, b) = app
        .delete("/v2/assistants/demo/sessions/no-such-session")
        .await;
    assert_eq!(
        (s, b),
        (404, json!({"error": "Invalid Session", "code": 404}))
    );
    let (s, b) = app.get("/v2/nothing/here").await;
    assert_eq!((s, b["error"].clone()), (404, json!("Resource not found")));
    app.stop().await;
}

#[tokio::test]
async fn bad_bodies_are_400_with_json_pointers_and_big_ones_413() {
    let app = spawn_app(&format!("[server]\nmax_body = \"2KB\"\n{DEMO}")).await;
    let url = app.url("/v2/assistants/demo/message");
    let (s, b) = status_json(
        app.http
            .post(&url)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(b["error"], "Invalid Request Body");
    assert_eq!(b["errors"][0]["path"], "/");
    let (s, b) = app
        .post(
            "/v2/assistants/demo/message",
            json!({"input": {"text": 42, "options": {"debug": "yes"}, "intents": [{"intent": 1}]}, "user_id": []}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(b["code"], 400);
    let paths: Vec<&str> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/input/text",
            "/input/options/debug",
            "/input/intents/0/intent",
            "/input/intents/0/confidence",
            "/user_id"
        ]
    );
    let (s, b) = app
        .post(
            "/v2/assistants/demo/message",
            json!({"input": {"text": "a\nb"}}),
        )
        .await;
    assert_eq!((s, &b["errors"][0]["path"]), (400, &json!("/input/text")));
    let big = "x".repeat(3000);
    let (s, b) = app
        .post(
            "/v2/assistants/demo/message",
            json!({"input": {"text": big}}),
        )
        .await;
    assert_eq!((s, &b["code"]), (413, &json!(413)), "{b}");
    app.stop().await;
}

#[tokio::test]
async fn sessions_create_delete_and_environments() {
    let app = spawn_app(DEMO).await;
    for base in [
        "/v2/assistants/demo",
        "/v2/assistants/demo/environments/draft",
        "/v2/assistants/demo/environments/live",
    ] {
        let (s, b) = app.post(&format!("{base}/sessions"), json!({})).await;
        assert_eq!(s, 201);
        let sid = b["session_id"].as_str().unwrap().to_owned();
        assert_eq!(b.as_object().unwrap().len(), 1);
        let (s, _) = app
            .post(
                &format!("{base}/sessions/{sid}/message"),
                json!({"input": {"text": "hello"}}),
            )
            .await;
        assert_eq!(s, 200);
        let (s, b) = app.delete(&format!("{base}/sessions/{sid}")).await;
        assert_eq!((s, b), (200, json!({})));
        let (s, b) = app
            .post(
                &format!("{base}/sessions/{sid}/message"),
                json!({"input": {"text": "hello"}}),
            )
            .await;
        assert_eq!((s, b["error"].clone()), (404, json!("Invalid Session")));
    }
    // A session of one environment is not valid in another.
    let (_, b) = app
        .post("/v2/assistants/demo/environments/draft/sessions", json!({}))
        .await;
    let sid = b["session_id"].as_str().unwrap();
    let (s, _) = app
        .post(
            &format!("/v2/assistants/demo/environments/live/sessions/{sid}/message"),
            json!({}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, b) = app.get("/v2/assistants/demo/environments").await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = b["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["environment_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["draft", "live"]);
    let (s, e) = app.get("/v2/assistants/demo/environments/live").await;
    assert_eq!(
        (s, &e["environment"], &e["session_timeout"]),
        (200, &json!("live"), &json!(3600))
    );
    let (s, _) = app.get("/v2/assistants/demo/environments/nope").await;
    assert_eq!(s, 404);
    app.stop().await;
}

#[tokio::test]
async fn configured_environments_and_environment_ids_as_assistant_ids() {
    let toml = "[[assistants]]\nid = \"travel\"\nskill = \"builtin:demo\"\n  [[assistants.environments]]\n  id = \"travel-staging\"\n  name = \"staging\"\n  session_timeout = \"30m\"\n";
    let app = spawn_app(toml).await;
    let (s, b) = app.get("/v2/assistants/travel/environments").await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = b["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["environment_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["draft", "live", "travel-staging"]);
    assert_eq!(b["environments"][2]["session_timeout"], 1800);
    // Watson's new experience puts the environment id where the assistant id goes.
    let (s, b) = app
        .post("/v2/assistants/travel-staging/sessions", json!({}))
        .await;
    assert_eq!(s, 201, "{b}");
    let sid = b["session_id"].as_str().unwrap();
    let (s, r) = app
        .post(
            &format!("/v2/assistants/travel/environments/travel-staging/sessions/{sid}/message"),
            json!({"input": {"text": "hello"}}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (_, logs) = app.get("/v2/assistants/travel/logs").await;
    assert_eq!(logs["logs"][0]["snapshot"], "staging");
    app.stop().await;
}
