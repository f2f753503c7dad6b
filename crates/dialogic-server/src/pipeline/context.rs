//! The v2 context rules: merging, the shape every turn needs, user_id, trimming the reply,
//! private-variable stripping, the session-state size.

use serde_json::{json, Map, Value};

/// The dialog skill's key under `context.skills`.
pub const MAIN_SKILL: &str = "main skill";

/// Watson's stateful session-state limit (bytes of serialized context).
pub const SESSION_STATE_LIMIT: usize = 130_000;

/// Merge `patch` into `base`: objects merge key by key, recursively; any other value replaces.
pub fn deep_merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// `value[k1][k2]...` as a mutable object, creating (or replacing non-objects with) `{}`.
pub fn object_at<'v>(value: &'v mut Value, path: &[&str]) -> &'v mut Map<String, Value> {
    let mut cur = value;
    for key in path {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else {
            unreachable!("just made an object")
        };
        cur = map
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    match cur {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

/// Make sure `context.global.system`, `global.session_id` and `skills["main skill"]` exist
/// (IBM's webhooks read `payload.context.skills` unguarded).
pub fn ensure_shape(context: &mut Value, session_id: &str) {
    object_at(context, &["global", "system"]);
    object_at(context, &["global"]).insert("session_id".into(), json!(session_id));
    let skill = object_at(context, &["skills", MAIN_SKILL]);
    skill
        .entry("user_defined")
        .or_insert_with(|| Value::Object(Map::new()));
    skill
        .entry("system")
        .or_insert_with(|| Value::Object(Map::new()));
}

/// `value[k1][k2]...` through object keys: what `Value::pointer` finds for a path of plain
/// keys, without parsing the pointer and allocating each of its tokens.
pub fn value_at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// `global.session_id` of a context, if it is a non-empty string.
pub fn session_id_of(context: &Value) -> Option<&str> {
    value_at(context, &["global", "session_id"])
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Bump `global.system.turn_count`.
pub fn bump_turn_count(context: &mut Value) {
    let system = object_at(context, &["global", "system"]);
    let n = system
        .get("turn_count")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    system.insert("turn_count".into(), json!(n + 1));
}

/// Watson's user_id rule: root `user_id`, else `global.system.user_id`, else the session id.
/// Writes the result to both places and returns it.
pub fn apply_user_id(request: &mut Value, session_id: &str) -> String {
    let root = request
        .get("user_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let in_context = value_at(request, &["context", "global", "system", "user_id"])
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let user_id = root.or(in_context).unwrap_or_else(|| session_id.to_owned());
    if let Some(ctx) = request.get_mut("context") {
        object_at(ctx, &["global", "system"]).insert("user_id".into(), json!(user_id));
    }
    if let Value::Object(map) = request {
        map.insert("user_id".into(), json!(user_id));
    }
    user_id
}

/// The dialog position (`skills["main skill"].system.state`), to keep webhooks from changing it.
pub fn dialog_state(context: &Value) -> Option<Value> {
    context
        .get("skills")?
        .get(MAIN_SKILL)?
        .get("system")?
        .get("state")
        .cloned()
}

/// Put back what no webhook may change: `global.session_id` and the dialog state.
pub fn protect(context: &mut Value, session_id: &str, state: Option<&Value>) {
    if !context.is_object() {
        *context = Value::Object(Map::new());
    }
    ensure_shape(context, session_id);
    let system = object_at(context, &["skills", MAIN_SKILL, "system"]);
    match state {
        Some(s) => {
            system.insert("state".into(), s.clone());
        }
        None => {
            system.remove("state");
        }
    }
}

/// Trim a stateful reply to what the client asked for: `context` only with `return_context`
/// or `export`; `skills.*.system.state` only with `export`, or `debug` + `return_context`.
pub fn trim_stateful_reply(response: &mut Value, return_context: bool, export: bool, debug: bool) {
    let Value::Object(map) = response else {
        return;
    };
    if !(return_context || export) {
        map.remove("context");
        return;
    }
    if export || (debug && return_context) {
        return;
    }
    if let Some(Value::Object(skills)) = map.get_mut("context").and_then(|c| c.get_mut("skills")) {
        for skill in skills.values_mut() {
            if let Some(Value::Object(system)) = skill.get_mut("system") {
                system.remove("state");
            }
        }
    }
}

/// Whether [`strip_private_context`] would remove anything from `context`.
pub fn has_private_context(context: &Value) -> bool {
    let Value::Object(ctx) = context else {
        return false;
    };
    let private = |m: &Map<String, Value>| m.contains_key("private") || m.contains_key("$private");
    private(ctx)
        || matches!(ctx.get("integrations"), Some(Value::Object(i))
            if i.values().any(|v| matches!(v, Value::Object(m) if private(m))))
        || matches!(ctx.get("skills"), Some(Value::Object(s))
            if s.values().any(|skill| matches!(skill.get("user_defined"), Some(Value::Object(m)) if private(m))))
}

/// Remove private variables, as Watson does in logs: `private` / `$private` under
/// `context.integrations.*`, `context.skills.*.user_defined` and `context` itself.
pub fn strip_private_context(context: &mut Value) {
    let Value::Object(ctx) = context else {
        return;
    };
    ctx.remove("private");
    ctx.remove("$private");
    if let Some(Value::Object(integrations)) = ctx.get_mut("integrations") {
        for integ in integrations.values_mut() {
            if let Value::Object(m) = integ {
                m.remove("private");
                m.remove("$private");
            }
        }
    }
    if let Some(Value::Object(skills)) = ctx.get_mut("skills") {
        for skill in skills.values_mut() {
            if let Some(Value::Object(ud)) = skill.get_mut("user_defined") {
                ud.remove("private");
                ud.remove("$private");
            }
        }
    }
}

/// Bytes of the serialized context (counted, not allocated).
pub fn size_of(context: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    match serde_json::to_writer(&mut n, context) {
        Ok(()) => n.0,
        Err(_) => 0,
    }
}

/// A string option of `input.options`.
pub fn option_flag(request: &Value, name: &str) -> bool {
    value_at(request, &["input", "options", name])
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_recursive_and_overwrites() {
        let mut base = json!({"global":{"system":{"turn_count":3,"user_id":"a"}},"skills":{"main skill":{"user_defined":{"x":1,"y":2}}}});
        deep_merge(
            &mut base,
            &json!({"skills":{"main skill":{"user_defined":{"y":5,"z":6}}}}),
        );
        assert_eq!(
            base,
            json!({"global":{"system":{"turn_count":3,"user_id":"a"}},"skills":{"main skill":{"user_defined":{"x":1,"y":5,"z":6}}}})
        );
    }

    #[test]
    fn user_id_rules() {
        let mut r = json!({"user_id":"root","context":{"global":{"system":{"user_id":"ctx"}}}});
        assert_eq!(apply_user_id(&mut r, "sid"), "root");
        assert_eq!(r["context"]["global"]["system"]["user_id"], "root");
        let mut r = json!({"context":{"global":{"system":{"user_id":"ctx"}}}});
        assert_eq!(apply_user_id(&mut r, "sid"), "ctx");
        let mut r = json!({"context":{}});
        assert_eq!(apply_user_id(&mut r, "sid"), "sid");
        assert_eq!(r["user_id"], "sid");
    }

    #[test]
    fn value_at_follows_object_keys_like_a_pointer() {
        let v = json!({"a":{"b":{"c":1}},"l":[{"x":2}],"s":"t"});
        for (path, pointer) in [
            (&["a", "b", "c"][..], "/a/b/c"),
            (&["a", "b"][..], "/a/b"),
            (&["a", "x"][..], "/a/x"),
            (&["s", "x"][..], "/s/x"),
            (&["l", "x"][..], "/l/x"),
            (&[][..], ""),
        ] {
            assert_eq!(value_at(&v, path), v.pointer(pointer), "{pointer}");
        }
    }

    #[test]
    fn trimming() {
        let full = json!({"output":{},"context":{"skills":{"main skill":{"system":{"state":"s"},"user_defined":{}}}}});
        let mut r = full.clone();
        trim_stateful_reply(&mut r, false, false, false);
        assert!(r.get("context").is_none());
        let mut r = full.clone();
        trim_stateful_reply(&mut r, true, false, false);
        assert!(r
            .pointer("/context/skills/main skill/system/state")
            .is_none());
        let mut r = full.clone();
        trim_stateful_reply(&mut r, true, false, true);
        assert_eq!(
            r.pointer("/context/skills/main skill/system/state"),
            Some(&json!("s"))
        );
        let mut r = full;
        trim_stateful_reply(&mut r, false, true, false);
        assert_eq!(
            r.pointer("/context/skills/main skill/system/state"),
            Some(&json!("s"))
        );
    }

    #[test]
    fn private_variables_are_stripped() {
        let mut c = json!({"private":1,"integrations":{"chat":{"private":{"jwt":"x"},"a":1}},"skills":{"main skill":{"user_defined":{"$private":{"k":1},"ok":2}}}});
        strip_private_context(&mut c);
        assert_eq!(
            c,
            json!({"integrations":{"chat":{"a":1}},"skills":{"main skill":{"user_defined":{"ok":2}}}})
        );
    }

    #[test]
    fn has_private_context_says_whether_stripping_changes_anything() {
        let cases = [
            json!({}),
            json!({"global": {"system": {"turn_count": 1}}}),
            json!({"private": 1}),
            json!({"$private": {"a": 1}}),
            json!({"integrations": {"chat": {"a": 1}}}),
            json!({"integrations": {"chat": {"private": {"jwt": "x"}}}}),
            json!({"integrations": {"chat": {"$private": 1}, "sms": {}}}),
            json!({"skills": {"main skill": {"user_defined": {"ok": 2}}}}),
            json!({"skills": {"main skill": {"user_defined": {"private": {"card": "4111"}}}}}),
            json!({"skills": {"a": {"system": {}}, "b": {"user_defined": {"$private": 0}}}}),
            json!("not an object"),
        ];
        for c in cases {
            let mut stripped = c.clone();
            strip_private_context(&mut stripped);
            assert_eq!(has_private_context(&c), stripped != c, "{c}");
        }
    }
}
