//! # dialogic-expr
//!
//! The Watson Assistant expression language: the SpEL subset and the Watson shorthand
//! (`#intent`, `@entity`, `$var`, ...) used in node conditions, and the `<? ... ?>`
//! templates used in response text, context values and webhook parameters.
//!
//! Must never: do I/O, panic on any input, hang on any input.
//!
//! (Contract stub written by the integrator; the expr helper replaces the bodies and adds
//! the modules: `lexer`, `parser`, `eval`, `methods`, `template`, `value`.)

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
}

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
}

impl Expr {
    /// Compile a condition/expression. Watson shorthand is accepted.
    pub fn compile(src: &str) -> Result<Expr, CompileError> {
        Ok(Expr { src: src.to_string() })
    }
    /// The source text.
    pub fn source(&self) -> &str {
        &self.src
    }
    /// Evaluate to a JSON value (runtime errors yield Null and a log message).
    pub fn eval(&self, _env: &mut Env<'_>) -> Value {
        Value::Null
    }
    /// Evaluate as a condition, with Watson truthiness.
    pub fn is_true(&self, env: &mut Env<'_>) -> bool {
        truthy(&self.eval(env))
    }
}

/// A compiled text template: plain text with `<? expr ?>` islands and `$var` / `@entity`
/// interpolation (`\$` and `\@` escape them).
#[derive(Debug, Clone)]
pub struct Template {
    src: String,
}

impl Template {
    pub fn compile(src: &str) -> Result<Template, CompileError> {
        Ok(Template { src: src.to_string() })
    }
    pub fn source(&self) -> &str {
        &self.src
    }
    /// True when the template has no islands and no interpolation (render returns the text).
    pub fn is_constant(&self) -> bool {
        true
    }
    /// Render. A template that is exactly one `<? ?>` island keeps the JSON type of its value
    /// (used for context values); otherwise the result is a string.
    pub fn render(&self, _env: &mut Env<'_>) -> Value {
        Value::String(self.src.clone())
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

/// Watson truthiness: null, false, 0, "" (and "false"?) are false; see spec §5.2.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}
