//! Classification speed of the fast model: `cargo bench -p dialogic-nlu --bench classify`.
//!
//! Uses ../shared/nlu/clinc150 (150 intents, 15,000 examples) and the banking skill from
//! ../shared/skills when present; otherwise a small built-in skill so the bench still runs.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dialogic_nlu::{AnalyzeContext, Nlu, NluOptions};
use serde_json::{json, Value};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared");

fn load(path: &str) -> Option<String> {
    std::fs::read_to_string(format!("{SHARED}/{path}")).ok()
}

fn fallback_skill() -> Value {
    json!({"language": "en", "intents": [
        {"intent": "greet", "examples": [{"text": "hello"}, {"text": "hi there"}, {"text": "good morning"}]},
        {"intent": "bye", "examples": [{"text": "goodbye"}, {"text": "see you later"}, {"text": "bye now"}]},
        {"intent": "order", "examples": [{"text": "I want a pizza"}, {"text": "order food"}, {"text": "get me a burger"}]}
    ], "entities": [{"entity": "sys-number", "values": []}, {"entity": "sys-date", "values": []}]})
}

fn bench(c: &mut Criterion) {
    let (skill, texts): (Value, Vec<String>) = match (
        load("nlu/clinc150/skill.json"),
        load("nlu/clinc150/test.tsv"),
    ) {
        (Some(s), Some(t)) => (
            serde_json::from_str(&s).unwrap_or_else(|_| fallback_skill()),
            t.lines()
                .skip(1)
                .filter_map(|l| l.split('\t').next().map(str::to_string))
                .collect(),
        ),
        _ => {
            eprintln!("skipping clinc150: ../shared not found; using a built-in skill");
            (
                fallback_skill(),
                vec!["hello there".into(), "I want pizza tomorrow".into()],
            )
        }
    };
    let nlu = match Nlu::train(&skill, &NluOptions::default()) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("training failed: {e}");
            return;
        }
    };
    let mut i = 0;
    c.bench_function("classify/clinc150", |b| {
        b.iter(|| {
            i = (i + 1) % texts.len();
            black_box(nlu.classify(&texts[i]).len())
        })
    });
    let banking =
        load("skills/watson-developer-cloud__assistant-intermediate__banking_workspace.json")
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .unwrap_or_else(fallback_skill);
    if let Ok(nlu) = Nlu::train(&banking, &NluOptions::default()) {
        let ctx = AnalyzeContext {
            timezone: Some("America/New_York"),
            reference_time: chrono::Utc::now(),
        };
        let inputs = [
            "I want to transfer $500 from checking to savings tomorrow at 5pm",
            "what is my balance",
            "pay my credit card bill on the 5th of June",
            "hello",
        ];
        let mut k = 0;
        c.bench_function("analyze/banking", |b| {
            b.iter(|| {
                k = (k + 1) % inputs.len();
                black_box(nlu.analyze(inputs[k], &ctx).entities.len())
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
