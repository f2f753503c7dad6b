use serde_json::json;

use crate::support::{spawn_app, texts, DEMO};

#[tokio::test]
async fn stateless_returns_the_full_context_and_continues_exactly() {
    let app = spawn_app(DEMO).await;
    for base in [
        "/v2/assistants/demo",
        "/v2/assistants/demo/environments/draft",
    ] {
        let path = format!("{base}/message");
        let (s, r) = app
            .post(&path, json!({"input": {"text": "I want to order a pizza"}}))
            .await;
        assert_eq!(s, 200, "{r}");
        assert!(texts(&r).iter().any(|t| t.contains("What size")), "{r}");
        let ctx = r["context"].clone();
        let sid = ctx["global"]["session_id"]
            .as_str()
            .expect("generated session id")
            .to_owned();
        assert_eq!(r["user_id"], json!(sid));
        assert_eq!(ctx["global"]["system"]["turn_count"], 1);
        assert!(
            ctx.pointer("/skills/main skill/system/state").is_some(),
            "{ctx}"
        );
        let (s, r) = app
            .post(&path, json!({"input": {"text": "medium"}, "context": ctx}))
            .await;
        assert_eq!(s, 200);
        assert_eq!(texts(&r), ["Great, one medium pizza is on its way!"], "{r}");
        assert_eq!(r["context"]["global"]["session_id"], json!(sid));
        assert_eq!(r["context"]["global"]["system"]["turn_count"], 2);
    }
    app.stop().await;
}

#[tokio::test]
async fn supplied_intents_skip_recognition_and_unknown_fields_pass() {
    let app = spawn_app(DEMO).await;
    let (s, r) = app
        .post(
            "/v2/assistants/demo/message",
            json!({"input": {"text": "xyzzy", "intents": [{"intent": "goodbye", "confidence": 1}], "entities": [],
                   "source": {"type": "user", "id": "u"}, "integrations": {"chat": {}}}, "channel_extra": true}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(texts(&r), ["Goodbye! Come back any time."], "{r}");
    assert_eq!(
        r["output"]["intents"],
        json!([{"intent": "goodbye", "confidence": 1}])
    );
    app.stop().await;
}
