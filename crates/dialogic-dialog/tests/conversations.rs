//! The conversation-transcript runner: every `tests/conversations/*.yaml` file is a list of
//! conversations against one skill of `../shared/skills`; each turn supplies the user text
//! and the intents/entities (there is no NLU here), optional scripted webhook results, and
//! what the dialog must answer. One test runs them all and names every failing turn.
//!
//! Turn format (all `expect` keys optional):
//! ```yaml
//! - text: "cancel my order"
//!   intents: [cancel_order]              # or "name:0.4", or {intent, confidence}
//!   entities: [{entity: order_number, value: AB12345}]   # location found in the text
//!   webhooks: [{ok: {...}}, {error: "reason"}]           # answers to the turn's calls, in order
//!   restart: true
//!   expect:
//!     texts: ["exact", "generic text items"]
//!     texts_contain: ["substring of the joined texts"]
//!     text_one_of: ["a", "b"]               # exactly one text, one of these
//!     types: [text, option]               # response_type of every generic item
//!     context: {var: value}               # subset of user_defined (null = must be null/absent)
//!     absent: [var]                        # variables that must not be set
//!     visited: [node ids]                 # exact nodes_visited
//!     visited_include: [node ids]
//!     output: {...}                        # subset of output (webhook_error, ui_action...)
//!     webhook_calls: [{node, body, result_variable}]   # subset of each request made
//!     actions: [{name, ...}]               # subset of output.actions
//!     skip_user_input: true
//!     branch_exited: true
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::TimeZone;
use dialogic_dialog::{Poll, Skill, TurnInput};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    skill: String,
    conversations: Vec<Conversation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Conversation {
    name: String,
    #[serde(default)]
    context: serde_yaml::Value,
    #[serde(default)]
    timezone: Option<String>,
    turns: Vec<TurnSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnSpec {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    intents: Vec<serde_yaml::Value>,
    #[serde(default)]
    entities: Vec<serde_yaml::Value>,
    #[serde(default)]
    webhooks: Vec<WebhookAnswer>,
    #[serde(default)]
    restart: bool,
    /// Replace the context the client sends back (e.g. a client action's result).
    #[serde(default)]
    set_context: serde_yaml::Value,
    /// Send this raw state string instead of the stored one.
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookAnswer {
    #[serde(default)]
    ok: Option<serde_yaml::Value>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Expect {
    texts: Option<Vec<String>>,
    #[serde(default)]
    texts_contain: Vec<String>,
    /// The turn says exactly one text, one of these (random selection).
    text_one_of: Option<Vec<String>>,
    types: Option<Vec<String>>,
    #[serde(default)]
    context: serde_yaml::Value,
    #[serde(default)]
    absent: Vec<String>,
    visited: Option<Vec<String>>,
    #[serde(default)]
    visited_include: Vec<String>,
    #[serde(default)]
    output: serde_yaml::Value,
    webhook_calls: Option<Vec<serde_yaml::Value>>,
    actions: Option<Vec<serde_yaml::Value>>,
    skip_user_input: Option<bool>,
    branch_exited: Option<bool>,
}

fn to_json(v: &serde_yaml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn intent(v: &serde_yaml::Value) -> Value {
    match v {
        serde_yaml::Value::String(s) => match s.split_once(':') {
            Some((name, conf)) => {
                json!({"intent": name, "confidence": conf.parse::<f64>().unwrap_or(1.0)})
            }
            None => json!({"intent": s, "confidence": 1.0}),
        },
        other => to_json(other),
    }
}

fn entity(v: &serde_yaml::Value, text: &str) -> Value {
    let mut e = to_json(v);
    if let Some(o) = e.as_object_mut() {
        o.entry("confidence").or_insert(json!(1.0));
        if !o.contains_key("location") {
            let needle = o
                .get("literal")
                .or_else(|| o.get("value"))
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            let lower = text.to_lowercase();
            let loc = match lower.find(&needle.to_lowercase()) {
                Some(i) if !needle.is_empty() => {
                    json!([
                        text[..i].chars().count(),
                        text[..i].chars().count() + needle.chars().count()
                    ])
                }
                _ => json!([0, 0]),
            };
            o.insert("location".into(), loc);
        }
    }
    e
}

/// `expected` is a subset of `actual` (objects: every key; arrays: same length, each a subset).
fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e.iter().all(|(k, v)| match a.get(k) {
            Some(x) => subset(v, x),
            None => v.is_null(),
        }),
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| subset(x, y))
        }
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        (e, a) => e == a,
    }
}

fn texts(output: &Value) -> Vec<String> {
    output["generic"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter(|i| i["response_type"] == "text")
                .filter_map(|i| i["text"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn shared_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")).to_path_buf()
}

struct Tally {
    turns: usize,
    failures: Vec<String>,
}

fn run_file(path: &Path, tally: &mut Tally, skills: &mut BTreeMap<String, Skill>) {
    let label = path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let file: File = match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_yaml::from_str(&s).map_err(|e| e.to_string()))
    {
        Ok(f) => f,
        Err(e) => {
            tally
                .failures
                .push(format!("{label}: cannot read transcript: {e}"));
            return;
        }
    };
    if !skills.contains_key(&file.skill) {
        let p = shared_dir().join("skills").join(&file.skill);
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) => {
                tally
                    .failures
                    .push(format!("{label}: cannot read skill {}: {e}", p.display()));
                return;
            }
        };
        match Skill::from_json(&bytes) {
            Ok(s) => {
                skills.insert(file.skill.clone(), s);
            }
            Err(e) => {
                tally
                    .failures
                    .push(format!("{label}: skill does not load: {e}"));
                return;
            }
        }
    }
    let skill = &skills[&file.skill];
    let now = chrono::Utc
        .with_ymd_and_hms(2024, 5, 23, 14, 0, 0)
        .single()
        .unwrap_or_default();
    for conv in &file.conversations {
        let mut context =
            json!({"global": {"system": {}}, "skills": {"main skill": {"user_defined": {}}}});
        if let Value::Object(o) = to_json(&conv.context) {
            context["skills"]["main skill"]["user_defined"] = Value::Object(o);
        }
        if let Some(tz) = &conv.timezone {
            context["global"]["system"]["timezone"] = json!(tz);
        }
        for (i, t) in conv.turns.iter().enumerate() {
            tally.turns += 1;
            let text = t.text.clone().unwrap_or_default();
            let name = format!("{label} :: {} :: turn {} ({:?})", conv.name, i + 1, text);
            if let Value::Object(o) = to_json(&t.set_context) {
                for (k, v) in o {
                    context["skills"]["main skill"]["user_defined"][k] = v;
                }
            }
            if let Some(s) = &t.state {
                context["skills"]["main skill"]["system"]["state"] = json!(s);
            }
            let input = TurnInput {
                input: if t.text.is_some() {
                    json!({"text": text})
                } else {
                    json!({})
                },
                intents: t.intents.iter().map(intent).collect(),
                entities: t.entities.iter().map(|e| entity(e, &text)).collect(),
                context: context.clone(),
                restart: t.restart,
                debug: true,
                now,
            };
            let mut turn = skill.start_turn(input);
            let mut calls = Vec::new();
            let out = loop {
                match turn.poll() {
                    Poll::Done(out) => break Some(out),
                    Poll::Webhook(req) => {
                        let answer = match t.webhooks.get(calls.len()) {
                            Some(WebhookAnswer { ok: Some(v), .. }) => Ok(to_json(v)),
                            Some(WebhookAnswer { error: Some(e), .. }) => Err(e.clone()),
                            _ => {
                                tally
                                    .failures
                                    .push(format!("{name}: unexpected webhook call {req:?}"));
                                break None;
                            }
                        };
                        calls.push(json!({
                            "node": req.node, "body": req.body, "result_variable": req.result_variable,
                            "url": req.url,
                            "headers": req.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                        }));
                        turn.resume(answer);
                    }
                }
            };
            let Some(out) = out else { break };
            let mut errs = Vec::new();
            let got_texts = texts(&out.output);
            let vars = &out.context["skills"]["main skill"]["user_defined"];
            let e = &t.expect;
            if let Some(want) = &e.texts {
                if want != &got_texts {
                    errs.push(format!("texts: want {want:?}, got {got_texts:?}"));
                }
            }
            if let Some(options) = &e.text_one_of {
                if got_texts.len() != 1 || !options.contains(&got_texts[0]) {
                    errs.push(format!("texts: want one of {options:?}, got {got_texts:?}"));
                }
            }
            let joined = got_texts.join("\n");
            for s in &e.texts_contain {
                if !joined.contains(s.as_str()) {
                    errs.push(format!("texts do not contain {s:?}: {got_texts:?}"));
                }
            }
            if let Some(want) = &e.types {
                let got: Vec<String> = out.output["generic"]
                    .as_array()
                    .map(|g| {
                        g.iter()
                            .map(|i| i["response_type"].as_str().unwrap_or("").to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                if want != &got {
                    errs.push(format!("types: want {want:?}, got {got:?}"));
                }
            }
            if let Value::Object(want) = to_json(&e.context) {
                for (k, v) in want {
                    let got = vars.get(&k).cloned().unwrap_or(Value::Null);
                    if !subset(&v, &got) {
                        errs.push(format!("context {k}: want {v}, got {got}"));
                    }
                }
            }
            for k in &e.absent {
                if vars.get(k).is_some_and(|v| !v.is_null()) {
                    errs.push(format!("context {k} should be unset, got {}", vars[k]));
                }
            }
            let visited: Vec<String> = out.output["debug"]["nodes_visited"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n["dialog_node"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(want) = &e.visited {
                if want != &visited {
                    errs.push(format!("visited: want {want:?}, got {visited:?}"));
                }
            }
            for n in &e.visited_include {
                if !visited.contains(n) {
                    errs.push(format!("visited does not include {n:?}: {visited:?}"));
                }
            }
            let want_out = to_json(&e.output);
            if want_out.is_object() && !subset(&want_out, &out.output) {
                errs.push(format!("output: want {want_out}, got {}", out.output));
            }
            if let Some(want) = &e.webhook_calls {
                let want = Value::Array(want.iter().map(to_json).collect());
                if !subset(&want, &Value::Array(calls.clone())) {
                    errs.push(format!(
                        "webhook calls: want {want}, got {}",
                        Value::Array(calls.clone())
                    ));
                }
            } else if !calls.is_empty() && t.webhooks.len() != calls.len() {
                errs.push(format!(
                    "{} webhook calls made, {} scripted",
                    calls.len(),
                    t.webhooks.len()
                ));
            }
            if let Some(want) = &e.actions {
                let want = Value::Array(want.iter().map(to_json).collect());
                let got = out.output.get("actions").cloned().unwrap_or(json!([]));
                if !subset(&want, &got) {
                    errs.push(format!("actions: want {want}, got {got}"));
                }
            }
            if let Some(want) = e.skip_user_input {
                let got = out.context["global"]["system"]["skip_user_input"]
                    .as_bool()
                    .unwrap_or(false);
                if want != got {
                    errs.push(format!("skip_user_input: want {want}, got {got}"));
                }
            }
            if let Some(want) = e.branch_exited {
                let got = out.output["debug"]["branch_exited"]
                    .as_bool()
                    .unwrap_or(false);
                if want != got {
                    errs.push(format!("branch_exited: want {want}, got {got}"));
                }
            }
            if !errs.is_empty() {
                let logs = &out.output["debug"]["log_messages"];
                tally.failures.push(format!(
                    "{name}:\n    {}\n    (visited {visited:?}; log {logs})",
                    errs.join("\n    ")
                ));
            }
            context = out.context;
        }
    }
}

#[test]
fn conversation_transcripts() {
    if !shared_dir().join("skills").is_dir() {
        println!("skipping: ../shared not found");
        return;
    }
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conversations"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    assert!(!files.is_empty(), "no transcripts in {}", dir.display());
    let filter = std::env::var("TRANSCRIPT").ok();
    let mut tally = Tally {
        turns: 0,
        failures: Vec::new(),
    };
    let mut skills = BTreeMap::new();
    for f in &files {
        if let Some(flt) = &filter {
            if !f.to_string_lossy().contains(flt.as_str()) {
                continue;
            }
        }
        run_file(f, &mut tally, &mut skills);
    }
    println!(
        "transcripts: {} files, {} turns, {} failing",
        files.len(),
        tally.turns,
        tally.failures.len()
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {} transcript turns failed:\n{}",
        tally.failures.len(),
        tally.turns,
        tally.failures.join("\n")
    );
}
