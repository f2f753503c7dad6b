//! Dialog webhooks driven through real exports from ../shared/skills, with the receiver
//! standing in for their dead URLs.

use std::path::Path;

use serde_json::json;

use crate::support::{spawn_app, texts, Receiver};

const SKILLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/skills");

fn config(skill: &str, hook: &str) -> Option<String> {
    let path = Path::new(SKILLS).join(skill);
    if !path.exists() {
        eprintln!("skipping: ../shared not found");
        return None;
    }
    Some(format!(
        "[[assistants]]\nid = \"s\"\nskill = {:?}\n  [assistants.webhooks.dialog]\n  url = \"{hook}\"\n",
        path.display().to_string()
    ))
}

#[tokio::test]
async fn twitter_skill_success_and_failure() {
    let hook = Receiver::start().await;
    let Some(cfg) = config(
        "IBM-DSE__Watson-Assistant-Webhooks-Tutorial__skill-WA_Webhooks_twitter.json",
        &hook.url,
    ) else {
        return;
    };
    hook.respond_with(|_| json!({"response": {"result": {"result": ["t1", "t2", "t3"]}}}));
    let app = spawn_app(&cfg).await;
    let body = json!({"input": {"text": "what people say on twitter about @blackmirror", "intents": [{"intent": "twitter", "confidence": 1}]}});
    let (s, r) = app.post("/v2/assistants/s/message", body.clone()).await;
    assert_eq!(s, 200, "{r}");
    let t = texts(&r).join(" ");
    assert!(
        t.contains("Last Tweets for @blackmirror") && t.contains("- t1") && t.contains("- t3"),
        "{r}"
    );
    assert_eq!(hook.last().json(), json!({"account": "@blackmirror"}));
    hook.set_status(404);
    let (_, r) = app.post("/v2/assistants/s/message", body).await;
    assert!(
        texts(&r).join(" ").contains("I couldn't find the account"),
        "{r}"
    );
    app.stop().await;
}

#[tokio::test]
async fn serverless_skill_plans_callout() {
    let hook = Receiver::start().await;
    let Some(cfg) = config(
        "kif01__Going-Serverless-in-Watson-Assistant__dialog.json",
        &hook.url,
    ) else {
        return;
    };
    hook.respond_with(
        |b| json!({"response": format!("Details of {}", b["entity"].as_str().unwrap_or("?"))}),
    );
    let app = spawn_app(&cfg).await;
    let sid = app.session("s").await;
    let path = format!("/v2/assistants/s/sessions/{sid}/message");
    app.post(&path, json!({"input": {"text": "What are your plans?", "intents": [{"intent": "Plans", "confidence": 1}]}})).await;
    let (s, r) = app.post(&path, json!({"input": {"text": "Plan 2"}})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(hook.last().json()["action"], "service", "{r}");
    assert!(
        texts(&r).iter().any(|t| t.contains("Details of Plan 2")),
        "{r}"
    );
    app.stop().await;
}
