//! Compiles every expression found in the real skills of `../shared/skills/`: node conditions,
//! every string in node outputs and context blocks, action parameters and webhook headers.

use std::path::Path;

use chrono::DateTime;
use dialogic_expr::{Env, Expr, Flags, LogMessage, Template};
use serde_json::{json, Map, Value};

const SKILLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/skills");

#[derive(Default)]
struct Counts {
    conditions: usize,
    templates: usize,
    with_code: usize,
    errors: Vec<String>,
    compiled_conditions: Vec<Expr>,
    compiled_templates: Vec<Template>,
}

fn templates_in(v: &Value, at: &str, c: &mut Counts) {
    match v {
        Value::String(s) => {
            c.templates += 1;
            match Template::compile(s) {
                Ok(t) => {
                    if !t.is_constant() {
                        c.with_code += 1;
                        c.compiled_templates.push(t);
                    }
                }
                Err(e) => c.errors.push(format!("{at}: template {s:?}: {e}")),
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                templates_in(item, &format!("{at}[{i}]"), c);
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                templates_in(item, &format!("{at}.{k}"), c);
            }
        }
        _ => {}
    }
}

fn skill(path: &Path, c: &mut Counts) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    let text = std::fs::read_to_string(path).expect("readable skill");
    let ws: Value = serde_json::from_str(&text).expect("skill is JSON");
    for node in ws["dialog_nodes"].as_array().into_iter().flatten() {
        let id = node["dialog_node"].as_str().unwrap_or("?");
        let at = format!("{name} node {id}");
        if let Some(cond) = node["conditions"].as_str() {
            c.conditions += 1;
            match Expr::compile(cond) {
                Ok(e) => c.compiled_conditions.push(e),
                Err(e) => c.errors.push(format!("{at}: condition {cond:?}: {e}")),
            }
        }
        templates_in(&node["output"], &format!("{at} output"), c);
        templates_in(&node["context"], &format!("{at} context"), c);
        for (i, action) in node["actions"].as_array().into_iter().flatten().enumerate() {
            templates_in(
                &action["parameters"],
                &format!("{at} actions[{i}].parameters"),
                c,
            );
        }
    }
    for (i, hook) in ws["webhooks"].as_array().into_iter().flatten().enumerate() {
        for (j, h) in hook["headers"].as_array().into_iter().flatten().enumerate() {
            templates_in(
                &h["value"],
                &format!("{name} webhooks[{i}].headers[{j}]"),
                c,
            );
        }
    }
}

#[test]
fn every_expression_in_the_corpus_compiles() {
    let dir = Path::new(SKILLS);
    if !dir.is_dir() {
        println!("skipping: ../shared not found");
        return;
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("skills dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut c = Counts::default();
    for f in &files {
        skill(f, &mut c);
    }
    println!(
        "corpus: {} skills, {} conditions, {} template strings ({} with code or references), {} errors",
        files.len(),
        c.conditions,
        c.templates,
        c.with_code,
        c.errors.len()
    );
    assert!(
        c.conditions > 500,
        "expected the corpus' conditions, found {}",
        c.conditions
    );
    assert!(c.errors.is_empty(), "{}", c.errors.join("\n"));
}

/// Evaluates every compiled corpus expression against an empty turn and a populated one: the
/// only runtime errors allowed are the data-dependent ones (a method on a missing variable, a
/// value that is not a date); a missing method or function would show up here.
#[test]
fn every_expression_in_the_corpus_evaluates_with_known_methods() {
    let dir = Path::new(SKILLS);
    if !dir.is_dir() {
        println!("skipping: ../shared not found");
        return;
    }
    let mut c = Counts::default();
    for f in std::fs::read_dir(dir).expect("skills dir").flatten() {
        if f.path().extension().is_some_and(|x| x == "json") {
            skill(&f.path(), &mut c);
        }
    }
    let rich_context = json!({
        "ccpsp_criteria": [], "cc_paydate": "2024-06-01", "acc_paydue": "2024-06-10",
        "current_date": "2024-05-23", "app_date": "2024-06-03", "app_time": "14:30:00",
        "acc_currbal": 500, "cc_payamt": 20, "off_topic_counter": 1, "default_counter": 0,
        "cc_futurepaydate_error": 0, "cc_pastpaydate_error": 0, "eventName": "'Demo'",
        "date": "2024-06-01", "time": "19:00:00", "webhook_result_1": {"result": "ok", "response": {"result": {"result": ["a", "b", "c"]}}},
        "webhook_byDates": {"data": [], "result": "r"}, "webhook_byName": {"data": [], "result": "r"},
        "webhook_insert": {"input": "i"}
    });
    let entities = vec![
        json!({"entity": "sys-date", "value": "2024-06-01", "location": [0, 10], "confidence": 1.0}),
        json!({"entity": "sys-time", "value": "14:30:00", "location": [11, 16], "confidence": 1.0}),
        json!({"entity": "sys-number", "value": "3", "location": [17, 18], "confidence": 1.0}),
        json!({"entity": "sys-person", "value": "Ann", "location": [19, 22], "confidence": 1.0}),
        json!({"entity": "Address", "value": "zip", "location": [23, 28], "confidence": 1.0}),
    ];
    let input = json!({"text": "2024-06-01 14:30 3 Ann 10001"});
    let intents = vec![json!({"intent": "General_Greetings", "confidence": 0.8})];
    let mut unexpected = Vec::new();
    let mut evaluated = 0usize;
    for rich in [false, true] {
        let mut context: Map<String, Value> = if rich {
            rich_context.as_object().cloned().unwrap_or_default()
        } else {
            Map::new()
        };
        let mut output = json!({"generic": []});
        let mut log: Vec<LogMessage> = Vec::new();
        let empty: Vec<Value> = Vec::new();
        let mut env = Env {
            input: &input,
            intents: if rich { &intents } else { &empty },
            entities: if rich { &entities } else { &empty },
            context: &mut context,
            output: &mut output,
            event: &Value::Null,
            flags: Flags::default(),
            now: DateTime::from_timestamp(1_716_469_200, 0).unwrap_or_default(),
            timezone: None,
            log: &mut log,
        };
        for e in &c.compiled_conditions {
            let _ = e.is_true(&mut env);
            evaluated += 1;
        }
        for t in &c.compiled_templates {
            let _ = t.render(&mut env);
            evaluated += 1;
        }
        for l in log.iter().filter(|l| l.level == "error") {
            let known = l.message.contains("called on null")
                || l.message.contains("is not a date/time value")
                || (!rich && l.message.contains("cannot compare"));
            if !known {
                unexpected.push(format!("rich={rich}: {}", l.message));
            }
        }
    }
    println!("corpus: {evaluated} evaluations");
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}
