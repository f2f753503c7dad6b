//! Context updates: how a node's `context` block lands in the `$vars`, and where an action's
//! `result_variable` points.
//!
//! Merge rule (spec §3.6, Correction 5): a JSON object assigned to a variable that already
//! holds an object is merged into it **recursively** (new keys added, existing keys
//! overwritten, nested objects merged the same way); every other value (scalar, array,
//! null, or an object replacing a non-object) overwrites. `null` keeps the key with value
//! null (Watson's "deleted" variable).

use serde_json::{Map, Value};

/// Merge `new` into `slot` with the rule above.
pub(crate) fn merge_into(slot: &mut Value, new: Value) {
    match (slot, new) {
        (Value::Object(old), Value::Object(new)) => {
            for (k, v) in new {
                match old.get_mut(&k) {
                    Some(existing) => merge_into(existing, v),
                    None => {
                        old.insert(k, v);
                    }
                }
            }
        }
        (slot, new) => *slot = new,
    }
}

/// Assign one context variable with the merge rule.
pub(crate) fn assign_var(vars: &mut Map<String, Value>, key: &str, value: Value) {
    match vars.get_mut(key) {
        Some(existing) => merge_into(existing, value),
        None => {
            vars.insert(key.to_string(), value);
        }
    }
}

/// Where a `result_variable` lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Context(Vec<String>),
    Output(Vec<String>),
    Input(Vec<String>),
}

impl Target {
    /// The variable as used in `output.webhook_error.<name>`: the path without prefixes.
    pub(crate) fn display_name(&self) -> String {
        match self {
            Target::Context(p) | Target::Output(p) | Target::Input(p) => p.join("."),
        }
    }
}

/// Parse `name`, `$name`, `context.a.b`, `output.x`, `input.x`.
pub(crate) fn parse_target(raw: &str) -> Option<Target> {
    let s = raw.trim();
    let s = s.strip_prefix('$').unwrap_or(s);
    let (kind, rest) = if let Some(r) = s.strip_prefix("context.") {
        (0, r)
    } else if let Some(r) = s.strip_prefix("output.") {
        (1, r)
    } else if let Some(r) = s.strip_prefix("input.") {
        (2, r)
    } else {
        (0, s)
    };
    let rest = rest.strip_prefix('$').unwrap_or(rest);
    let path: Vec<String> = rest.split('.').map(str::to_string).collect();
    if path.iter().any(String::is_empty) {
        return None;
    }
    Some(match kind {
        0 => Target::Context(path),
        1 => Target::Output(path),
        _ => Target::Input(path),
    })
}

/// Set `value` at `path` inside `root` (an object), creating objects on the way. The last
/// segment is overwritten (a webhook result replaces, it does not merge).
pub(crate) fn set_path(root: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, head)) = path.split_last() else {
        return;
    };
    let mut cur = root;
    for seg in head {
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        match entry {
            Value::Object(m) => cur = m,
            _ => return,
        }
    }
    cur.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_level_merge_adds_and_overwrites() {
        let mut vars = json!({"user": {"first": "Paul", "last": "Watson", "card": false}})
            .as_object()
            .cloned()
            .unwrap();
        assign_var(&mut vars, "user", json!({"first": "Peter", "card": true}));
        assert_eq!(
            vars["user"],
            json!({"first": "Peter", "last": "Watson", "card": true})
        );
    }

    #[test]
    fn nested_objects_merge_recursively() {
        let mut vars = json!({"o": {"a": {"x": 1, "y": 2}, "b": 1}})
            .as_object()
            .cloned()
            .unwrap();
        assign_var(&mut vars, "o", json!({"a": {"y": 3, "z": 4}}));
        assert_eq!(vars["o"], json!({"a": {"x": 1, "y": 3, "z": 4}, "b": 1}));
    }

    #[test]
    fn scalars_arrays_and_null_overwrite() {
        let mut vars = json!({"a": [1, 2], "b": {"k": 1}, "c": 5})
            .as_object()
            .cloned()
            .unwrap();
        assign_var(&mut vars, "a", json!([3]));
        assign_var(&mut vars, "b", Value::Null);
        assign_var(&mut vars, "c", json!({"k": 2}));
        assert_eq!(
            Value::Object(vars),
            json!({"a": [3], "b": null, "c": {"k": 2}})
        );
    }

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("webhook_result_1"),
            Some(Target::Context(vec!["webhook_result_1".into()]))
        );
        assert_eq!(parse_target("$x"), Some(Target::Context(vec!["x".into()])));
        assert_eq!(
            parse_target("context.a.b"),
            Some(Target::Context(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            parse_target("output.r"),
            Some(Target::Output(vec!["r".into()]))
        );
        assert_eq!(
            parse_target("input.text"),
            Some(Target::Input(vec!["text".into()]))
        );
        assert_eq!(parse_target("a..b"), None);
        let mut m = Map::new();
        set_path(&mut m, &["a".into(), "b".into()], json!(1));
        assert_eq!(Value::Object(m), json!({"a": {"b": 1}}));
    }
}
