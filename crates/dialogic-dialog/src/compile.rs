//! Skill loading: raw nodes -> compiled [`Tree`]. Every condition, response text, context
//! value, action parameter and webhook header is compiled once here; compile errors and
//! broken references become [`Problem`]s (fatal) and export quirks become warnings.

use std::collections::HashMap;

use dialogic_expr::{Expr, Template};
use serde_json::{Map, Value};

use crate::tree::{
    flatten, order_children, Behavior, DigressIn, DigressOut, DigressOutSlots, Event, Kind, Node,
    NodeId, Selector, Tree,
};
use crate::workspace::{RawNode, RawWorkspace};
use crate::{Problem, SkillWebhook};

/// A compiled condition; the special conditions are answered by the engine directly.
#[derive(Debug)]
pub(crate) enum Cond {
    True,
    False,
    /// `anything_else`: true, but excluded from slot digressions.
    AnythingElse,
    Welcome,
    ConversationStart,
    /// `#a` or `#a || #b ...`: answered natively (top intent, confidence >= 0.2), the same
    /// rule as the expression language, without building an evaluation scope.
    Intents(Vec<String>),
    Expr(Expr),
}

/// `#a`, `#a || #b`, `#a or #b` (nothing else) -> the intent names.
fn intent_disjunction(s: &str) -> Option<Vec<String>> {
    let normalized = s.replace(" or ", " || ").replace(" OR ", " || ");
    let mut names = Vec::new();
    for part in normalized.split("||") {
        let name = part.trim().strip_prefix('#')?;
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !name.starts_with(['-', '.']);
        if !ok {
            return None;
        }
        names.push(name.to_string());
    }
    Some(names)
}

/// A JSON value whose strings may be templates (`$var`, `@entity`, `<? ?>`).
#[derive(Debug)]
pub(crate) enum ValueTpl {
    Const(Value),
    /// Text with interpolation; a lone `<? ?>` keeps its JSON type.
    Tpl(Template),
    /// A lone `$var` / `@entity` reference: evaluated as an expression so it keeps its type.
    Expr(Expr),
    Array(Vec<ValueTpl>),
    Object(Vec<(String, ValueTpl)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    Sequential,
    Random,
    Multiline,
}

/// A text response: variations and how one is chosen.
#[derive(Debug)]
pub(crate) struct TextItem {
    pub values: Vec<Template>,
    pub policy: Policy,
    pub delimiter: String,
    /// Key of this item's variation counter in the dialog state.
    pub key: String,
    /// Other keys of the item (`channels`, ...), passed through.
    pub extra: Vec<(String, ValueTpl)>,
}

#[derive(Debug)]
pub(crate) enum Item {
    Text(TextItem),
    /// Any other response type, its strings rendered.
    Other(ValueTpl),
}

/// A node's `output`.
#[derive(Debug, Default)]
pub(crate) struct OutputSpec {
    pub items: Vec<Item>,
    pub overwrite: bool,
    /// Other keys (`ui_action`, `action`, `webhook_error`, ...), merged into the output.
    pub extra: Vec<(String, ValueTpl)>,
}

impl OutputSpec {
    pub(crate) fn has_items(&self) -> bool {
        self.items.iter().any(|i| match i {
            Item::Text(t) => !t.values.is_empty(),
            Item::Other(_) => true,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ActionKind {
    Webhook,
    Client,
    /// `cloud_function` / `server` / `web_action`: returned to the client like `client`.
    Legacy(String),
}

#[derive(Debug)]
pub(crate) struct ActionSpec {
    pub name: String,
    pub kind: ActionKind,
    pub parameters: ValueTpl,
    pub result_variable: Option<String>,
    pub credentials: Option<Value>,
}

/// The compiled webhook with its header templates.
#[derive(Debug)]
pub(crate) struct CompiledWebhook {
    pub public: SkillWebhook,
    pub headers: Vec<(String, ValueTpl)>,
}

/// Everything `Skill::from_value` needs.
pub(crate) struct Compiled {
    pub tree: Tree,
    pub webhook: Option<CompiledWebhook>,
    pub warnings: Vec<Problem>,
}

struct Ctx<'a> {
    node: &'a str,
    problems: &'a mut Vec<Problem>,
}

impl Ctx<'_> {
    fn problem(&mut self, field: &str, msg: impl Into<String>) {
        self.problems.push(Problem::new(self.node, field, msg));
    }
}

fn compile_cond(src: Option<&str>, kind: Kind, ctx: &mut Ctx<'_>) -> Cond {
    let s = src.map(str::trim).unwrap_or("");
    if s.is_empty() {
        // The tool fills an empty condition with `true` for responses and handlers; a
        // standard node without a condition is only reachable by a jump (spec §3.3).
        return match kind {
            Kind::Standard | Kind::Frame => Cond::False,
            _ => Cond::True,
        };
    }
    match s {
        "anything_else" => return Cond::AnythingElse,
        "welcome" => return Cond::Welcome,
        "conversation_start" => return Cond::ConversationStart,
        _ => {}
    }
    if s.eq_ignore_ascii_case("true") {
        return Cond::True;
    }
    if s.eq_ignore_ascii_case("false") {
        return Cond::False;
    }
    match Expr::compile(s) {
        // Compiled first so a bad condition is still reported by the language.
        Ok(_) if intent_disjunction(s).is_some() => {
            Cond::Intents(intent_disjunction(s).unwrap_or_default())
        }
        Ok(e) => Cond::Expr(e),
        Err(e) => {
            ctx.problem("conditions", format!("{s:?}: {e}"));
            Cond::False
        }
    }
}

/// A string that is exactly one `$var` / `@entity` reference (optionally with `.field`s).
fn is_lone_reference(s: &str) -> bool {
    let t = s.trim();
    let mut chars = t.chars();
    let sigil = match chars.next() {
        Some(c @ ('$' | '@')) => c,
        _ => return false,
    };
    let rest: &str = &t[1..];
    if rest.starts_with('(') {
        return rest.ends_with(')') && !rest[1..rest.len() - 1].contains([')', '(', ' ']);
    }
    let mut first = true;
    for part in rest.split('.') {
        let ok = !part.is_empty()
            && part
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| {
                c.is_ascii_alphanumeric() || c == '_' || (c == '-' && first && sigil == '@')
            });
        if !ok {
            return false;
        }
        first = false;
    }
    true
}

fn needs_template(s: &str) -> bool {
    s.contains(['$', '@', '#', '<', '\\'])
}

fn compile_value(v: &Value, field: &str, ctx: &mut Ctx<'_>) -> ValueTpl {
    match v {
        Value::String(s) => {
            if !needs_template(s) {
                return ValueTpl::Const(v.clone());
            }
            if is_lone_reference(s) {
                if let Ok(e) = Expr::compile(s.trim()) {
                    return ValueTpl::Expr(e);
                }
            }
            match Template::compile(s) {
                Ok(t) => ValueTpl::Tpl(t),
                Err(e) => {
                    ctx.problem(field, format!("{s:?}: {e}"));
                    ValueTpl::Const(v.clone())
                }
            }
        }
        Value::Array(items) => {
            let parts: Vec<ValueTpl> = items
                .iter()
                .enumerate()
                .map(|(i, x)| compile_value(x, &format!("{field}[{i}]"), ctx))
                .collect();
            if parts.iter().all(|p| matches!(p, ValueTpl::Const(_))) {
                ValueTpl::Const(v.clone())
            } else {
                ValueTpl::Array(parts)
            }
        }
        Value::Object(map) => {
            let parts: Vec<(String, ValueTpl)> = map
                .iter()
                .map(|(k, x)| (k.clone(), compile_value(x, &format!("{field}.{k}"), ctx)))
                .collect();
            if parts.iter().all(|(_, p)| matches!(p, ValueTpl::Const(_))) {
                ValueTpl::Const(v.clone())
            } else {
                ValueTpl::Object(parts)
            }
        }
        _ => ValueTpl::Const(v.clone()),
    }
}

fn compile_text(s: &str, field: &str, ctx: &mut Ctx<'_>) -> Option<Template> {
    match Template::compile(s) {
        Ok(t) => Some(t),
        Err(e) => {
            ctx.problem(field, format!("{s:?}: {e}"));
            None
        }
    }
}

fn policy_of(v: Option<&Value>) -> Policy {
    match v.and_then(Value::as_str) {
        Some("random") => Policy::Random,
        Some("multiline") => Policy::Multiline,
        _ => Policy::Sequential,
    }
}

fn text_values(values: Option<&Value>, field: &str, ctx: &mut Ctx<'_>) -> Vec<Template> {
    let mut out = Vec::new();
    match values {
        Some(Value::Array(vs)) => {
            for (i, v) in vs.iter().enumerate() {
                let s = match v {
                    Value::String(s) => Some(s.as_str()),
                    Value::Object(o) => o.get("text").and_then(Value::as_str),
                    _ => None,
                };
                if let Some(t) = s.and_then(|s| compile_text(s, &format!("{field}[{i}]"), ctx)) {
                    out.push(t);
                }
            }
        }
        Some(Value::String(s)) => out.extend(compile_text(s, field, ctx)),
        _ => {}
    }
    out
}

fn compile_output(node_id: &str, v: &Value, ctx: &mut Ctx<'_>) -> Option<OutputSpec> {
    let map = v.as_object()?;
    let mut spec = OutputSpec::default();
    for (k, val) in map {
        match k.as_str() {
            "text" => {
                let (values, policy, delimiter) = match val {
                    Value::Object(o) => (
                        text_values(o.get("values"), "output.text.values", ctx),
                        policy_of(o.get("selection_policy")),
                        o.get("delimiter")
                            .and_then(Value::as_str)
                            .unwrap_or("\n")
                            .to_string(),
                    ),
                    other => (
                        text_values(Some(other), "output.text", ctx),
                        Policy::Sequential,
                        "\n".to_string(),
                    ),
                };
                spec.items.push(Item::Text(TextItem {
                    values,
                    policy,
                    delimiter,
                    key: format!("{node_id}|t"),
                    extra: Vec::new(),
                }));
            }
            "generic" => {
                let Some(items) = val.as_array() else {
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    let field = format!("output.generic[{i}]");
                    let Some(o) = item.as_object() else { continue };
                    if o.get("response_type").and_then(Value::as_str) == Some("text") {
                        let mut values =
                            text_values(o.get("values"), &format!("{field}.values"), ctx);
                        if values.is_empty() {
                            // Correction 6: `text` instead of `values[]`.
                            if let Some(s) = o.get("text").and_then(Value::as_str) {
                                values.extend(compile_text(s, &format!("{field}.text"), ctx));
                            }
                        }
                        let extra = o
                            .iter()
                            .filter(|(k, _)| {
                                !matches!(
                                    k.as_str(),
                                    "values"
                                        | "text"
                                        | "selection_policy"
                                        | "delimiter"
                                        | "response_type"
                                )
                            })
                            .map(|(k, x)| {
                                (k.clone(), compile_value(x, &format!("{field}.{k}"), ctx))
                            })
                            .collect();
                        spec.items.push(Item::Text(TextItem {
                            values,
                            policy: policy_of(o.get("selection_policy")),
                            delimiter: o
                                .get("delimiter")
                                .and_then(Value::as_str)
                                .unwrap_or("\n")
                                .to_string(),
                            key: format!("{node_id}|g{i}"),
                            extra,
                        }));
                    } else {
                        spec.items
                            .push(Item::Other(compile_value(item, &field, ctx)));
                    }
                }
            }
            "modifiers" => {
                spec.overwrite = val
                    .get("overwrite")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            }
            _ => spec
                .extra
                .push((k.clone(), compile_value(val, &format!("output.{k}"), ctx))),
        }
    }
    Some(spec)
}

fn compile_context(v: &Value, ctx: &mut Ctx<'_>) -> Option<Vec<(String, ValueTpl)>> {
    let map = v.as_object()?;
    if map.is_empty() {
        return None;
    }
    Some(
        map.iter()
            .map(|(k, x)| (k.clone(), compile_value(x, &format!("context.{k}"), ctx)))
            .collect(),
    )
}

fn compile_actions(v: Option<&Value>, ctx: &mut Ctx<'_>) -> Vec<ActionSpec> {
    let Some(list) = v.and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let Some(o) = a.as_object() else {
            ctx.problem(&format!("actions[{i}]"), "an action must be an object");
            continue;
        };
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let kind = match o.get("type").and_then(Value::as_str).unwrap_or("client") {
            "webhook" => ActionKind::Webhook,
            "client" => ActionKind::Client,
            other => ActionKind::Legacy(other.to_string()),
        };
        let parameters = match o.get("parameters") {
            Some(p) => compile_value(p, &format!("actions[{i}].parameters"), ctx),
            None => ValueTpl::Const(Value::Object(Map::new())),
        };
        let result_variable = o
            .get("result_variable")
            .and_then(Value::as_str)
            .map(str::to_string);
        if kind == ActionKind::Webhook && result_variable.as_deref().is_none_or(str::is_empty) {
            ctx.problem(
                &format!("actions[{i}].result_variable"),
                "a webhook action needs a result_variable",
            );
        }
        out.push(ActionSpec {
            name,
            kind,
            parameters,
            result_variable,
            credentials: o.get("credentials").cloned(),
        });
    }
    // Server-type actions run before client actions (webhooks spec §6.3).
    out.sort_by_key(|a| matches!(a.kind, ActionKind::Client));
    out
}

/// Entity names a condition reads: `@name`, `entities['name']`, `entities.name`.
pub(crate) fn entity_refs(src: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let b = src.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'@' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && ident(b[j]) {
                j += 1;
            }
            if j > start {
                out.push(src[start..j].to_string());
            }
            i = j.max(i + 1);
            continue;
        }
        if src[i..].starts_with("entities[") {
            let rest = &src[i + 9..];
            let q = rest.chars().next();
            if let Some(q @ ('\'' | '"')) = q {
                if let Some(end) = rest[1..].find(q) {
                    out.push(rest[1..1 + end].to_string());
                }
            }
        } else if src[i..].starts_with("entities.") {
            let start = i + 9;
            let mut j = start;
            while j < b.len() && ident(b[j]) {
                j += 1;
            }
            if j > start && !matches!(&src[start..j], "size" | "get") {
                out.push(src[start..j].to_string());
            }
        }
        i += 1;
    }
    out.dedup();
    out
}

fn parse_next_step(
    v: Option<&Value>,
    by_id: &HashMap<String, NodeId>,
    ctx: &mut Ctx<'_>,
) -> Option<Behavior> {
    let o = v?.as_object()?;
    let behavior = o
        .get("behavior")
        .and_then(Value::as_str)
        .unwrap_or("get_user_input");
    Some(match behavior {
        "skip_user_input" => Behavior::SkipUserInput,
        "reprompt" => Behavior::Reprompt,
        "skip_slot" => Behavior::SkipSlot,
        "skip_all_slots" => Behavior::SkipAllSlots,
        "jump_to" => {
            let target = o.get("dialog_node").and_then(Value::as_str).unwrap_or("");
            let Some(&t) = by_id.get(target) else {
                ctx.problem(
                    "next_step.dialog_node",
                    format!("jump target {target:?} does not exist"),
                );
                return None;
            };
            let selector = match o
                .get("selector")
                .and_then(Value::as_str)
                .unwrap_or("condition")
            {
                "body" => Selector::Body,
                "user_input" | "client" => Selector::UserInput,
                _ => Selector::Condition,
            };
            Behavior::JumpTo {
                target: t,
                selector,
            }
        }
        _ => Behavior::GetUserInput,
    })
}

fn digress_in(s: Option<&str>) -> Option<DigressIn> {
    Some(match s? {
        "not_available" => DigressIn::NotAvailable,
        "returns" => DigressIn::Returns,
        "does_not_return" => DigressIn::DoesNotReturn,
        _ => return None,
    })
}

fn digress_out(s: Option<&str>) -> Option<DigressOut> {
    Some(match s? {
        "allow_returning" => DigressOut::AllowReturning,
        "allow_all" => DigressOut::AllowAll,
        "allow_all_never_return" => DigressOut::AllowAllNeverReturn,
        _ => return None,
    })
}

fn digress_out_slots(s: Option<&str>) -> Option<DigressOutSlots> {
    Some(match s? {
        "not_allowed" => DigressOutSlots::NotAllowed,
        "allow_returning" => DigressOutSlots::AllowReturning,
        "allow_all" => DigressOutSlots::AllowAll,
        _ => return None,
    })
}

/// System entities IBM removed (still present in old exports).
const REMOVED_SYSTEM_ENTITIES: &[&str] = &["sys-person", "sys-location"];

/// Build and compile the whole skill. Problems are fatal; warnings are returned in `Compiled`.
pub(crate) fn compile(ws: &RawWorkspace, problems: &mut Vec<Problem>) -> Compiled {
    let mut warnings = Vec::new();
    for e in &ws.entities {
        if REMOVED_SYSTEM_ENTITIES.contains(&e.entity.as_str()) {
            warnings.push(Problem::new(
                "",
                "entities",
                format!(
                    "@{} was removed by IBM in 2020; it is accepted but never detected",
                    e.entity
                ),
            ));
        }
    }

    // Parse raw nodes one by one so a malformed node is reported by id.
    let mut raws: Vec<RawNode> = Vec::with_capacity(ws.dialog_nodes.len());
    for (i, v) in ws.dialog_nodes.iter().enumerate() {
        match serde_json::from_value::<RawNode>(v.clone()) {
            Ok(r) if !r.dialog_node.is_empty() => raws.push(r),
            Ok(_) => problems.push(Problem::new(
                "",
                &format!("dialog_nodes[{i}]"),
                "missing dialog_node id",
            )),
            Err(e) => {
                let id = v.get("dialog_node").and_then(Value::as_str).unwrap_or("");
                problems.push(Problem::new(
                    id,
                    &format!("dialog_nodes[{i}]"),
                    format!("malformed node: {e}"),
                ));
            }
        }
    }

    let mut by_id: HashMap<String, NodeId> = HashMap::with_capacity(raws.len());
    let mut keep: Vec<RawNode> = Vec::with_capacity(raws.len());
    for r in raws {
        if by_id.contains_key(&r.dialog_node) {
            problems.push(Problem::new(
                &r.dialog_node,
                "dialog_node",
                "duplicate node id",
            ));
            continue;
        }
        by_id.insert(r.dialog_node.clone(), keep.len());
        keep.push(r);
    }
    let raws = keep;
    let ids: Vec<String> = raws.iter().map(|r| r.dialog_node.clone()).collect();
    let parents: Vec<Option<String>> = raws.iter().map(|r| r.parent.clone()).collect();
    let prevs: Vec<Option<String>> = raws.iter().map(|r| r.previous_sibling.clone()).collect();
    let (parent_of, children, root_list) = order_children(&ids, &parents, &prevs, &by_id, problems);

    let mut nodes: Vec<Node> = Vec::with_capacity(raws.len());
    for (i, r) in raws.iter().enumerate() {
        let mut ctx = Ctx {
            node: &r.dialog_node,
            problems,
        };
        let kind = match Kind::parse(r.kind.as_deref()) {
            Some(k) => k,
            None => {
                warnings.push(Problem::new(
                    &r.dialog_node,
                    "type",
                    format!(
                        "unknown node type {:?}; treated as standard",
                        r.kind.as_deref().unwrap_or("")
                    ),
                ));
                Kind::Standard
            }
        };
        let cond = compile_cond(r.conditions.as_deref(), kind, &mut ctx);
        let output = r
            .output
            .as_ref()
            .and_then(|o| compile_output(&r.dialog_node, o, &mut ctx));
        let context = r
            .context
            .as_ref()
            .and_then(|c| compile_context(c, &mut ctx));
        let next = parse_next_step(r.next_step.as_ref(), &by_id, &mut ctx);
        let actions = compile_actions(r.actions.as_ref(), &mut ctx);
        let event = match (kind, r.event_name.as_deref()) {
            (Kind::EventHandler, Some(e)) => Some(Event::parse(e)),
            (Kind::EventHandler, None) => {
                ctx.problem("event_name", "an event_handler needs an event_name");
                None
            }
            _ => None,
        };
        let variable = r.variable.as_deref().map(|v| {
            let v = v.trim();
            let v = v.strip_prefix('$').unwrap_or(v);
            let v = v
                .strip_prefix('(')
                .and_then(|x| x.strip_suffix(')'))
                .unwrap_or(v);
            v.to_string()
        });
        if kind == Kind::Slot && variable.as_deref().is_none_or(str::is_empty) {
            ctx.problem("variable", "a slot needs a variable");
        }
        let entity_refs = if event == Some(Event::Input) {
            r.conditions.as_deref().map(entity_refs).unwrap_or_default()
        } else {
            Vec::new()
        };
        nodes.push(Node {
            id: r.dialog_node.clone(),
            title: r.title.clone(),
            kind,
            parent: parent_of[i],
            cond,
            cond_src: r.conditions.clone(),
            output,
            context,
            next,
            actions,
            event,
            variable,
            digress_in: digress_in(r.digress_in.as_deref()),
            digress_out: digress_out(r.digress_out.as_deref()),
            digress_out_slots: digress_out_slots(r.digress_out_slots.as_deref()),
            disabled: r.disabled.unwrap_or(false),
            flow: Vec::new(),
            responses: Vec::new(),
            slots: Vec::new(),
            handlers: Vec::new(),
            entity_refs,
        });
    }

    // Children lists by role.
    for (p, kids) in children.iter().enumerate() {
        for &c in kids {
            if nodes[c].disabled {
                continue;
            }
            match nodes[c].kind {
                Kind::Standard | Kind::Frame | Kind::Folder => nodes[p].flow.push(c),
                Kind::ResponseCondition => nodes[p].responses.push(c),
                Kind::Slot => nodes[p].slots.push(c),
                Kind::EventHandler => nodes[p].handlers.push(c),
            }
        }
    }
    for node in nodes.iter_mut() {
        if !node.slots.is_empty() && node.kind != Kind::Frame {
            warnings.push(Problem::new(
                &node.id,
                "type",
                format!(
                    "{} slot(s) under a {:?} node are ignored (the node is not a frame, as in the tool)",
                    node.slots.len(),
                    node.kind
                ),
            ));
            node.slots.clear();
        }
        if node.kind == Kind::Frame && node.slots.is_empty() {
            warnings.push(Problem::new(
                &node.id,
                "type",
                "frame without enabled slots runs as a standard node",
            ));
        }
        if node.kind == Kind::Slot && node.parent.is_none() {
            problems.push(Problem::new(
                &node.id,
                "parent",
                "a slot must have a parent frame",
            ));
        }
        if matches!(node.kind, Kind::ResponseCondition | Kind::EventHandler)
            && node.parent.is_none()
        {
            problems.push(Problem::new(
                &node.id,
                "parent",
                "response conditions and event handlers need a parent",
            ));
        }
    }

    let mut root: Vec<crate::tree::FlowEntry> = Vec::new();
    flatten(&nodes, &root_list, &mut Vec::new(), &mut root);
    let mut flat = Vec::with_capacity(nodes.len());
    for i in 0..nodes.len() {
        let mut out = Vec::new();
        flatten(&nodes, &nodes[i].flow, &mut Vec::new(), &mut out);
        flat.push(out);
    }

    let webhook = ws
        .webhooks
        .iter()
        .find(|w| w.name.as_deref().unwrap_or("main_webhook") == "main_webhook")
        .map(|w| {
            let mut ctx = Ctx { node: "", problems };
            let headers = w
                .headers
                .iter()
                .map(|h| {
                    let v = Value::String(h.value.clone().unwrap_or_default());
                    (
                        h.name.clone(),
                        compile_value(&v, &format!("webhooks.headers.{}", h.name), &mut ctx),
                    )
                })
                .collect();
            CompiledWebhook {
                public: SkillWebhook {
                    url: w.url.clone().unwrap_or_default(),
                    headers: w
                        .headers
                        .iter()
                        .map(|h| (h.name.clone(), h.value.clone().unwrap_or_default()))
                        .collect(),
                },
                headers,
            }
        });

    Compiled {
        tree: Tree {
            nodes,
            by_id,
            root,
            flat,
        },
        webhook,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_references() {
        assert!(is_lone_reference("$date"));
        assert!(is_lone_reference("@sys-number"));
        assert!(is_lone_reference(" @eventName.literal "));
        assert!(is_lone_reference("$(card-type)"));
        assert!(!is_lone_reference("$a and $b"));
        assert!(!is_lone_reference("Hello $name"));
        assert!(!is_lone_reference("$a-b"));
    }

    #[test]
    fn intent_fast_path() {
        assert_eq!(intent_disjunction("#a"), Some(vec!["a".to_string()]));
        assert_eq!(
            intent_disjunction("#Banking-Cancel_Card || #b.c or #d"),
            Some(vec![
                "Banking-Cancel_Card".to_string(),
                "b.c".to_string(),
                "d".to_string()
            ])
        );
        assert_eq!(intent_disjunction("#a && #b"), None);
        assert_eq!(intent_disjunction("#a || @e"), None);
        assert_eq!(intent_disjunction("!#a"), None);
    }

    #[test]
    fn entity_references() {
        assert_eq!(entity_refs("@sys-date"), vec!["sys-date"]);
        assert_eq!(entity_refs("@eventName.literal"), vec!["eventName"]);
        assert_eq!(entity_refs("entities['sys-number']"), vec!["sys-number"]);
        assert_eq!(entity_refs("@a:x || @b"), vec!["a", "b"]);
    }
}
