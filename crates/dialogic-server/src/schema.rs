//! Shape checks for v2 message requests and responses. Errors carry a JSON Pointer `path`, as
//! Watson's 400 `Invalid Request Body` does. Unknown fields are allowed (channels send them).

use serde::Serialize;
use serde_json::Value;

/// One schema problem of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub message: String,
    pub path: String,
}

fn err(errors: &mut Vec<FieldError>, path: &str, message: impl Into<String>) {
    errors.push(FieldError {
        message: message.into(),
        path: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
    });
}

/// Escape one JSON Pointer segment.
pub fn pointer_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

const BOOL_OPTIONS: &[&str] = &[
    "restart",
    "alternate_intents",
    "async_callout",
    "debug",
    "return_context",
    "export",
    "suggestion_only",
];

/// Watson's maximum `input.text` length.
pub const MAX_TEXT_CHARS: usize = 2048;

/// Check a v2 message request body (stateful or stateless).
pub fn message_request_errors(body: &Value) -> Vec<FieldError> {
    let mut e = Vec::new();
    let Some(root) = body.as_object() else {
        err(&mut e, "", "the request body must be a JSON object");
        return e;
    };
    if let Some(input) = root.get("input") {
        check_input(&mut e, input);
    }
    if let Some(ctx) = root.get("context") {
        check_context(&mut e, ctx);
    }
    if let Some(u) = root.get("user_id") {
        if !u.is_string() {
            err(&mut e, "/user_id", "must be a string");
        }
    }
    e
}

fn check_input(e: &mut Vec<FieldError>, input: &Value) {
    let Some(input) = input.as_object() else {
        err(e, "/input", "must be an object");
        return;
    };
    if let Some(t) = input.get("message_type") {
        match t.as_str() {
            Some("text") | Some("search") => {}
            _ => err(e, "/input/message_type", "must be one of: text, search"),
        }
    }
    if let Some(t) = input.get("text") {
        match t.as_str() {
            None => err(e, "/input/text", "must be a string"),
            Some(s) if s.chars().count() > MAX_TEXT_CHARS => {
                err(e, "/input/text", "must be at most 2048 characters")
            }
            Some(s) if s.contains(['\r', '\n', '\t']) => err(
                e,
                "/input/text",
                "must not contain carriage return, newline, or tab characters",
            ),
            Some(_) => {}
        }
    }
    for key in ["suggestion_id"] {
        if let Some(v) = input.get(key) {
            if !v.is_string() {
                err(e, &format!("/input/{key}"), "must be a string");
            }
        }
    }
    if let Some(opts) = input.get("options") {
        match opts.as_object() {
            None => err(e, "/input/options", "must be an object"),
            Some(o) => {
                for name in BOOL_OPTIONS {
                    if let Some(v) = o.get(*name) {
                        if !v.is_boolean() {
                            err(e, &format!("/input/options/{name}"), "must be a boolean");
                        }
                    }
                }
                if let Some(sp) = o.get("spelling") {
                    match sp.as_object() {
                        None => err(e, "/input/options/spelling", "must be an object"),
                        Some(sp) => {
                            for name in ["suggestions", "auto_correct"] {
                                if sp.get(name).is_some_and(|v| !v.is_boolean()) {
                                    err(
                                        e,
                                        &format!("/input/options/spelling/{name}"),
                                        "must be a boolean",
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(intents) = input.get("intents") {
        match intents.as_array() {
            None => err(e, "/input/intents", "must be an array"),
            Some(list) => {
                for (i, it) in list.iter().enumerate() {
                    let at = format!("/input/intents/{i}");
                    match it.as_object() {
                        None => err(e, &at, "must be an object"),
                        Some(o) => {
                            if !o.get("intent").is_some_and(Value::is_string) {
                                err(
                                    e,
                                    &format!("{at}/intent"),
                                    "is required and must be a string",
                                );
                            }
                            if !o.get("confidence").is_some_and(Value::is_number) {
                                err(
                                    e,
                                    &format!("{at}/confidence"),
                                    "is required and must be a number",
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(entities) = input.get("entities") {
        match entities.as_array() {
            None => err(e, "/input/entities", "must be an array"),
            Some(list) => {
                for (i, it) in list.iter().enumerate() {
                    let at = format!("/input/entities/{i}");
                    match it.as_object() {
                        None => err(e, &at, "must be an object"),
                        Some(o) => {
                            if !o.get("entity").is_some_and(Value::is_string) {
                                err(
                                    e,
                                    &format!("{at}/entity"),
                                    "is required and must be a string",
                                );
                            }
                            if !o.get("value").is_some_and(Value::is_string) {
                                err(
                                    e,
                                    &format!("{at}/value"),
                                    "is required and must be a string",
                                );
                            }
                            if let Some(loc) = o.get("location") {
                                let ok = loc.as_array().is_some_and(|a| {
                                    a.len() == 2 && a.iter().all(|n| n.as_u64().is_some())
                                });
                                if !ok {
                                    err(
                                        e,
                                        &format!("{at}/location"),
                                        "must be an array of two non-negative integers",
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    for key in ["analytics"] {
        if input.get(key).is_some_and(|v| !v.is_object()) {
            err(e, &format!("/input/{key}"), "must be an object");
        }
    }
    if input.get("attachments").is_some_and(|v| !v.is_array()) {
        err(e, "/input/attachments", "must be an array");
    }
}

fn check_context(e: &mut Vec<FieldError>, ctx: &Value) {
    let Some(ctx) = ctx.as_object() else {
        err(e, "/context", "must be an object");
        return;
    };
    if let Some(global) = ctx.get("global") {
        match global.as_object() {
            None => err(e, "/context/global", "must be an object"),
            Some(g) => {
                if g.get("session_id").is_some_and(|v| !v.is_string()) {
                    err(e, "/context/global/session_id", "must be a string");
                }
                if let Some(sys) = g.get("system") {
                    match sys.as_object() {
                        None => err(e, "/context/global/system", "must be an object"),
                        Some(s) => {
                            for key in [
                                "timezone",
                                "user_id",
                                "locale",
                                "reference_time",
                                "session_start_time",
                            ] {
                                if s.get(key).is_some_and(|v| !v.is_string()) {
                                    err(
                                        e,
                                        &format!("/context/global/system/{key}"),
                                        "must be a string",
                                    );
                                }
                            }
                            if s.get("turn_count").is_some_and(|v| v.as_i64().is_none()) {
                                err(e, "/context/global/system/turn_count", "must be an integer");
                            }
                            if s.get("skip_user_input").is_some_and(|v| !v.is_boolean()) {
                                err(
                                    e,
                                    "/context/global/system/skip_user_input",
                                    "must be a boolean",
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(skills) = ctx.get("skills") {
        match skills.as_object() {
            None => err(e, "/context/skills", "must be an object"),
            Some(s) => {
                for (name, skill) in s {
                    let at = format!("/context/skills/{}", pointer_segment(name));
                    match skill.as_object() {
                        None => err(e, &at, "must be an object"),
                        Some(sk) => {
                            for key in [
                                "user_defined",
                                "system",
                                "skill_variables",
                                "action_variables",
                            ] {
                                if sk.get(key).is_some_and(|v| !v.is_object()) {
                                    err(e, &format!("{at}/{key}"), "must be an object");
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if ctx.get("integrations").is_some_and(|v| !v.is_object()) {
        err(e, "/context/integrations", "must be an object");
    }
}

/// Check a message response (the body of a pre-message webhook's skip reply).
pub fn message_response_errors(body: &Value) -> Vec<FieldError> {
    let mut e = Vec::new();
    let Some(root) = body.as_object() else {
        err(&mut e, "", "must be a JSON object");
        return e;
    };
    match root.get("output") {
        Some(Value::Object(o)) => {
            if o.get("generic").is_some_and(|g| !g.is_array()) {
                err(&mut e, "/output/generic", "must be an array");
            }
        }
        Some(_) => err(&mut e, "/output", "must be an object"),
        None => err(&mut e, "/output", "is required"),
    }
    if let Some(ctx) = root.get("context") {
        check_context(&mut e, ctx);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_name_the_bad_field() {
        let e = message_request_errors(
            &json!({"input":{"text":5,"options":{"debug":"yes"}},"context":{"skills":{"a/b":1}}}),
        );
        let paths: Vec<_> = e.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/input/text",
                "/input/options/debug",
                "/context/skills/a~1b"
            ]
        );
    }

    #[test]
    fn unknown_fields_are_fine() {
        assert!(message_request_errors(
            &json!({"input":{"text":"hi","source":{"type":"user"},"integrations":{}},"extra":1})
        )
        .is_empty());
        assert_eq!(message_request_errors(&json!([]))[0].path, "/");
    }
}
