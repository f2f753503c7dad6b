//! Turns per second on the banking skill (388 nodes) with supplied intents.
//!
//! `CARGO_TARGET_DIR=/work/tgt/dialog cargo bench -p dialogic-dialog --bench turn`

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use dialogic_dialog::{Poll, Skill, TurnInput};
use serde_json::{json, Value};

fn banking() -> Option<Skill> {
    let p = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/skills"
    ))
    .join("watson-developer-cloud__assistant-intermediate__banking_workspace.json");
    let bytes = std::fs::read(p).ok()?;
    Skill::from_json(&bytes).ok()
}

fn turn(skill: &Skill, context: &Value, text: &str, intent: &str) -> Value {
    let input = TurnInput {
        input: json!({ "text": text }),
        intents: vec![json!({"intent": intent, "confidence": 0.95})],
        entities: Vec::new(),
        context: context.clone(),
        restart: false,
        debug: false,
        now: chrono::Utc::now(),
    };
    let mut t = skill.start_turn(input);
    loop {
        match t.poll() {
            Poll::Done(out) => return out.context,
            Poll::Webhook(_) => t.resume(Err("no webhooks in the bench".into())),
        }
    }
}

fn bench(c: &mut Criterion) {
    let Some(skill) = banking() else {
        println!("skipping: ../shared not found");
        return;
    };
    // A started conversation, waiting at the root.
    let start = turn(&skill, &json!({}), "", "none");
    let questions = [
        (
            "what are your opening hours",
            "Business_Information-About_Company",
        ),
        ("thanks", "General_Conversation-Thanks"),
        ("how do I get a new pin", "Banking-Adding_PIN"),
        ("goodbye", "General_Conversation-Farewells"),
        ("blah", "none"),
    ];
    let mut i = 0;
    c.bench_function("banking turn (supplied intent)", |b| {
        b.iter(|| {
            let (text, intent) = questions[i % questions.len()];
            i += 1;
            turn(&skill, &start, text, intent)
        })
    });
    for (text, intent) in questions {
        c.bench_function(&format!("banking turn: #{intent}"), |b| {
            b.iter(|| turn(&skill, &start, text, intent))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
