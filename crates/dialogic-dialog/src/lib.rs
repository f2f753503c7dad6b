//! # dialogic-dialog
//!
//! The Watson dialog-skill (workspace JSON) model, its validation, and a sans-I/O dialog
//! engine that runs one conversation turn at a time with Watson's semantics
//! (`../shared/spec/dialog-skill.md` §2-§4, §6-§8).
//!
//! Must never: call HTTP or a database, classify text (intents and entities come in with
//! the [`TurnInput`]), panic or hang on any skill or input.
//!
//! Modules:
//! - `workspace`: the lenient serde model of an export;
//! - `tree`: nodes in an arena, sibling order, structural validation;
//! - `compile`: every expression and template compiled once at load, load problems;
//! - `engine`: the turn walk (start point, evaluation order, next_step, jumps, stack,
//!   digressions, actions, webhook suspension, loop guard);
//! - `slots`: frames and slot filling;
//! - `responses`: output rendering and selection policies;
//! - `context`: the context merge rule and result-variable targets;
//! - `state`: the opaque `system.state` encoding;
//! - `debug`: `output.debug`.
//!
//! Semantic choices where Watson is silent are listed in this crate's README.md.

mod compile;
mod context;
mod debug;
mod engine;
mod responses;
mod slots;
mod state;
mod tree;
mod workspace;

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

impl Problem {
    pub(crate) fn new(node: &str, field: &str, message: impl Into<String>) -> Problem {
        Problem {
            node: node.to_string(),
            field: field.to_string(),
            message: message.into(),
        }
    }
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
    name: String,
    language: String,
    pub(crate) tree: tree::Tree,
    pub(crate) webhook: Option<compile::CompiledWebhook>,
    warnings: Vec<Problem>,
}

impl Skill {
    /// Parse, validate and compile every expression. Err lists every problem.
    pub fn from_value(workspace: Value) -> Result<Skill, LoadError> {
        if !workspace.is_object() {
            return Err(LoadError {
                problems: vec![Problem::new(
                    "",
                    "json",
                    "a workspace must be a JSON object",
                )],
            });
        }
        let raw: workspace::RawWorkspace =
            serde_json::from_value(workspace.clone()).map_err(|e| LoadError {
                problems: vec![Problem::new("", "workspace", e.to_string())],
            })?;
        let mut problems = Vec::new();
        let compiled = compile::compile(&raw, &mut problems);
        if !problems.is_empty() {
            return Err(LoadError { problems });
        }
        Ok(Skill {
            name: raw.name.clone().unwrap_or_default(),
            language: raw.language.clone().unwrap_or_else(|| "en".to_string()),
            workspace,
            tree: compiled.tree,
            webhook: compiled.webhook,
            warnings: compiled.warnings,
        })
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
        &self.name
    }
    pub fn language(&self) -> &str {
        &self.language
    }
    /// The skill's `main_webhook`, if the export has one (its URL may be empty).
    pub fn webhook(&self) -> Option<SkillWebhook> {
        self.webhook.as_ref().map(|w| w.public.clone())
    }
    /// Non-fatal warnings found at load (unknown node types, removed system entities...).
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }
    /// Number of dialog nodes.
    pub fn node_count(&self) -> usize {
        self.tree.nodes.len()
    }
    /// Start one turn. Never fails: problems end up in `output.debug.log_messages`.
    pub fn start_turn(&self, input: TurnInput) -> Turn<'_> {
        Turn {
            skill: self,
            input,
            results: Vec::new(),
            pending: false,
            seed: rand::random(),
        }
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
///
/// Each `poll` replays the turn from its original input with the webhook results gathered
/// so far (the walk is deterministic for a given random seed), so a turn can be suspended at
/// any webhook without keeping a resumable call stack.
#[derive(Debug)]
pub struct Turn<'s> {
    skill: &'s Skill,
    input: TurnInput,
    results: Vec<Result<Value, String>>,
    pending: bool,
    seed: u64,
}

impl Turn<'_> {
    /// Run until the next webhook call or the end of the turn.
    pub fn poll(&mut self) -> Poll {
        let mut walk = engine::Walk::new(self.skill, &self.input, &self.results, self.seed);
        match walk.run() {
            // Polling again after the end replays the same (deterministic) turn.
            Ok(()) => Poll::Done(walk.finish()),
            Err(engine::Halt::Webhook(req)) => {
                self.pending = true;
                Poll::Webhook(*req)
            }
        }
    }
    /// The turn's input, handed back at the end (the server logs the request it came from,
    /// so it need not keep a copy).
    pub fn into_input(self) -> TurnInput {
        self.input
    }
    /// Hand back the result of the last [`Poll::Webhook`]: Ok(any JSON) or Err(reason).
    /// Ignored when no webhook call is pending.
    pub fn resume(&mut self, result: Result<Value, String>) {
        if self.pending {
            self.pending = false;
            self.results.push(result);
        }
    }
    /// Convenience for tests and simple callers: run the turn to the end, answering every
    /// webhook call with `call`.
    pub fn run_with(
        mut self,
        mut call: impl FnMut(&WebhookRequest) -> Result<Value, String>,
    ) -> TurnOutput {
        loop {
            match self.poll() {
                Poll::Done(out) => return out,
                Poll::Webhook(req) => {
                    let r = call(&req);
                    self.resume(r);
                }
            }
        }
    }
}
