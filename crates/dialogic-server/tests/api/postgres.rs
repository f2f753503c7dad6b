//! A smoke subset on PostgreSQL (when DIALOGIC_TEST_POSTGRES_URL is set).

use serde_json::json;

use crate::support::{spawn_app_at, temp_dir, texts, DEMO};

#[tokio::test]
async fn sessions_messages_and_logs_on_postgres() {
    let Ok(url) = std::env::var("DIALOGIC_TEST_POSTGRES_URL") else {
        eprintln!("skipping: DIALOGIC_TEST_POSTGRES_URL not set");
        return;
    };
    let app = spawn_app_at(DEMO, temp_dir(), url.clone()).await;
    let (s, ready) = app.get("/readyz").await;
    assert_eq!((s, &ready["storage"]), (200, &json!("postgres")), "{ready}");
    let sid = app.session("demo").await;
    let (s, r) = app.say(&sid, "I want to order a pizza", json!({})).await;
    assert_eq!(s, 200, "{r}");
    app.stop().await;
    let app = spawn_app_at(DEMO, temp_dir(), url).await;
    let (_, r) = app
        .say(&sid, "large", json!({"return_context": true}))
        .await;
    assert_eq!(texts(&r), ["Great, one large pizza is on its way!"], "{r}");
    let (_, logs) = app
        .get(&format!(
            "/v2/assistants/demo/logs?filter=session_id::{sid}"
        ))
        .await;
    assert_eq!(logs["logs"].as_array().unwrap().len(), 2, "{logs}");
    let (s, _) = app
        .delete(&format!("/v2/assistants/demo/sessions/{sid}"))
        .await;
    assert_eq!(s, 200);
    app.stop().await;
}
