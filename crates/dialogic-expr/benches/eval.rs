//! Compile and evaluate the corpus' node conditions (`../shared/skills/*.json`).
//! `eval/corpus_conditions` reports throughput in conditions per second; ns per evaluation is
//! its inverse. Run: `cargo bench -p dialogic-expr --bench eval`.

use std::hint::black_box;
use std::path::Path;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dialogic_expr::{Env, Expr, Flags, Template};
use serde_json::{json, Map, Value};

const SKILLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/skills");

/// Conditions used when the corpus is absent (a fresh clone without ../shared).
const FALLBACK: &[&str] = &[
    "#order && @pizza_size:large",
    "$current_process == \"CC_Bill_Payment\" && $current_step == \"Start\"",
    "@sys-number < 1 || @sys-number > 5 || @zero_match",
    "intents[0].confidence > 0.5",
    "anything_else",
];

fn corpus_conditions() -> Vec<String> {
    let dir = Path::new(SKILLS);
    let Ok(entries) = std::fs::read_dir(dir) else {
        println!("skipping corpus: ../shared not found; using built-in conditions");
        return FALLBACK.iter().map(|s| s.to_string()).collect();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let Ok(ws) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        for node in ws["dialog_nodes"].as_array().into_iter().flatten() {
            if let Some(c) = node["conditions"].as_str() {
                out.push(c.to_string());
            }
        }
    }
    out
}

struct Turn {
    input: Value,
    intents: Vec<Value>,
    entities: Vec<Value>,
    context: Map<String, Value>,
    output: Value,
}

fn turn() -> Turn {
    Turn {
        input: json!({"text": "turn on the lights and pay 20 dollars on 2024-06-01"}),
        intents: vec![
            json!({"intent": "turn_on", "confidence": 0.92}),
            json!({"intent": "Banking-Card_Selection", "confidence": 0.31}),
        ],
        entities: vec![
            json!({"entity": "appliance", "value": "lights", "location": [12, 18], "confidence": 1.0}),
            json!({"entity": "sys-number", "value": "20", "location": [27, 29], "confidence": 1.0, "metadata": {"numeric_value": 20}}),
            json!({"entity": "sys-date", "value": "2024-06-01", "location": [41, 51], "confidence": 1.0}),
        ],
        context: json!({
            "current_process": "CC_Bill_Payment", "current_step": "Payment_Amount",
            "appl_action": "on", "lightonoff": "off", "musiconoff": "off",
            "cc_payamt": 20, "acc_minamt": 15, "acc_currbal": 500, "number": null,
            "current_date": "2024-05-23", "acc_paydue": "2024-06-10", "cc_paydate": "2024-06-01",
            "webhook_result_1": {"result": "ok"}, "office_location": "NY"
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
        output: json!({"generic": []}),
    }
}

fn bench(c: &mut Criterion) {
    let sources = corpus_conditions();
    let exprs: Vec<Expr> = sources
        .iter()
        .filter_map(|s| Expr::compile(s).ok())
        .collect();
    let now: DateTime<Utc> = DateTime::from_timestamp(1_716_469_200, 0).unwrap_or_default();
    let mut t = turn();

    let mut g = c.benchmark_group("compile");
    g.throughput(Throughput::Elements(sources.len() as u64));
    g.bench_function("corpus_conditions", |b| {
        b.iter(|| {
            for s in &sources {
                let _ = black_box(Expr::compile(black_box(s)));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("eval");
    g.throughput(Throughput::Elements(exprs.len() as u64));
    g.bench_function("corpus_conditions", |b| {
        let mut log = Vec::new();
        b.iter(|| {
            let mut env = Env {
                input: &t.input,
                intents: &t.intents,
                entities: &t.entities,
                context: &mut t.context,
                output: &mut t.output,
                event: &Value::Null,
                flags: Flags::default(),
                now,
                timezone: None,
                log: &mut log,
            };
            let mut n = 0;
            for e in &exprs {
                n += usize::from(e.is_true(&mut env));
            }
            log.clear();
            black_box(n)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("eval_one");
    for (name, src) in [
        ("intent_and_entity_value", "#turn_on && @appliance:lights"),
        (
            "two_context_compares",
            "$current_process == \"CC_Bill_Payment\" && $current_step == \"Payment_Amount\"",
        ),
        (
            "sys_number_range",
            "@sys-number < 1 || @sys-number > 5 || @zero_match",
        ),
        ("date_method", "$cc_paydate.after($acc_paydue)"),
        ("regex_literal", "input.text.find('\\d')"),
    ] {
        let Ok(e) = Expr::compile(src) else { continue };
        g.bench_function(name, |b| {
            let mut log = Vec::new();
            b.iter(|| {
                let mut env = Env {
                    input: &t.input,
                    intents: &t.intents,
                    entities: &t.entities,
                    context: &mut t.context,
                    output: &mut t.output,
                    event: &Value::Null,
                    flags: Flags::default(),
                    now,
                    timezone: None,
                    log: &mut log,
                };
                black_box(e.is_true(&mut env))
            })
        });
    }
    let tpl = Template::compile("Your payment of $$cc_payamt on <? $cc_paydate.reformatDateTime('EEE, MMM d, yyyy') ?> to $office_location.")
        .ok();
    if let Some(tpl) = tpl {
        g.bench_function("template_render", |b| {
            let mut log = Vec::new();
            b.iter(|| {
                let mut env = Env {
                    input: &t.input,
                    intents: &t.intents,
                    entities: &t.entities,
                    context: &mut t.context,
                    output: &mut t.output,
                    event: &Value::Null,
                    flags: Flags::default(),
                    now,
                    timezone: None,
                    log: &mut log,
                };
                black_box(tpl.render_string(&mut env))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
