//! # dialogic-expr
//!
//! The Watson Assistant expression language: the SpEL subset and the Watson shorthand
//! (`#intent`, `@entity`, `$var`, ...) used in node conditions, and the `<? ... ?>`
//! templates used in response text, context values and webhook parameters
//! (spec: `dialog-skill.md` §5, §3.5, §3.6).
//!
//! Must never: do I/O, panic on any input, hang on any input. Sources, nesting, regexes,
//! strings and arrays built at run time and the work of one evaluation are all bounded.
//!
//! Modules:
//! - `lexer`: tokens, including shorthand tokens (`#x`, `@e:v`, `$v:x`).
//! - `parser` / `ast`: recursive descent to a tree; shorthand stays as its own nodes.
//! - `eval`: the evaluator (borrows the turn's data; collects writes, applies them at the end).
//! - `operators`: equality, ordering and arithmetic with Watson's lenient typing.
//! - `shorthand`: intent/entity semantics (thresholds, first mention, `.literal`...).
//! - `methods`: string, array, object and number methods.
//! - `datetime`: date/time strings, `now()`/`today()`, `SimpleDateFormat` patterns.
//! - `javafmt`: `T(String).format` (Java `Formatter` subset).
//! - `globals`: receiver-less functions, `T(...)` static calls, constructors.
//! - `regexes`: size-limited regex compilation and cache.
//! - `template`: text with `<? ?>` islands and `$var` / `@entity` references.
//! - `value`: string forms, numbers, bounds.

mod ast;
mod datetime;
mod eval;
mod globals;
mod javafmt;
mod lexer;
mod methods;
mod operators;
mod parser;
mod regexes;
mod shorthand;
mod template;
mod value;

use std::borrow::Cow;

use serde_json::{Map, Value};

/// A compile error with the byte span of the offending source.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at {}..{}", span.0, span.1)]
pub struct CompileError {
    pub message: String,
    pub span: (usize, usize),
}

/// A message produced while evaluating (runtime errors never panic: they yield null and a
/// log message that the dialog engine copies into `output.debug.log_messages`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogMessage {
    /// "info" | "warn" | "error"
    pub level: &'static str,
    pub message: String,
    /// A machine-readable request to the caller, when the message is one
    /// (e.g. [`CLEAR_DIALOG_STACK`]); None for plain diagnostics.
    pub code: Option<&'static str>,
}

/// The [`LogMessage::code`] of a `clearDialogStack()` call: the dialog engine drops pending
/// digression returns when it sees it.
pub const CLEAR_DIALOG_STACK: &str = "clear_dialog_stack";

/// Everything an expression can see and change while it runs.
pub struct Env<'a> {
    /// `input`: `{"text": "...", "original_text": "..."}` and any other input fields.
    pub input: &'a Value,
    /// `intents`: Watson runtime intents `[{"intent": "x", "confidence": 0.9}]`, sorted desc.
    pub intents: &'a [Value],
    /// `entities`: Watson runtime entities `[{"entity","location","value","confidence",...}]`, in input order.
    pub entities: &'a [Value],
    /// `context` / `$var`: the dialog's variables (v2 `skills["main skill"].user_defined`).
    pub context: &'a mut Map<String, Value>,
    /// `output`: the output object being built this turn.
    pub output: &'a mut Value,
    /// `event` inside slot handlers (`event.current_value`, `event.previous_value`), else Null.
    pub event: &'a Value,
    /// Special condition flags the engine knows and the language cannot compute itself.
    pub flags: Flags,
    /// "Now" for date/time functions (the request's reference_time, or the clock).
    pub now: chrono::DateTime<chrono::Utc>,
    /// IANA timezone from `context.global.system.timezone` (None = UTC/GMT).
    pub timezone: Option<&'a str>,
    /// Runtime warnings and errors collected during evaluation.
    pub log: &'a mut Vec<LogMessage>,
}

/// Special conditions that depend on dialog state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub welcome: bool,
    pub conversation_start: bool,
    pub all_slots_filled: bool,
    pub has_skipped_slots: bool,
    pub returning_from_digression: bool,
    /// Name of the slot variable in focus, if any (`slot_in_focus` is true when it is set).
    pub slot_in_focus: bool,
}

/// A compiled expression (a node condition, or the code of one `<? ?>` island).
#[derive(Debug, Clone)]
pub struct Expr {
    src: String,
    node: ast::Node,
}

impl Expr {
    /// Compile a condition/expression. Watson shorthand is accepted.
    pub fn compile(src: &str) -> Result<Expr, CompileError> {
        Ok(Expr {
            src: src.to_string(),
            node: parser::parse(src)?,
        })
    }
    /// True when evaluating may change the context or output (`$a.append(1)`, `output.clear()`).
    pub fn may_mutate(&self) -> bool {
        self.node.may_mutate()
    }
    /// The source text.
    pub fn source(&self) -> &str {
        &self.src
    }
    /// Evaluate to a JSON value (runtime errors yield Null and a log message).
    pub fn eval(&self, env: &mut Env<'_>) -> Value {
        run(env, |ev| match ev.eval(&self.node) {
            Ok(v) => v.into_owned(),
            Err(e) => {
                report(ev, &self.src, e);
                Value::Null
            }
        })
    }
    /// Evaluate as a condition, with Watson truthiness (a runtime error is false).
    pub fn is_true(&self, env: &mut Env<'_>) -> bool {
        run(env, |ev| match ev.truth(&self.node) {
            Ok(v) => v,
            Err(e) => {
                report(ev, &self.src, e);
                false
            }
        })
    }
}

/// A compiled text template: plain text with `<? expr ?>` islands and `$var` / `@entity`
/// interpolation (`\$` and `\@` escape them).
#[derive(Debug, Clone)]
pub struct Template {
    src: String,
    pieces: Vec<template::Piece>,
}

impl Template {
    pub fn compile(src: &str) -> Result<Template, CompileError> {
        Ok(Template {
            src: src.to_string(),
            pieces: template::compile(src)?,
        })
    }
    pub fn source(&self) -> &str {
        &self.src
    }
    /// True when the template has no islands and no interpolation (render returns the text).
    pub fn is_constant(&self) -> bool {
        template::constant_text(&self.pieces).is_some()
    }
    /// Render. A template that is exactly one `<? ?>` island keeps the JSON type of its value
    /// (used for context values); otherwise the result is a string.
    pub fn render(&self, env: &mut Env<'_>) -> Value {
        if let Some(text) = template::constant_text(&self.pieces) {
            return text;
        }
        if let Some(node) = template::typed(&self.pieces) {
            return run(env, |ev| match ev.eval(node) {
                Ok(v) => v.into_owned(),
                Err(e) => {
                    report(ev, &self.src, e);
                    Value::Null
                }
            });
        }
        run(env, |ev| {
            let mut out = String::new();
            for piece in &self.pieces {
                match piece {
                    template::Piece::Text(t) => out.push_str(t),
                    template::Piece::Code(node) => match ev.eval(node) {
                        Ok(v) => out.push_str(&value::text_string(&v)),
                        Err(e) => report(ev, &self.src, e),
                    },
                }
                if out.len() > value::MAX_STRING {
                    ev.log("error", "rendered text too long; truncated".to_string());
                    let mut cut = value::MAX_STRING;
                    while !out.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    out.truncate(cut);
                    break;
                }
            }
            Value::String(out)
        })
    }
    /// Render as a string (response text): null renders as "", other non-strings as JSON.
    pub fn render_string(&self, env: &mut Env<'_>) -> String {
        match self.render(env) {
            Value::String(s) => s,
            Value::Null => String::new(),
            v => v.to_string(),
        }
    }
}

/// A JSON value whose strings are templates (a node's `context` block, `output` values,
/// action `parameters`): compile once, render to a value of the same shape.
#[derive(Debug, Clone)]
pub struct JsonTemplate {
    node: JsonNode,
}

#[derive(Debug, Clone)]
enum JsonNode {
    Const(Value),
    Text(Template),
    Array(Vec<JsonNode>),
    Object(Vec<(String, JsonNode)>),
}

impl JsonTemplate {
    /// Compile every string inside `value`; the error names the JSON path of the bad string.
    pub fn compile(value: &Value) -> Result<JsonTemplate, (String, CompileError)> {
        fn walk(v: &Value, path: &str) -> Result<JsonNode, (String, CompileError)> {
            Ok(match v {
                Value::String(s) => {
                    let t = Template::compile(s).map_err(|e| (path.to_string(), e))?;
                    if t.is_constant() {
                        JsonNode::Const(v.clone())
                    } else {
                        JsonNode::Text(t)
                    }
                }
                Value::Array(items) => JsonNode::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, x)| walk(x, &format!("{path}[{i}]")))
                        .collect::<Result<_, _>>()?,
                ),
                Value::Object(m) => JsonNode::Object(
                    m.iter()
                        .map(|(k, x)| Ok((k.clone(), walk(x, &format!("{path}.{k}"))?)))
                        .collect::<Result<_, _>>()?,
                ),
                other => JsonNode::Const(other.clone()),
            })
        }
        Ok(JsonTemplate {
            node: walk(value, "$")?,
        })
    }

    /// Render: each string leaf through [`Template::render`] (a lone `<? ?>` keeps its type).
    pub fn render(&self, env: &mut Env<'_>) -> Value {
        fn go(n: &JsonNode, env: &mut Env<'_>) -> Value {
            match n {
                JsonNode::Const(v) => v.clone(),
                JsonNode::Text(t) => t.render(env),
                JsonNode::Array(items) => Value::Array(items.iter().map(|i| go(i, env)).collect()),
                JsonNode::Object(kv) => {
                    Value::Object(kv.iter().map(|(k, v)| (k.clone(), go(v, env))).collect())
                }
            }
        }
        go(&self.node, env)
    }
}

/// Watson truthiness (spec §5.2): null, false, 0 and "" are false; everything else, including
/// the string "false", empty arrays and empty objects, is true.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Run one evaluation: build the evaluator over the env, then apply its writes and logs.
fn run<T>(env: &mut Env<'_>, f: impl FnOnce(&eval::Ev<'_>) -> T) -> T {
    let (out, writes, logs) = {
        let ev = eval::Ev::new(env);
        let out = f(&ev);
        let (writes, logs) = ev.into_parts();
        (out, writes, logs)
    };
    if !writes.is_empty() {
        eval::apply_writes(env, writes);
    }
    env.log.extend(logs);
    out
}

fn report(ev: &eval::Ev<'_>, src: &str, e: eval::EvalError) {
    let shown: Cow<'_, str> = if src.len() > 200 {
        let mut cut = 200;
        while !src.is_char_boundary(cut) {
            cut -= 1;
        }
        Cow::Owned(format!("{}...", &src[..cut]))
    } else {
        Cow::Borrowed(src)
    };
    ev.log(
        "error",
        format!("Error when evaluating expression '{shown}': {}", e.message),
    );
}
