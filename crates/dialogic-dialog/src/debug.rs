//! `output.debug` (spec §7.3): the nodes visited this turn, the log messages of the engine
//! and the expression language, and whether the branch was exited.

use serde_json::{json, Map, Value};

use crate::engine::Walk;

/// Build `output.debug`. `waiting`: the dialog waits inside a branch (not at the root).
pub(crate) fn debug_output(walk: &Walk<'_>, waiting: bool) -> Value {
    let tree = &walk.skill.tree;
    let nodes_visited: Vec<Value> = walk
        .visited
        .iter()
        .map(|&n| {
            let node = &tree.nodes[n];
            let mut m = Map::new();
            m.insert("dialog_node".into(), Value::String(node.id.clone()));
            if let Some(t) = &node.title {
                m.insert("title".into(), Value::String(t.clone()));
            }
            if let Some(c) = &node.cond_src {
                m.insert("conditions".into(), Value::String(c.clone()));
            }
            Value::Object(m)
        })
        .collect();
    let log_messages: Vec<Value> = walk
        .log
        .iter()
        .map(|l| json!({ "level": l.level, "message": l.message }))
        .collect();
    let mut debug = json!({
        "nodes_visited": nodes_visited,
        "log_messages": log_messages,
        "branch_exited": !waiting,
    });
    if !waiting {
        debug["branch_exited_reason"] =
            Value::String(walk.branch_exited_reason.unwrap_or("completed").to_string());
    }
    debug
}
