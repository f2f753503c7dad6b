//! Every real skill export in `../shared/skills` loads, and every root-level (folders
//! included) intent-conditioned node answers something when its intent is supplied.

use std::path::{Path, PathBuf};

use dialogic_dialog::{Skill, TurnInput};
use serde_json::{json, Value};

fn skills_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/skills"
    ))
    .to_path_buf()
}

fn all_skills() -> Option<Vec<(String, Skill)>> {
    let dir = skills_dir();
    if !dir.is_dir() {
        println!("skipping: ../shared not found");
        return None;
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "json"));
    paths.sort();
    assert_eq!(
        paths.len(),
        8,
        "expected the eight corpus skills in {}",
        dir.display()
    );
    Some(
        paths
            .iter()
            .map(|p| {
                let name = p
                    .file_name()
                    .map(|f| f.to_string_lossy().to_string())
                    .unwrap_or_default();
                let bytes = std::fs::read(p).unwrap_or_default();
                let skill = Skill::from_json(&bytes)
                    .unwrap_or_else(|e| panic!("{name} does not load: {:#?}", e.problems));
                (name, skill)
            })
            .collect(),
    )
}

#[test]
fn every_skill_loads() {
    let Some(skills) = all_skills() else { return };
    for (name, skill) in &skills {
        assert!(!skill.name().is_empty(), "{name}: no name");
        assert!(skill.node_count() > 0, "{name}: no nodes");
        for w in skill.warnings() {
            println!("{name}: warning: {w}");
        }
    }
    let by_name = |n: &str| skills.iter().find(|(f, _)| f.contains(n)).map(|(_, s)| s);
    assert_eq!(by_name("jira").map(Skill::language), Some("de"));
    assert_eq!(by_name("banking").map(Skill::node_count), Some(388));
    let slack = by_name("slack")
        .and_then(Skill::webhook)
        .expect("the slack skill has a webhook");
    assert_eq!(
        slack.headers,
        vec![("X-Require-Whisk-Auth".to_string(), "YOURSECRET".to_string())]
    );
    // Removed system entities and slots under a standard node are warnings, not errors.
    let warnings = |n: &str| {
        by_name(n).map(|s| {
            s.warnings()
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
        })
    };
    assert!(warnings("complex_dialog")
        .unwrap_or_default()
        .iter()
        .any(|w| w.contains("sys-person")));
    assert!(warnings("car_workspace")
        .unwrap_or_default()
        .iter()
        .any(|w| w.contains("slot")));
}

/// The first intent a condition tests (`#name`), if any.
fn first_intent(cond: &str) -> Option<String> {
    let i = cond.find('#')?;
    let name: String = cond[i + 1..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Root-level nodes (folders flattened) in tree order: (id, conditions).
fn root_nodes(ws: &Value) -> Vec<(String, String)> {
    let nodes = ws["dialog_nodes"].as_array().cloned().unwrap_or_default();
    let children = |parent: Option<&str>| -> Vec<Value> {
        let mut kids: Vec<Value> = nodes
            .iter()
            .filter(|n| n["parent"].as_str() == parent)
            .cloned()
            .collect();
        let mut ordered = Vec::new();
        let mut prev: Option<String> = None;
        while let Some(pos) = kids
            .iter()
            .position(|k| k["previous_sibling"].as_str().map(str::to_string) == prev)
        {
            let k = kids.remove(pos);
            prev = k["dialog_node"].as_str().map(str::to_string);
            ordered.push(k);
        }
        ordered
    };
    let mut out = Vec::new();
    let mut stack: Vec<Value> = children(None).into_iter().rev().collect();
    while let Some(n) = stack.pop() {
        if n["disabled"].as_bool() == Some(true) {
            continue;
        }
        let id = n["dialog_node"].as_str().unwrap_or("").to_string();
        if n["type"].as_str() == Some("folder") {
            stack.extend(children(Some(&id)).into_iter().rev());
        } else {
            out.push((id, n["conditions"].as_str().unwrap_or("").to_string()));
        }
    }
    out
}

/// Root nodes whose own output is empty in the export (an unfinished node): they must be
/// reached, and may stay silent.
const EMPTY_IN_THE_EXPORT: &[&str] = &["node_21_1518744089629"];

/// Root nodes that only answer inside a process: the context variables they test.
fn context_for(node: &str) -> Option<Value> {
    match node {
        // "Skip this step" answers per process in progress.
        "node_13_1518406499059" => Some(json!({"current_process": "CC_Bill_Payment"})),
        _ => None,
    }
}

#[test]
fn every_root_intent_gets_an_answer() {
    let Some(skills) = all_skills() else { return };
    let now = chrono::Utc::now();
    let mut checked = 0;
    let mut reached = 0;
    let mut silent = Vec::new();
    for (name, skill) in &skills {
        // Start the conversation first so conversation_start nodes are out of the way.
        let start = skill
            .start_turn(TurnInput {
                input: json!({"text": ""}),
                now,
                ..TurnInput::default()
            })
            .run_with(|_| Err("no webhook here".into()));
        for (id, cond) in root_nodes(skill.workspace()) {
            let Some(intent) = first_intent(&cond) else {
                continue;
            };
            checked += 1;
            let mut context = start.context.clone();
            if let Some(Value::Object(vars)) = context_for(&id) {
                for (k, v) in vars {
                    context["skills"]["main skill"]["user_defined"][k] = v;
                }
            }
            let input = TurnInput {
                input: json!({"text": format!("example for {intent}")}),
                intents: vec![json!({"intent": intent, "confidence": 0.9})],
                context,
                debug: true,
                now,
                ..TurnInput::default()
            };
            let out = skill
                .start_turn(input)
                .run_with(|_| Err("webhook unavailable in this test".into()));
            let generic = out.output["generic"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let said = generic.iter().any(|g| {
                g["response_type"] != "text" || g["text"].as_str().is_some_and(|t| !t.is_empty())
            });
            let acted = out.output.get("actions").is_some();
            if !(said || acted || EMPTY_IN_THE_EXPORT.contains(&id.as_str())) {
                silent.push(format!(
                    "{name}: #{intent} (node {id}) gave no answer: {}",
                    out.output
                ));
            }
            let visited = out.output["debug"]["nodes_visited"].to_string();
            if visited.contains(&format!("\"{id}\"")) {
                reached += 1;
            } else {
                println!("{name}: #{intent} answered by another node than {id}: {visited}");
            }
        }
    }
    println!("{checked} root intents checked, {reached} answered by their own node");
    assert!(
        silent.is_empty(),
        "{} silent:\n{}",
        silent.len(),
        silent.join("\n")
    );
    assert!(checked > 100, "only {checked} root intents found");
    assert!(
        reached * 10 >= checked * 9,
        "only {reached} of {checked} intents reached their node"
    );
}
