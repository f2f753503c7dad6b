//! # dialogic-dialog
//!
//! The Watson dialog-skill (workspace JSON) model, its validation, and a sans-I/O dialog
//! engine that runs one conversation turn at a time.
//!
//! Must never: call HTTP or a database, panic on any skill or input.
//!
//! (Contract stub written by the integrator; the dialog helper replaces the bodies and adds
//! the modules: `workspace` (serde model), `tree`, `compile`, `engine`, `slots`, `state`, ...)

use serde_json::Value;

/// One problem found while loading a skill (all of them are reported at once).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The dialog node id (or "" for skill-level problems).
    pub node: String,
    /// e.g. "conditions", "output.generic[0].values[1].text", "next_step.dialog_node".
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.node.is_empty() {
            write!(f, "{}: {}", self.field, self.message)
        } else {
            write!(f, "node {:?} {}: {}", self.node, self.field, self.message)
        }
    }
}

/// Loading failed: every problem found.
#[derive(Debug, thiserror::Error)]
#[error("skill has {} problem(s); first: {}", problems.len(), problems.first().map(|p| p.to_string()).unwrap_or_default())]
pub struct LoadError {
    pub problems: Vec<Problem>,
}

/// The skill's `main_webhook` (from the workspace `webhooks[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SkillWebhook {
    pub url: String,
    /// Header name and raw value (values may be expressions; the engine evaluates them
    /// per call and hands the evaluated headers out in [`WebhookRequest`]).
    pub headers: Vec<(String, String)>,
}

/// A loaded, validated and compiled dialog skill. Cheap to share (`Arc<Skill>`).
#[derive(Debug)]
pub struct Skill {
    workspace: Value,
}

impl Skill {
    /// Parse, validate and compile every expression. Err lists every problem.
    pub fn from_value(workspace: Value) -> Result<Skill, LoadError> {
        Ok(Skill { workspace })
    }
    pub fn from_json(bytes: &[u8]) -> Result<Skill, LoadError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| LoadError {
            problems: vec![Problem {
                node: String::new(),
                field: "json".into(),
                message: e.to_string(),
            }],
        })?;
        Self::from_value(v)
    }
    /// The raw workspace JSON (the NLU trains from its intents/entities).
    pub fn workspace(&self) -> &Value {
        &self.workspace
    }
    pub fn name(&self) -> &str {
        self.workspace.get("name").and_then(Value::as_str).unwrap_or("")
    }
    pub fn language(&self) -> &str {
        self.workspace.get("language").and_then(Value::as_str).unwrap_or("en")
    }
    pub fn webhook(&self) -> Option<SkillWebhook> {
        None
    }
    /// Non-fatal warnings found at load (unknown node types, removed system entities...).
    pub fn warnings(&self) -> &[Problem] {
        &[]
    }
    /// Start one turn. Never fails: problems end up in `output.debug.log_messages`.
    pub fn start_turn(&self, input: TurnInput) -> Turn<'_> {
        Turn { skill: self, input }
    }
}

/// What the server hands the engine for one turn.
#[derive(Debug, Clone, Default)]
pub struct TurnInput {
    /// `input` of the v2 request (after the pre-message webhook): at least `text`; the
    /// engine exposes it as the `input` global.
    pub input: Value,
    /// Intents for this turn (from the request, or from the NLU), sorted by confidence desc.
    pub intents: Vec<Value>,
    /// Entities for this turn (from the request, or from the NLU), in input order.
    pub entities: Vec<Value>,
    /// The full v2 context (`global`, `skills`, `integrations`); the engine reads and writes
    /// `skills["main skill"]` (`user_defined` = the `$vars`, `system.state` = the position)
    /// and `global.system.skip_user_input`.
    pub context: Value,
    /// `input.options.restart`
    pub restart: bool,
    /// `input.options.debug`: fill `output.debug`.
    pub debug: bool,
    /// "now" for date/time expressions (reference_time or the clock).
    pub now: chrono::DateTime<chrono::Utc>,
}

/// A dialog webhook call the server must make (`main_webhook` action of a node).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRequest {
    /// The skill's webhook URL (the server may override it from config).
    pub url: String,
    /// Evaluated headers from the skill's `webhooks[0].headers`.
    pub headers: Vec<(String, String)>,
    /// The evaluated `parameters` object: the JSON body to POST.
    pub body: Value,
    /// Where the result lands, as written in the skill (e.g. "webhook_result_1", "context.x.y").
    pub result_variable: String,
    /// The dialog node that made the call.
    pub node: String,
}

/// The engine's answer for a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOutput {
    /// The v2 `output`: `generic`, `actions` (client actions, if any), `debug` (when asked),
    /// `user_defined`, any extra keys nodes set. The server adds `intents`/`entities`.
    pub output: Value,
    /// The updated full v2 context.
    pub context: Value,
}

/// Where a turn is: it needs a webhook result, or it is done.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    Webhook(WebhookRequest),
    Done(TurnOutput),
}

/// A turn in progress (sans-I/O: `poll`, do the call, `resume`, `poll` again).
#[derive(Debug)]
pub struct Turn<'s> {
    skill: &'s Skill,
    input: TurnInput,
}

impl Turn<'_> {
    /// Run until the next webhook call or the end of the turn.
    pub fn poll(&mut self) -> Poll {
        let _ = self.skill;
        Poll::Done(TurnOutput {
            output: serde_json::json!({"generic": []}),
            context: self.input.context.clone(),
        })
    }
    /// Hand back the result of the last [`Poll::Webhook`]: Ok(any JSON) or Err(reason).
    pub fn resume(&mut self, _result: Result<Value, String>) {}
}
