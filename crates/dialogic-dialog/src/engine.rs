//! The turn walk (spec §3.2-§3.4, §3.8): where a turn starts, node evaluation order, firing
//! a node (context, actions, response, response conditions), `next_step`, the dialog stack
//! and digressions. Slot filling lives in `slots`, rendering in `responses`.
//!
//! Sans-I/O: a `webhook` action whose result is not known yet stops the walk with
//! [`Halt::Webhook`]. The caller (`Turn`) re-runs the whole turn from its original input
//! with the results gathered so far, so the walk is a pure function of (input, results,
//! random seed) and needs no resumable stack.

use dialogic_expr::{Env, Flags, LogMessage};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Map, Value};

use crate::compile::{ActionKind, Cond, ValueTpl};
use crate::context::{assign_var, parse_target, set_path, Target};
use crate::state::{DialogState, Pos};
use crate::tree::{Behavior, DigressIn, DigressOut, DigressOutSlots, Kind, NodeId, Selector};
use crate::{Skill, TurnInput, TurnOutput, WebhookRequest};

/// Node firings allowed in one turn before the loop guard stops the walk.
pub(crate) const MAX_STEPS: usize = 100;

/// Why a walk stopped early.
pub(crate) enum Halt {
    Webhook(Box<WebhookRequest>),
}

/// One unit of work of the walk (a trampoline, so jump chains never grow the Rust stack).
#[derive(Debug)]
pub(crate) enum Step {
    /// The node's condition held (or it was jumped to with `body`): process it.
    Fire(NodeId),
    /// Node-level response: context, actions, output, response conditions, next_step.
    Response(NodeId),
    /// `skip_user_input`: evaluate the node's children against the same input.
    Children(NodeId),
    /// Start of turn: the node waited for input; evaluate its children, else digress.
    ResumeChildren(NodeId),
    /// `jump_to` with `condition`: the target's condition, then its following siblings.
    Siblings(NodeId, Option<Pos>),
    /// Root-level evaluation; `Some(pos)` when digressing away from `pos`.
    Root(Option<Pos>),
    /// Start of turn inside a frame.
    SlotInput {
        frame: NodeId,
        focus: Option<NodeId>,
        skipped: Vec<NodeId>,
    },
    /// Prompt for the next unfilled slot, or give the frame's response.
    SlotsContinue { frame: NodeId, skipped: Vec<NodeId> },
    /// Stop and wait for input at this position.
    Wait(Pos),
    /// The branch is complete: return to an interrupted flow, or to the root.
    Complete,
    /// Nothing fired: wait at the root.
    Idle,
}

/// Which root nodes a digression may go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Targets {
    All,
    ReturnsOnly,
}

/// The state of one turn's walk.
pub(crate) struct Walk<'s> {
    pub skill: &'s Skill,
    pub turn: &'s TurnInput,
    pub input: Value,
    /// The entities conditions see (slot filling consumes mentions from it).
    pub entities: Vec<Value>,
    pub vars: Map<String, Value>,
    pub output: Value,
    pub event: Value,
    pub flags: Flags,
    pub tz: Option<String>,
    pub log: Vec<LogMessage>,
    pub state: DialogState,
    /// Interrupted flows waiting for a digression to return (bottom..top).
    pub interrupted: Vec<Pos>,
    /// Where the turn ended waiting (None: the root).
    pub wait: Option<Pos>,
    pub visited: Vec<NodeId>,
    pub actions: Vec<Value>,
    pub results: &'s [Result<Value, String>],
    pub calls: usize,
    pub rng: StdRng,
    pub steps: usize,
    pub branch_exited_reason: Option<&'static str>,
    context: Value,
}

fn text_is_empty(input: &Value) -> bool {
    match input.get("text") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    }
}

impl<'s> Walk<'s> {
    pub(crate) fn new(
        skill: &'s Skill,
        turn: &'s TurnInput,
        results: &'s [Result<Value, String>],
        seed: u64,
    ) -> Self {
        let mut log = Vec::new();
        let mut context = if turn.context.is_object() {
            turn.context.clone()
        } else {
            json!({})
        };
        // Move the $vars out of the copy (put back by `finish`): one copy per turn.
        let vars = match context
            .get_mut("skills")
            .and_then(|s| s.get_mut("main skill"))
            .and_then(|m| m.get_mut("user_defined"))
            .map(Value::take)
        {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let main = context.get("skills").and_then(|s| s.get("main skill"));
        let state = match main
            .and_then(|m| m.get("system"))
            .and_then(|s| s.get("state"))
            .and_then(Value::as_str)
        {
            None => DialogState::default(),
            Some(s) => DialogState::decode(s).unwrap_or_else(|reason| {
                log.push(LogMessage {
                    level: "warn",
                    message: format!(
                        "dialog state ignored ({reason}); the dialog restarts at the root"
                    ),
                    code: None,
                });
                DialogState {
                    started: true,
                    ..DialogState::default()
                }
            }),
        };
        let tz = context
            .get("global")
            .and_then(|g| g.get("system"))
            .and_then(|s| s.get("timezone"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let input = if turn.input.is_object() {
            turn.input.clone()
        } else {
            json!({})
        };
        Walk {
            skill,
            turn,
            input,
            entities: turn.entities.clone(),
            vars,
            output: json!({"generic": []}),
            event: Value::Null,
            flags: Flags::default(),
            tz,
            log,
            state,
            interrupted: Vec::new(),
            wait: None,
            visited: Vec::new(),
            actions: Vec::new(),
            results,
            calls: 0,
            rng: StdRng::seed_from_u64(seed),
            steps: 0,
            branch_exited_reason: None,
            context,
        }
    }

    pub(crate) fn note(&mut self, level: &'static str, message: String) {
        self.log.push(LogMessage {
            level,
            message,
            code: None,
        });
    }

    fn node_by_id(&mut self, id: &str) -> Option<NodeId> {
        let found = self.skill.tree.by_id.get(id).copied();
        if found.is_none() {
            self.note("warn", format!("dialog node {id:?} from the saved state no longer exists; restarting at the root"));
        }
        found
    }

    /// Run the whole turn.
    pub(crate) fn run(&mut self) -> Result<(), Halt> {
        let first = !self.state.started;
        self.flags.conversation_start = first;
        self.flags.welcome = first && text_is_empty(&self.input);
        self.state.started = true;
        let mut stack = std::mem::take(&mut self.state.stack);
        if self.turn.restart {
            stack.clear();
        }
        let current = stack.pop();
        self.interrupted = stack;
        let step = match current {
            None => Step::Root(None),
            Some(Pos::Children { n }) => match self.node_by_id(&n) {
                Some(id) => Step::ResumeChildren(id),
                None => self.reset_to_root(),
            },
            Some(Pos::Jump { n }) => match self.node_by_id(&n) {
                Some(id) => Step::Siblings(id, None),
                None => self.reset_to_root(),
            },
            Some(Pos::Slots { n, f, sk }) => match self.node_by_id(&n) {
                Some(frame) if self.skill.tree.nodes[frame].is_frame() => {
                    let focus = f
                        .as_deref()
                        .and_then(|f| self.skill.tree.by_id.get(f).copied());
                    let skipped = sk
                        .iter()
                        .filter_map(|s| self.skill.tree.by_id.get(s).copied())
                        .collect();
                    Step::SlotInput {
                        frame,
                        focus,
                        skipped,
                    }
                }
                _ => self.reset_to_root(),
            },
        };
        self.drive(step)
    }

    fn reset_to_root(&mut self) -> Step {
        self.interrupted.clear();
        Step::Root(None)
    }

    fn drive(&mut self, mut step: Step) -> Result<(), Halt> {
        let mut seen_logs = 0;
        loop {
            // `clearDialogStack()` (spec §3.8): the expression language signals the request
            // with a coded log message; pending digression returns are dropped.
            if self.log.len() > seen_logs {
                if self.log[seen_logs..]
                    .iter()
                    .any(|l| l.code == Some(dialogic_expr::CLEAR_DIALOG_STACK))
                {
                    self.interrupted.clear();
                }
                seen_logs = self.log.len();
            }
            self.steps += 1;
            if self.steps > MAX_STEPS {
                self.note(
                    "error",
                    format!("loop guard: more than {MAX_STEPS} dialog steps in one turn; the dialog restarts at the root"),
                );
                self.interrupted.clear();
                self.wait = None;
                self.branch_exited_reason = Some("completed");
                return Ok(());
            }
            step = match step {
                Step::Fire(n) => self.fire(n)?,
                Step::Response(n) => self.response(n)?,
                Step::Children(n) => self.children(n, None),
                Step::ResumeChildren(n) => {
                    let nodes = &self.skill.tree.nodes;
                    let pos = Pos::Children {
                        n: nodes[n].id.clone(),
                    };
                    self.children(n, Some(pos))
                }
                Step::Siblings(n, from) => self.siblings(n, from),
                Step::Root(from) => self.root(from),
                Step::SlotInput {
                    frame,
                    focus,
                    skipped,
                } => self.slot_input(frame, focus, skipped)?,
                Step::SlotsContinue { frame, skipped } => self.slots_continue(frame, skipped),
                Step::Wait(pos) => {
                    self.wait = Some(pos);
                    return Ok(());
                }
                Step::Complete => match self.interrupted.pop() {
                    Some(pos) => self.return_to(pos),
                    None => {
                        self.wait = None;
                        self.branch_exited_reason = Some("completed");
                        return Ok(());
                    }
                },
                Step::Idle => {
                    self.wait = None;
                    return Ok(());
                }
            };
        }
    }

    /// An [`Env`] over the walk's state, for one evaluation.
    pub(crate) fn eval_cond(&mut self, n: NodeId) -> bool {
        let skill = self.skill;
        match &skill.tree.nodes[n].cond {
            Cond::True | Cond::AnythingElse => true,
            Cond::False => false,
            Cond::Welcome => self.flags.welcome,
            Cond::ConversationStart => self.flags.conversation_start,
            Cond::Intents(names) => self.turn.intents.first().is_some_and(|top| {
                let conf = top.get("confidence").and_then(Value::as_f64).unwrap_or(1.0);
                conf >= 0.2
                    && top
                        .get("intent")
                        .and_then(Value::as_str)
                        .is_some_and(|i| names.iter().any(|n| n == i))
            }),
            Cond::Expr(e) => self.with_env(|env| e.is_true(env)),
        }
    }

    /// Evaluate a condition-bearing value template.
    pub(crate) fn render_value(&mut self, v: &ValueTpl) -> Value {
        match v {
            ValueTpl::Const(c) => c.clone(),
            ValueTpl::Array(items) => {
                Value::Array(items.iter().map(|i| self.render_value(i)).collect())
            }
            ValueTpl::Object(items) => Value::Object(
                items
                    .iter()
                    .map(|(k, i)| (k.clone(), self.render_value(i)))
                    .collect(),
            ),
            ValueTpl::Tpl(t) => self.with_env(|env| t.render(env)),
            ValueTpl::Expr(e) => self.eval_expr(e),
        }
    }

    pub(crate) fn eval_expr(&mut self, e: &dialogic_expr::Expr) -> Value {
        self.with_env(|env| e.eval(env))
    }

    /// Run `f` with the expression scope of this point of the turn (input, intents, entities,
    /// variables, output, slot event, flags, clock, timezone, log).
    pub(crate) fn with_env<R>(&mut self, f: impl FnOnce(&mut Env<'_>) -> R) -> R {
        let mut env = Env {
            input: &self.input,
            intents: &self.turn.intents,
            entities: &self.entities,
            context: &mut self.vars,
            output: &mut self.output,
            event: &self.event,
            flags: self.flags,
            now: self.turn.now,
            timezone: self.tz.as_deref(),
            log: &mut self.log,
        };
        f(&mut env)
    }

    /// Apply a node's `context` block, key by key in the order written: a later key sees
    /// the value an earlier key just set (real skills rely on it, e.g. the banking skill's
    /// `app_dayofweek` computed from the `app_date` set in the same block).
    pub(crate) fn apply_context(&mut self, n: NodeId) {
        let skill = self.skill;
        let Some(ctx) = &skill.tree.nodes[n].context else {
            return;
        };
        for (k, v) in ctx {
            let value = self.render_value(v);
            assign_var(&mut self.vars, k, value);
        }
    }

    pub(crate) fn visit(&mut self, n: NodeId) {
        self.visited.push(n);
    }

    fn folders_ok(&mut self, folders: &[NodeId]) -> bool {
        folders.iter().all(|&f| self.eval_cond(f))
    }

    /// First node of `list[start..]` whose folders and condition hold.
    fn first_true(&mut self, list: &'s [crate::tree::FlowEntry], start: usize) -> Option<NodeId> {
        for e in list.get(start..).unwrap_or(&[]) {
            if self.folders_ok(&e.folders) && self.eval_cond(e.node) {
                return Some(e.node);
            }
        }
        None
    }

    fn fire(&mut self, n: NodeId) -> Result<Step, Halt> {
        let skill = self.skill;
        let node = &skill.tree.nodes[n];
        if node.kind == Kind::Folder {
            return Ok(Step::Children(n));
        }
        self.visit(n);
        if node.is_frame() {
            return self.enter_frame(n);
        }
        Ok(Step::Response(n))
    }

    /// Node-level response: context, actions, output, the first true response condition,
    /// then `next_step`.
    pub(crate) fn response(&mut self, n: NodeId) -> Result<Step, Halt> {
        let skill = self.skill;
        let node = &skill.tree.nodes[n];
        self.apply_context(n);
        self.run_actions(n)?;
        if let Some(out) = &node.output {
            self.render_output(out);
        }
        let mut next = node.next;
        for &rc in &node.responses {
            if self.eval_cond(rc) {
                self.visit(rc);
                self.apply_context(rc);
                self.run_actions(rc)?;
                let rnode = &skill.tree.nodes[rc];
                if let Some(out) = &rnode.output {
                    self.render_output(out);
                }
                if let Some(b @ Behavior::JumpTo { .. }) = rnode.next {
                    next = Some(b);
                }
                break;
            }
        }
        Ok(self.next_step(n, next))
    }

    pub(crate) fn next_step(&mut self, n: NodeId, next: Option<Behavior>) -> Step {
        let skill = self.skill;
        let has_children = !skill.tree.flat[n].is_empty();
        match next.unwrap_or(Behavior::GetUserInput) {
            Behavior::SkipUserInput if has_children => Step::Children(n),
            Behavior::SkipUserInput => Step::Complete,
            Behavior::JumpTo {
                target,
                selector: Selector::Condition,
            } => Step::Siblings(target, None),
            Behavior::JumpTo {
                target,
                selector: Selector::Body,
            } => Step::Fire(target),
            Behavior::JumpTo {
                target,
                selector: Selector::UserInput,
            } => Step::Wait(Pos::Jump {
                n: skill.tree.nodes[target].id.clone(),
            }),
            _ if has_children => Step::Wait(Pos::Children {
                n: skill.tree.nodes[n].id.clone(),
            }),
            _ => Step::Complete,
        }
    }

    /// Evaluate `n`'s children. `from` is set at the start of a turn (the node waited):
    /// when no child matches, that is a digression from it.
    fn children(&mut self, n: NodeId, from: Option<Pos>) -> Step {
        let skill = self.skill;
        match self.first_true(&skill.tree.flat[n], 0) {
            Some(c) => Step::Fire(c),
            None => Step::Root(from),
        }
    }

    fn siblings(&mut self, target: NodeId, from: Option<Pos>) -> Step {
        let skill = self.skill;
        let tree = &skill.tree;
        let list = tree.sibling_list(target);
        match list.iter().position(|e| e.node == target) {
            Some(i) => match self.first_true(list, i) {
                Some(c) => Step::Fire(c),
                None => Step::Root(from),
            },
            None => {
                // Not in an evaluation list (e.g. disabled): only its own condition counts.
                if !tree.nodes[target].disabled && self.eval_cond(target) {
                    Step::Fire(target)
                } else {
                    Step::Root(from)
                }
            }
        }
    }

    /// Which targets a digression from `from` may reach, and whether it may come back.
    fn digression_rules(&self, from: &Pos) -> Option<(Targets, bool)> {
        let tree = &self.skill.tree;
        match from {
            Pos::Children { n } | Pos::Jump { n } => {
                let node = tree.by_id.get(n).map(|&i| &tree.nodes[i]);
                Some(
                    match node
                        .and_then(|x| x.digress_out)
                        .unwrap_or(DigressOut::AllowAll)
                    {
                        DigressOut::AllowAll => {
                            (Targets::All, matches!(from, Pos::Children { .. }))
                        }
                        DigressOut::AllowReturning => {
                            (Targets::ReturnsOnly, matches!(from, Pos::Children { .. }))
                        }
                        DigressOut::AllowAllNeverReturn => (Targets::All, false),
                    },
                )
            }
            Pos::Slots { n, .. } => {
                let node = tree.by_id.get(n).map(|&i| &tree.nodes[i]);
                match node
                    .and_then(|x| x.digress_out_slots)
                    .unwrap_or(DigressOutSlots::NotAllowed)
                {
                    DigressOutSlots::NotAllowed => None,
                    DigressOutSlots::AllowReturning => Some((Targets::ReturnsOnly, true)),
                    DigressOutSlots::AllowAll => Some((Targets::All, true)),
                }
            }
        }
    }

    /// Find the root node that answers; `from` is the flow being digressed from. Returns
    /// the node and whether `from` must be kept for a return. `anything_else`: include
    /// (None), exclude (Some(false)) or only (Some(true)) `anything_else` root nodes.
    pub(crate) fn root_target(
        &mut self,
        from: Option<&Pos>,
        anything_else: Option<bool>,
    ) -> Option<(NodeId, bool)> {
        let skill = self.skill;
        let tree = &skill.tree;
        let rules = match from {
            Some(p) => Some(self.digression_rules(p)?),
            None => None,
        };
        let pending = !self.interrupted.is_empty();
        for e in &tree.root {
            let n = e.node;
            let is_else = matches!(tree.nodes[n].cond, Cond::AnythingElse);
            match anything_else {
                Some(false) if is_else => continue,
                Some(true) if !is_else => continue,
                _ => {}
            }
            let din = tree.digress_in(n);
            if rules.is_some() || pending {
                if din == DigressIn::NotAvailable {
                    continue;
                }
                // Correction 8: with a pending return, no-return nodes are not targets.
                if pending && din == DigressIn::DoesNotReturn {
                    continue;
                }
                if let Some((Targets::ReturnsOnly, _)) = rules {
                    if din != DigressIn::Returns {
                        continue;
                    }
                }
            }
            if self.folders_ok(&e.folders) && self.eval_cond(n) {
                let ret = matches!(rules, Some((_, true))) && din == DigressIn::Returns;
                return Some((n, ret));
            }
        }
        None
    }

    fn root(&mut self, from: Option<Pos>) -> Step {
        match self.root_target(from.as_ref(), None) {
            Some((n, ret)) => {
                if let Some(p) = from {
                    if ret {
                        self.interrupted.push(p);
                    } else {
                        self.branch_exited_reason = Some("fallback");
                    }
                }
                Step::Fire(n)
            }
            None => match from {
                // Nothing answers and the flow may not be left: keep waiting there.
                Some(p) => Step::Wait(p),
                None => Step::Idle,
            },
        }
    }

    /// Back from a digression: re-show the interrupted flow's prompt and wait there.
    fn return_to(&mut self, pos: Pos) -> Step {
        let skill = self.skill;
        self.flags.returning_from_digression = true;
        match &pos {
            Pos::Children { n } => {
                if let Some(&id) = skill.tree.by_id.get(n) {
                    if !self.return_prompt_handler(id) {
                        self.render_prompt_again(id);
                    }
                }
                self.flags.returning_from_digression = false;
                Step::Wait(pos)
            }
            Pos::Slots { n, sk, .. } => match skill.tree.by_id.get(n) {
                Some(&frame) => {
                    self.return_prompt_handler(frame);
                    Step::SlotsContinue {
                        frame,
                        skipped: sk
                            .iter()
                            .filter_map(|s| skill.tree.by_id.get(s).copied())
                            .collect(),
                    }
                }
                None => Step::Complete,
            },
            Pos::Jump { .. } => Step::Wait(pos),
        }
    }

    /// A `digression_return_prompt` handler of the interrupted node, if one applies: its
    /// output is said on the way back (for a standard node instead of its response, for a
    /// frame before the next slot prompt). True when one fired.
    fn return_prompt_handler(&mut self, n: NodeId) -> bool {
        let skill = self.skill;
        for &h in &skill.tree.nodes[n].handlers {
            let node = &skill.tree.nodes[h];
            if node.event == Some(crate::tree::Event::DigressionReturnPrompt) && self.eval_cond(h) {
                self.visit(h);
                if let Some(out) = &node.output {
                    self.render_output(out);
                }
                return true;
            }
        }
        false
    }

    /// The node's response again (output only: no context, actions or jumps).
    fn render_prompt_again(&mut self, n: NodeId) {
        let skill = self.skill;
        let node = &skill.tree.nodes[n];
        if let Some(out) = &node.output {
            self.render_output(out);
        }
        for &rc in &node.responses {
            if self.eval_cond(rc) {
                if let Some(out) = &skill.tree.nodes[rc].output {
                    self.render_output(out);
                }
                break;
            }
        }
    }

    /// Run a node's actions: webhooks are called (or their results taken from the replay
    /// list), client and legacy actions are returned in `output.actions`.
    fn run_actions(&mut self, n: NodeId) -> Result<(), Halt> {
        let skill = self.skill;
        let node = &skill.tree.nodes[n];
        for a in &node.actions {
            let params = self.render_value(&a.parameters);
            match &a.kind {
                ActionKind::Webhook => {
                    let raw_var = a.result_variable.clone().unwrap_or_default();
                    let idx = self.calls;
                    self.calls += 1;
                    let Some(result) = self.results.get(idx) else {
                        let headers = match &skill.webhook {
                            Some(w) => w
                                .headers
                                .iter()
                                .map(|(k, v)| {
                                    let v = match self.render_value(v) {
                                        Value::String(s) => s,
                                        Value::Null => String::new(),
                                        other => other.to_string(),
                                    };
                                    (k.clone(), v)
                                })
                                .collect(),
                            None => Vec::new(),
                        };
                        return Err(Halt::Webhook(Box::new(WebhookRequest {
                            url: skill
                                .webhook
                                .as_ref()
                                .map(|w| w.public.url.clone())
                                .unwrap_or_default(),
                            headers,
                            body: params,
                            result_variable: raw_var,
                            node: node.id.clone(),
                        })));
                    };
                    let Some(target) = parse_target(&raw_var) else {
                        self.note(
                            "error",
                            format!("node {:?}: bad result_variable {raw_var:?}", node.id),
                        );
                        continue;
                    };
                    match result {
                        Ok(v) => self.store_result(&target, v.clone()),
                        Err(reason) => {
                            self.store_result(&target, Value::Null);
                            let name = target.display_name();
                            if let Some(out) = self.output.as_object_mut() {
                                set_path(
                                    out,
                                    &["webhook_error".to_string(), name],
                                    Value::String(reason.clone()),
                                );
                            }
                        }
                    }
                }
                ActionKind::Client | ActionKind::Legacy(_) => {
                    let kind = match &a.kind {
                        ActionKind::Legacy(t) => t.clone(),
                        _ => "client".to_string(),
                    };
                    let mut obj = Map::new();
                    obj.insert("name".into(), Value::String(a.name.clone()));
                    obj.insert("type".into(), Value::String(kind));
                    obj.insert("parameters".into(), params);
                    obj.insert(
                        "result_variable".into(),
                        a.result_variable
                            .clone()
                            .map(Value::String)
                            .unwrap_or(Value::Null),
                    );
                    if let Some(c) = &a.credentials {
                        obj.insert("credentials".into(), c.clone());
                    }
                    self.actions.push(Value::Object(obj));
                }
            }
        }
        Ok(())
    }

    fn store_result(&mut self, target: &Target, v: Value) {
        match target {
            Target::Context(p) => set_path(&mut self.vars, p, v),
            Target::Output(p) => {
                if let Some(o) = self.output.as_object_mut() {
                    set_path(o, p, v)
                }
            }
            Target::Input(p) => {
                if let Some(o) = self.input.as_object_mut() {
                    set_path(o, p, v)
                }
            }
        }
    }

    /// Assemble the turn's output and the updated context.
    pub(crate) fn finish(mut self) -> TurnOutput {
        let mut stack = std::mem::take(&mut self.interrupted);
        if let Some(w) = self.wait.take() {
            stack.push(w);
        }
        self.state.stack = stack;
        let waiting = !self.state.stack.is_empty();
        let mut output = std::mem::take(&mut self.output);
        let has_actions = !self.actions.is_empty();
        if let Some(o) = output.as_object_mut() {
            if has_actions {
                o.insert(
                    "actions".into(),
                    Value::Array(std::mem::take(&mut self.actions)),
                );
            }
            if self.turn.debug {
                o.insert("debug".into(), crate::debug::debug_output(&self, waiting));
            }
        }
        let mut context = std::mem::take(&mut self.context);
        let state = self.state.encode();
        if let Some(c) = context.as_object_mut() {
            let skills = c.entry("skills").or_insert_with(|| json!({}));
            if !skills.is_object() {
                *skills = json!({});
            }
            if let Some(sk) = skills.as_object_mut() {
                let main = sk.entry("main skill").or_insert_with(|| json!({}));
                if !main.is_object() {
                    *main = json!({});
                }
                if let Some(m) = main.as_object_mut() {
                    m.insert(
                        "user_defined".into(),
                        Value::Object(std::mem::take(&mut self.vars)),
                    );
                    let system = m.entry("system").or_insert_with(|| json!({}));
                    if !system.is_object() {
                        *system = json!({});
                    }
                    if let Some(s) = system.as_object_mut() {
                        s.insert("state".into(), Value::String(state));
                    }
                }
            }
            let global = c.entry("global").or_insert_with(|| json!({}));
            if !global.is_object() {
                *global = json!({});
            }
            if let Some(g) = global.as_object_mut() {
                let system = g.entry("system").or_insert_with(|| json!({}));
                if !system.is_object() {
                    *system = json!({});
                }
                if let Some(s) = system.as_object_mut() {
                    if has_actions {
                        s.insert("skip_user_input".into(), Value::Bool(true));
                    } else {
                        s.remove("skip_user_input");
                    }
                }
            }
        }
        TurnOutput { output, context }
    }
}
