//! Compiles every expression found in the real skills of `../shared/skills/`: node conditions,
//! every string in node outputs and context blocks, action parameters and webhook headers.

use std::path::Path;

use dialogic_expr::{Expr, Template};
use serde_json::Value;

const SKILLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/skills");

#[derive(Default)]
struct Counts {
    conditions: usize,
    templates: usize,
    with_code: usize,
    errors: Vec<String>,
}

fn templates_in(v: &Value, at: &str, c: &mut Counts) {
    match v {
        Value::String(s) => {
            c.templates += 1;
            match Template::compile(s) {
                Ok(t) => {
                    if !t.is_constant() {
                        c.with_code += 1;
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
            if let Err(e) = Expr::compile(cond) {
                c.errors.push(format!("{at}: condition {cond:?}: {e}"));
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
