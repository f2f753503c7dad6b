use serde_json::json;

use crate::support::{spawn_app, texts, Receiver, DEMO};

fn with_dialog(url: &str) -> String {
    format!(
        "[[assistants]]\nid = \"demo\"\nskill = \"builtin:demo\"\n  [assistants.webhooks.dialog]\n  url = \"{url}\"\n  secret = \"dialog secret\"\n  headers = {{ \"X-Weather-Key\" = \"k-123\" }}\n"
    )
}

#[tokio::test]
async fn main_webhook_success_and_failure_paths() {
    let hook = Receiver::start().await;
    hook.respond_with(|body| json!({"city": body["city"], "forecast": "sunny"}));
    let app = spawn_app(&with_dialog(&hook.url)).await;
    let (s, r) = app
        .post(
            "/v2/assistants/demo/message",
            json!({"input": {"text": "what's the weather in London?"}}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(texts(&r), ["The weather in London: sunny."], "{r}");
    let got = hook.last();
    assert_eq!(got.json()["city"], "London");
    assert_eq!(got.header("x-weather-key").as_deref(), Some("k-123"));
    let jwt = got.header("authorization").expect("JWT");
    let v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    assert!(jsonwebtoken::decode::<serde_json::Value>(
        &jwt,
        &jsonwebtoken::DecodingKey::from_secret(b"dialog secret"),
        &v
    )
    .is_ok());
    assert_eq!(
        r["context"]["skills"]["main skill"]["user_defined"]["webhook_result_1"],
        json!({"city": "London", "forecast": "sunny"})
    );

    hook.set_status(500);
    let (_, r) = app
        .post(
            "/v2/assistants/demo/message",
            json!({"input": {"text": "what's the weather in Paris?", "options": {"debug": true}}}),
        )
        .await;
    assert_eq!(
        texts(&r),
        ["Sorry, I could not reach the weather service. Try again later."],
        "{r}"
    );
    assert_eq!(
        r["context"]["skills"]["main skill"]["user_defined"]["webhook_result_1"],
        json!(null)
    );
    assert!(
        r["output"]["webhook_error"]["webhook_result_1"]
            .as_str()
            .unwrap_or("")
            .contains("[500]"),
        "{r}"
    );
    let logged = r["output"]["debug"]["log_messages"].to_string();
    assert!(
        logged.contains("Webhook responded with [500] status code"),
        "reported with debug: {logged}"
    );

    let (_, calls) = app.get("/v1/webhook_calls?kind=dialog").await;
    let calls = calls["webhook_calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0]["status_code"], 500, "newest first");
    assert!(calls
        .iter()
        .all(|c| !c["request_body"].as_str().unwrap().contains("k-123")));
    app.stop().await;
}

#[tokio::test]
async fn the_demo_skill_dead_url_takes_the_failure_path() {
    let app = spawn_app(DEMO).await;
    let (s, r) = app
        .post(
            "/v2/assistants/demo/message",
            json!({"input": {"text": "weather in Berlin please"}}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        texts(&r),
        ["Sorry, I could not reach the weather service. Try again later."],
        "{r}"
    );
    app.stop().await;
}
