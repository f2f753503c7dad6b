//! Nothing a skill or a request can hold may panic or hang: mangled versions of the corpus
//! skills either load or are rejected with problems, and those that load run turns with
//! random intents, entities and webhook answers.

use std::path::Path;

use dialogic_dialog::{Poll, Skill, TurnInput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

fn mangle(ws: &mut Value, rng: &mut StdRng, ids: &[String]) {
    let Some(nodes) = ws["dialog_nodes"].as_array_mut() else {
        return;
    };
    let n = nodes.len();
    for _ in 0..rng.gen_range(1..6) {
        let i = rng.gen_range(0..n);
        let node = &mut nodes[i];
        let pick = |rng: &mut StdRng| ids[rng.gen_range(0..ids.len())].clone();
        match rng.gen_range(0..10) {
            0 => {
                node["conditions"] = json!(
                    ["#a", "$x.y(", "@@", "true &&", "<? ?>", "", "#x || $y:z"]
                        [rng.gen_range(0..7)]
                )
            }
            1 => {
                node["next_step"] = json!({"behavior": "jump_to", "selector": (["condition", "body", "user_input", "client"][rng.gen_range(0..4)]), "dialog_node": pick(rng)})
            }
            2 => {
                node["next_step"] = json!({"behavior": (["skip_user_input", "reprompt", "skip_slot", "skip_all_slots", "bogus"][rng.gen_range(0..5)])})
            }
            3 => {
                node["type"] = json!(
                    [
                        "standard",
                        "frame",
                        "slot",
                        "folder",
                        "response_condition",
                        "event_handler",
                        "weird"
                    ][rng.gen_range(0..7)]
                )
            }
            4 => {
                node["output"] = json!({"generic": [{"response_type": "text", "values": [{"text": "<? $a.b.c ?> $x @y #z"}], "selection_policy": "random"}], "text": 5, "modifiers": "x"})
            }
            5 => node["context"] = json!({"a": {"b": "<? $a ?>"}, "c": null, "d": [1, "$a"]}),
            6 => {
                node["actions"] = json!([{"name": "main_webhook", "type": "webhook", "parameters": {"p": "$a"}, "result_variable": "context.r.s"}, {"type": "client"}, 5])
            }
            7 => node["digress_in"] = json!("returns"),
            8 => {
                node["event_name"] = json!(
                    [
                        "focus",
                        "input",
                        "filled",
                        "nomatch",
                        "generic",
                        "digression_return_prompt"
                    ][rng.gen_range(0..6)]
                )
            }
            _ => node["disabled"] = json!(rng.gen_bool(0.5)),
        }
    }
}

#[test]
fn mangled_skills_load_or_fail_cleanly_and_never_panic() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/skills"
    ));
    if !dir.is_dir() {
        println!("skipping: ../shared not found");
        return;
    }
    let mut rng = StdRng::seed_from_u64(7);
    let mut loaded = 0;
    let mut rejected = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).collect())
        .unwrap_or_default();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let original: Value = serde_json::from_slice(&std::fs::read(&path).unwrap_or_default())
            .unwrap_or(Value::Null);
        let ids: Vec<String> = original["dialog_nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["dialog_node"].as_str().map(str::to_string))
            .collect();
        let intents: Vec<String> = original["intents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["intent"].as_str().map(str::to_string))
            .collect();
        for _ in 0..12 {
            let mut ws = original.clone();
            mangle(&mut ws, &mut rng, &ids);
            let skill = match Skill::from_value(ws) {
                Ok(s) => s,
                Err(e) => {
                    assert!(!e.problems.is_empty());
                    rejected += 1;
                    continue;
                }
            };
            loaded += 1;
            let mut context = json!({});
            for _ in 0..8 {
                let intent = if intents.is_empty() || rng.gen_bool(0.2) {
                    Vec::new()
                } else {
                    vec![
                        json!({"intent": intents[rng.gen_range(0..intents.len())], "confidence": rng.gen_range(0.0..1.0)}),
                    ]
                };
                let input = TurnInput {
                    input: json!({"text": (["", "yes", "12", "hello there"][rng.gen_range(0..4)])}),
                    intents: intent,
                    entities: vec![
                        json!({"entity": "sys-number", "value": "12", "location": [0, 2], "confidence": 1.0}),
                    ],
                    context: context.clone(),
                    debug: true,
                    restart: rng.gen_bool(0.05),
                    now: chrono::Utc::now(),
                };
                let mut turn = skill.start_turn(input);
                let mut calls = 0;
                let out = loop {
                    match turn.poll() {
                        Poll::Done(out) => break out,
                        Poll::Webhook(_) => {
                            calls += 1;
                            assert!(calls < 200, "too many webhook calls in one turn");
                            turn.resume(if rng.gen_bool(0.5) {
                                Ok(json!({"r": calls}))
                            } else {
                                Err("down".into())
                            });
                        }
                    }
                };
                context = out.context;
            }
        }
    }
    println!("{loaded} mangled skills loaded and ran, {rejected} rejected with problems");
    assert!(loaded > 0);
}
