//! The evaluator: walks a [`Node`] over one turn's data. Reads borrow from the turn (no
//! allocation for a typical condition); writes made by mutating methods (`append`, `remove`,
//! `context.clear()`...) are collected and applied to the [`Env`] when evaluation ends.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::ast::{BinOp, Global, MethodCall, Node, SelectKind, Special};
use crate::value::{self, int_arg, NULL};
use crate::{globals, methods, operators, regexes, shorthand, truthy, Env, Flags, LogMessage};

/// A runtime error: the expression yields null and the message is logged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EvalError {
    pub(crate) message: String,
}

impl EvalError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        EvalError {
            message: message.into(),
        }
    }
}

pub(crate) type Out<'a> = Result<Cow<'a, Value>, EvalError>;

static TRUE: Value = Value::Bool(true);
static FALSE: Value = Value::Bool(false);

pub(crate) fn boolean<'a>(b: bool) -> Cow<'a, Value> {
    Cow::Borrowed(if b { &TRUE } else { &FALSE })
}

/// Most node evaluations one top-level evaluation may perform (bounds selections and filters).
const MAX_STEPS: u32 = 500_000;
/// Deepest evaluation recursion (nested filters compile sub-expressions at run time).
const MAX_EVAL_DEPTH: u32 = 256;

/// Read-only view of the turn.
pub(crate) struct Scope<'s> {
    pub input: &'s Value,
    pub intents: &'s [Value],
    pub entities: &'s [Value],
    pub context: &'s Map<String, Value>,
    pub output: &'s Value,
    pub event: &'s Value,
    pub flags: Flags,
    pub now: DateTime<Utc>,
    pub timezone: Option<&'s str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    Context,
    Output,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A location in the context or output that a mutating method changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    pub root: Root,
    pub path: Vec<Seg>,
}

/// A pending write.
#[derive(Debug, Clone)]
pub(crate) struct Write {
    pub place: Place,
    pub value: Value,
}

/// One evaluation in progress.
pub(crate) struct Ev<'s> {
    pub sc: Scope<'s>,
    writes: RefCell<Vec<Write>>,
    logs: RefCell<Vec<LogMessage>>,
    /// Named locals (the variable of `filter(tmp, "...")`).
    locals: RefCell<Vec<(Box<str>, Value)>>,
    /// `#this` stack for selections and projections.
    this: RefCell<Vec<Value>>,
    steps: Cell<u32>,
    depth: Cell<u32>,
}

impl<'s> Ev<'s> {
    pub(crate) fn new(env: &'s Env<'_>) -> Self {
        Ev {
            sc: Scope {
                input: env.input,
                intents: env.intents,
                entities: env.entities,
                context: &*env.context,
                output: &*env.output,
                event: env.event,
                flags: env.flags,
                now: env.now,
                timezone: env.timezone,
            },
            writes: RefCell::new(Vec::new()),
            logs: RefCell::new(Vec::new()),
            locals: RefCell::new(Vec::new()),
            this: RefCell::new(Vec::new()),
            steps: Cell::new(0),
            depth: Cell::new(0),
        }
    }

    pub(crate) fn into_parts(self) -> (Vec<Write>, Vec<LogMessage>) {
        (self.writes.into_inner(), self.logs.into_inner())
    }

    pub(crate) fn log(&self, level: &'static str, message: String) {
        let mut logs = self.logs.borrow_mut();
        if logs.len() < 100 {
            logs.push(LogMessage {
                level,
                message,
                code: None,
            });
        }
    }

    /// A request to the caller (never dropped by the diagnostics cap).
    pub(crate) fn signal(&self, code: &'static str, message: String) {
        self.logs.borrow_mut().push(LogMessage {
            level: "info",
            message,
            code: Some(code),
        });
    }

    /// Evaluate a node.
    pub(crate) fn eval<'a>(&'a self, node: &'a Node) -> Out<'a> {
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        if steps > MAX_STEPS {
            return Err(EvalError::new("expression too expensive to evaluate"));
        }
        let depth = self.depth.get() + 1;
        if depth > MAX_EVAL_DEPTH {
            return Err(EvalError::new("expression nested too deeply"));
        }
        self.depth.set(depth);
        let r = self.eval_inner(node);
        self.depth.set(depth - 1);
        r
    }

    /// Evaluate a node for its truth value (conditions), without materializing booleans.
    pub(crate) fn truth(&self, node: &Node) -> Result<bool, EvalError> {
        match node {
            Node::And(a, b) => Ok(self.truth(a)? && self.truth(b)?),
            Node::Or(a, b) => Ok(self.truth(a)? || self.truth(b)?),
            Node::Not(a) => Ok(!self.truth(a)?),
            Node::Intent(name) => Ok(shorthand::intent_is(self.sc.intents, name)),
            Node::EntityHas(name, v) => Ok(shorthand::entity_has(&self.sc, name, v)),
            Node::Special(s) => Ok(self.special(*s)),
            Node::Lit(v) => Ok(truthy(v)),
            Node::Var(name) => Ok(truthy(&self.var(name))),
            Node::VarIs(name, v) => Ok(shorthand::equals_str(&self.var(name), v)),
            Node::Bin(op @ (BinOp::Eq | BinOp::Ne), a, b) => {
                let l = self.eval(a)?;
                let r = self.eval(b)?;
                Ok(operators::equals(&l, &r) == (*op == BinOp::Eq))
            }
            _ => Ok(truthy(&*self.eval(node)?)),
        }
    }

    fn eval_inner<'a>(&'a self, node: &'a Node) -> Out<'a> {
        match node {
            Node::Lit(v) => Ok(Cow::Borrowed(v)),
            Node::Intent(name) => Ok(boolean(shorthand::intent_is(self.sc.intents, name))),
            Node::Entity(name) => Ok(shorthand::entity_value(&self.sc, name)),
            Node::EntityProp(name, prop) => Ok(shorthand::entity_prop(&self.sc, name, prop)),
            Node::EntityHas(name, v) => Ok(boolean(shorthand::entity_has(&self.sc, name, v))),
            Node::Var(name) => Ok(self.var(name)),
            Node::VarIs(name, v) => Ok(boolean(shorthand::equals_str(&self.var(name), v))),
            Node::Special(s) => Ok(boolean(self.special(*s))),
            Node::Global(g) => Ok(self.global(*g)),
            Node::This => Ok(Cow::Owned(
                self.this.borrow().last().cloned().unwrap_or(Value::Null),
            )),
            Node::Root => Ok(Cow::Owned(self.root())),
            Node::Ident(name) => {
                let locals = self.locals.borrow();
                match locals.iter().rev().find(|(n, _)| **n == **name) {
                    Some((_, v)) => Ok(Cow::Owned(v.clone())),
                    None => Ok(Cow::Borrowed(&NULL)),
                }
            }
            Node::Not(a) => Ok(boolean(!self.truth(a)?)),
            Node::Neg(a) => Ok(Cow::Owned(operators::negate(&*self.eval(a)?)?)),
            Node::And(a, b) => Ok(boolean(self.truth(a)? && self.truth(b)?)),
            Node::Or(a, b) => Ok(boolean(self.truth(a)? || self.truth(b)?)),
            Node::Bin(op, a, b) => self.binary(*op, a, b),
            Node::Ternary(c, a, b) => {
                if self.truth(c)? {
                    self.eval(a)
                } else {
                    self.eval(b)
                }
            }
            Node::Elvis(a, b) => {
                let v = self.eval(a)?;
                if v.is_null() || v.as_str() == Some("") {
                    self.eval(b)
                } else {
                    Ok(v)
                }
            }
            Node::Prop { obj, name } => self.prop(obj, name),
            Node::Index { obj, idx } => self.index(obj, idx),
            Node::Method(m) => self.method(m),
            Node::Func(name, args) => {
                let args = self.eval_args(args)?;
                Ok(Cow::Owned(globals::func(self, name, &args)?))
            }
            Node::Static(ty, name, args) => {
                let args = self.eval_args(args)?;
                Ok(Cow::Owned(globals::static_call(self, ty, name, &args)?))
            }
            Node::New(ty, args) => {
                let args = self.eval_args(args)?;
                Ok(Cow::Owned(globals::construct(self, ty, &args)?))
            }
            Node::Project(obj, e) => self.project(obj, e),
            Node::Select(obj, e, kind) => self.select(obj, e, *kind),
            Node::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(i)?.into_owned());
                }
                Ok(Cow::Owned(Value::Array(out)))
            }
            Node::Map(kv) => {
                let mut out = Map::new();
                for (k, v) in kv {
                    out.insert(k.to_string(), self.eval(v)?.into_owned());
                }
                Ok(Cow::Owned(Value::Object(out)))
            }
        }
    }

    fn eval_args<'a>(&'a self, args: &'a [Node]) -> Result<Vec<Cow<'a, Value>>, EvalError> {
        args.iter().map(|a| self.eval(a)).collect()
    }

    fn special(&self, s: Special) -> bool {
        let f = &self.sc.flags;
        match s {
            Special::AnythingElse => true,
            Special::Welcome => f.welcome,
            Special::ConversationStart => f.conversation_start,
            Special::Irrelevant => shorthand::irrelevant(self.sc.intents),
            Special::AllSlotsFilled => f.all_slots_filled,
            Special::HasSkippedSlots => f.has_skipped_slots,
            Special::SlotInFocus => f.slot_in_focus,
            Special::ReturningFromDigression => f.returning_from_digression,
        }
    }

    fn root(&self) -> Value {
        let mut m = Map::new();
        m.insert("input".into(), self.sc.input.clone());
        m.insert("intents".into(), Value::Array(self.sc.intents.to_vec()));
        m.insert("entities".into(), Value::Array(self.sc.entities.to_vec()));
        m.insert(
            "context".into(),
            self.place_value(&Place::root(Root::Context)),
        );
        m.insert(
            "output".into(),
            self.place_value(&Place::root(Root::Output)),
        );
        Value::Object(m)
    }

    fn has_writes(&self) -> bool {
        !self.writes.borrow().is_empty()
    }

    /// `$name`.
    pub(crate) fn var<'a>(&'a self, name: &str) -> Cow<'a, Value> {
        if self.has_writes() {
            return Cow::Owned(self.place_value(&Place {
                root: Root::Context,
                path: vec![Seg::Key(name.to_string())],
            }));
        }
        Cow::Borrowed(value::map_get(self.sc.context, name).unwrap_or(&NULL))
    }

    fn global<'a>(&'a self, g: Global) -> Cow<'a, Value> {
        match g {
            Global::Input => Cow::Borrowed(self.sc.input),
            Global::Intents => Cow::Owned(Value::Array(self.sc.intents.to_vec())),
            Global::Intent => Cow::Borrowed(self.sc.intents.first().unwrap_or(&NULL)),
            Global::Entities => Cow::Owned(Value::Array(self.sc.entities.to_vec())),
            Global::Context => Cow::Owned(self.place_value(&Place::root(Root::Context))),
            Global::Output => {
                if self.has_writes() {
                    Cow::Owned(self.place_value(&Place::root(Root::Output)))
                } else {
                    Cow::Borrowed(self.sc.output)
                }
            }
            Global::Event => Cow::Borrowed(self.sc.event),
        }
    }

    fn binary<'a>(&'a self, op: BinOp, a: &'a Node, b: &'a Node) -> Out<'a> {
        let l = self.eval(a)?;
        let r = self.eval(b)?;
        let out = match op {
            BinOp::Eq => return Ok(boolean(operators::equals(&l, &r))),
            BinOp::Ne => return Ok(boolean(!operators::equals(&l, &r))),
            BinOp::Lt => {
                return Ok(boolean(
                    operators::compare(&l, &r)?.is_some_and(|o| o.is_lt()),
                ))
            }
            BinOp::Le => {
                return Ok(boolean(
                    operators::compare(&l, &r)?.is_some_and(|o| o.is_le()),
                ))
            }
            BinOp::Gt => {
                return Ok(boolean(
                    operators::compare(&l, &r)?.is_some_and(|o| o.is_gt()),
                ))
            }
            BinOp::Ge => {
                return Ok(boolean(
                    operators::compare(&l, &r)?.is_some_and(|o| o.is_ge()),
                ))
            }
            BinOp::Matches => {
                let s = value::java_string(&l);
                let pat = value::java_string(&r);
                let re = regexes::cached(&regexes::anchored(&pat)).map_err(EvalError::new)?;
                return Ok(boolean(re.is_match(&s)));
            }
            _ => operators::arith(op, &l, &r)?,
        };
        Ok(Cow::Owned(out))
    }

    fn prop<'a>(&'a self, obj: &'a Node, name: &str) -> Out<'a> {
        match obj {
            Node::Global(Global::Context) => return Ok(self.var(name)),
            Node::Global(Global::Entities) => {
                return Ok(shorthand::mentions_array(&self.sc, name, false))
            }
            _ => {}
        }
        let o = self.eval(obj)?;
        Ok(get_prop(o, name))
    }

    fn index<'a>(&'a self, obj: &'a Node, idx: &'a Node) -> Out<'a> {
        let i = self.eval(idx)?;
        match obj {
            Node::Global(Global::Context) => {
                if let Value::String(name) = &*i {
                    return Ok(self.var(name));
                }
            }
            Node::Global(Global::Entities) => {
                if let Value::String(name) = &*i {
                    return Ok(shorthand::mentions_array(&self.sc, name, false));
                }
                if let Some(n) = int_arg(&i) {
                    return Ok(Cow::Borrowed(slice_get(self.sc.entities, n)));
                }
            }
            Node::Global(Global::Intents) => {
                if let Some(n) = int_arg(&i) {
                    return Ok(Cow::Borrowed(slice_get(self.sc.intents, n)));
                }
            }
            _ => {}
        }
        let o = self.eval(obj)?;
        Ok(get_index(o, &i))
    }

    fn method<'a>(&'a self, m: &'a MethodCall) -> Out<'a> {
        let name: &str = &m.name;
        // Slices of the turn: answer common questions without copying them.
        if let Node::Global(g @ (Global::Intents | Global::Entities)) = &m.obj {
            let slice = if *g == Global::Intents {
                self.sc.intents
            } else {
                self.sc.entities
            };
            match name {
                "size" | "length" if m.args.is_empty() => {
                    return Ok(Cow::Owned(value::int(slice.len() as i64)))
                }
                "isEmpty" if m.args.is_empty() => return Ok(boolean(slice.is_empty())),
                "get" if m.args.len() == 1 => {
                    let i = self.eval(&m.args[0])?;
                    return Ok(Cow::Borrowed(
                        int_arg(&i).map_or(&NULL, |n| slice_get(slice, n)),
                    ));
                }
                "containsIntent" => {
                    let args = self.eval_args(&m.args)?;
                    return Ok(boolean(shorthand::contains_intent(slice, &args)?));
                }
                _ => {}
            }
        }
        if name == "filter" {
            return self.filter(m);
        }
        if methods::is_mutating(name) {
            if let Some(place) = self.place_of(&m.obj)? {
                let mut current = self.place_value(&place);
                let args: Vec<Value> = m
                    .args
                    .iter()
                    .map(|a| self.eval(a).map(Cow::into_owned))
                    .collect::<Result<_, _>>()?;
                if let Some(ret) = methods::mutate(self, name, &mut current, &args, &place)? {
                    if value::weight(&current, value::MAX_WEIGHT) > value::MAX_WEIGHT {
                        return Err(EvalError::new(format!(
                            "`{name}` would make a value larger than {} JSON nodes",
                            value::MAX_WEIGHT
                        )));
                    }
                    self.push_write(place, current);
                    return Ok(Cow::Owned(ret));
                }
                let refs: Vec<Cow<'_, Value>> = args.into_iter().map(Cow::Owned).collect();
                return Ok(Cow::Owned(methods::call(
                    self,
                    name,
                    &current,
                    &refs,
                    m.regex.as_deref(),
                )?));
            }
        }
        let recv = self.eval(&m.obj)?;
        if recv.is_null() && m.safe {
            return Ok(Cow::Borrowed(&NULL));
        }
        // Up to three arguments without allocating.
        if m.args.len() <= 3 {
            let mut buf: [Cow<'a, Value>; 3] = [
                Cow::Borrowed(&NULL),
                Cow::Borrowed(&NULL),
                Cow::Borrowed(&NULL),
            ];
            for (slot, a) in buf.iter_mut().zip(&m.args) {
                *slot = self.eval(a)?;
            }
            let args = &buf[..m.args.len()];
            return Ok(Cow::Owned(methods::call(
                self,
                name,
                &recv,
                args,
                m.regex.as_deref(),
            )?));
        }
        let args = self.eval_args(&m.args)?;
        Ok(Cow::Owned(methods::call(
            self,
            name,
            &recv,
            &args,
            m.regex.as_deref(),
        )?))
    }

    /// `array.filter(tmp, "tmp.prop op value")`.
    fn filter<'a>(&'a self, m: &'a MethodCall) -> Out<'a> {
        let recv = self.eval(&m.obj)?;
        let Value::Array(items) = &*recv else {
            if recv.is_null() {
                return Err(EvalError::new("method `filter` called on null"));
            }
            return Err(EvalError::new(format!(
                "method `filter` is not defined on {}",
                value::type_name(&recv)
            )));
        };
        let (var, cond) = match (m.args.first(), m.args.get(1)) {
            (Some(Node::Ident(v)), Some(c)) => (v.clone(), c),
            (Some(Node::Lit(Value::String(v))), Some(c)) => (v.as_str().into(), c),
            _ => {
                return Err(EvalError::new(
                    "filter needs a variable name and a condition string",
                ))
            }
        };
        let runtime;
        let sub: &Node = match &m.sub {
            Some(s) => s,
            None => {
                let text = self.eval(cond)?;
                let text = text
                    .as_str()
                    .ok_or_else(|| EvalError::new("filter condition must be a string"))?;
                runtime = crate::parser::parse(text)
                    .map_err(|e| EvalError::new(format!("bad filter condition: {e}")))?;
                &runtime
            }
        };
        let mut out = Vec::new();
        for item in items {
            self.locals.borrow_mut().push((var.clone(), item.clone()));
            let keep = self.eval(sub).map(|v| truthy(&v));
            self.locals.borrow_mut().pop();
            if keep? {
                out.push(item.clone());
            }
        }
        Ok(Cow::Owned(Value::Array(out)))
    }

    fn project<'a>(&'a self, obj: &'a Node, e: &'a Node) -> Out<'a> {
        let recv = self.eval(obj)?;
        let items: Vec<Value> = match &*recv {
            Value::Array(items) => items.clone(),
            Value::Null => return Ok(Cow::Borrowed(&NULL)),
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| {
                    let mut e = Map::new();
                    e.insert("key".into(), Value::String(k.clone()));
                    e.insert("value".into(), v.clone());
                    Value::Object(e)
                })
                .collect(),
            other => vec![other.clone()],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.with_this(item, e)?);
        }
        Ok(Cow::Owned(Value::Array(out)))
    }

    fn select<'a>(&'a self, obj: &'a Node, e: &'a Node, kind: SelectKind) -> Out<'a> {
        let recv = self.eval(obj)?;
        let items: Vec<Value> = match &*recv {
            Value::Array(items) => items.clone(),
            Value::Null => return Ok(Cow::Borrowed(&NULL)),
            other => {
                return Err(EvalError::new(format!(
                    "selection is not supported on {}",
                    value::type_name(other)
                )))
            }
        };
        let mut out = Vec::new();
        for item in items {
            if truthy(&self.with_this(item.clone(), e)?) {
                if kind == SelectKind::First {
                    return Ok(Cow::Owned(item));
                }
                out.push(item);
            }
        }
        Ok(Cow::Owned(match kind {
            SelectKind::All => Value::Array(out),
            SelectKind::First => Value::Null,
            SelectKind::Last => out.pop().unwrap_or(Value::Null),
        }))
    }

    /// Evaluate `e` with `#this` bound to `item`; a bare property name reads from `item`.
    fn with_this(&self, item: Value, e: &Node) -> Result<Value, EvalError> {
        // In SpEL a bare name inside `.![name]` is a property of the element.
        if let Node::Ident(name) = e {
            return Ok(get_prop(Cow::Owned(item), name).into_owned());
        }
        let bare_props: Vec<(Box<str>, Value)> = match &item {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| (Box::<str>::from(k.as_str()), v.clone()))
                .collect(),
            _ => Vec::new(),
        };
        let n = bare_props.len();
        self.locals.borrow_mut().extend(bare_props);
        self.this.borrow_mut().push(item);
        let r = self.eval(e).map(Cow::into_owned);
        self.this.borrow_mut().pop();
        {
            let mut l = self.locals.borrow_mut();
            let keep = l.len().saturating_sub(n);
            l.truncate(keep);
        }
        r
    }

    /// The context/output location a mutating method acts on, if the receiver names one.
    fn place_of(&self, node: &Node) -> Result<Option<Place>, EvalError> {
        Ok(match node {
            Node::Var(name) => Some(Place {
                root: Root::Context,
                path: vec![Seg::Key(name.to_string())],
            }),
            Node::Global(Global::Context) => Some(Place::root(Root::Context)),
            Node::Global(Global::Output) => Some(Place::root(Root::Output)),
            Node::Prop { obj, name, .. } => self.place_of(obj)?.map(|mut p| {
                p.path.push(Seg::Key(name.to_string()));
                p
            }),
            Node::Index { obj, idx, .. } => match self.place_of(obj)? {
                Some(mut p) => {
                    let i = self.eval(idx)?;
                    match &*i {
                        Value::String(s) => p.path.push(Seg::Key(s.clone())),
                        other => match int_arg(other) {
                            Some(n) if n >= 0 => p.path.push(Seg::Index(n as usize)),
                            _ => return Ok(None),
                        },
                    }
                    Some(p)
                }
                None => None,
            },
            _ => None,
        })
    }

    /// The current value at a place, including this evaluation's pending writes.
    pub(crate) fn place_value(&self, place: &Place) -> Value {
        let writes = self.writes.borrow();
        let same_root = |w: &&Write| w.place.root == place.root;
        // The newest write at or above the place supersedes everything before it.
        let covering = writes
            .iter()
            .rposition(|w| w.place.root == place.root && place.path.starts_with(&w.place.path));
        let (mut v, later) = match covering {
            Some(i) => {
                let w = &writes[i];
                (
                    navigate(&w.value, &place.path[w.place.path.len()..]).clone(),
                    &writes[i + 1..],
                )
            }
            None => (
                match place.root {
                    Root::Context => match place.path.split_first() {
                        None => Value::Object(self.sc.context.clone()),
                        Some((Seg::Key(k), rest)) => {
                            navigate(self.sc.context.get(k).unwrap_or(&NULL), rest).clone()
                        }
                        Some((Seg::Index(_), _)) => Value::Null,
                    },
                    Root::Output => navigate(self.sc.output, &place.path).clone(),
                },
                &writes[..],
            ),
        };
        for w in later.iter().filter(same_root) {
            if w.place.path.len() > place.path.len() && w.place.path.starts_with(&place.path) {
                set_at(&mut v, &w.place.path[place.path.len()..], w.value.clone());
            }
        }
        v
    }

    /// Record a write; earlier writes at or below the same place are superseded.
    fn push_write(&self, place: Place, value: Value) {
        let mut writes = self.writes.borrow_mut();
        writes.retain(|w| !(w.place.root == place.root && w.place.path.starts_with(&place.path)));
        writes.push(Write { place, value });
    }
}

impl Place {
    pub(crate) fn root(root: Root) -> Place {
        Place {
            root,
            path: Vec::new(),
        }
    }
}

fn slice_get(slice: &[Value], n: i64) -> &Value {
    if n < 0 {
        return &NULL;
    }
    slice.get(n as usize).unwrap_or(&NULL)
}

fn navigate<'v>(mut v: &'v Value, path: &[Seg]) -> &'v Value {
    for seg in path {
        v = match (seg, v) {
            (Seg::Key(k), Value::Object(m)) => m.get(k).unwrap_or(&NULL),
            (Seg::Index(i), Value::Array(a)) => a.get(*i).unwrap_or(&NULL),
            _ => &NULL,
        };
    }
    v
}

/// Set `new` at `path` inside `v`, creating objects for missing keys.
pub(crate) fn set_at(v: &mut Value, path: &[Seg], new: Value) {
    let Some((first, rest)) = path.split_first() else {
        *v = new;
        return;
    };
    match first {
        Seg::Key(k) => {
            if !v.is_object() {
                *v = Value::Object(Map::new());
            }
            if let Value::Object(m) = v {
                set_at(m.entry(k.clone()).or_insert(Value::Null), rest, new);
            }
        }
        Seg::Index(i) => {
            if let Value::Array(a) = v {
                if let Some(slot) = a.get_mut(*i) {
                    set_at(slot, rest, new);
                }
            }
        }
    }
}

/// Apply the writes of an evaluation to the environment.
pub(crate) fn apply_writes(env: &mut Env<'_>, writes: Vec<Write>) {
    for w in writes {
        match w.place.root {
            Root::Context => match w.place.path.split_first() {
                None => {
                    if let Value::Object(m) = w.value {
                        *env.context = m;
                    }
                }
                Some((Seg::Key(k), rest)) => {
                    set_at(
                        env.context.entry(k.clone()).or_insert(Value::Null),
                        rest,
                        w.value,
                    );
                }
                Some((Seg::Index(_), _)) => {}
            },
            Root::Output => set_at(env.output, &w.place.path, w.value),
        }
    }
}

/// `v.name`: a field of an object; on an array, the field of its first element (Watson's
/// `entities['x'].value` reads the first mention).
pub(crate) fn get_prop<'a>(o: Cow<'a, Value>, name: &str) -> Cow<'a, Value> {
    match o {
        Cow::Borrowed(v) => Cow::Borrowed(prop_ref(v, name)),
        Cow::Owned(Value::Object(mut m)) => Cow::Owned(m.remove(name).unwrap_or(Value::Null)),
        Cow::Owned(v) => Cow::Owned(prop_ref(&v, name).clone()),
    }
}

fn prop_ref<'v>(v: &'v Value, name: &str) -> &'v Value {
    match v {
        Value::Object(m) => value::map_get(m, name).unwrap_or(&NULL),
        Value::Array(a) => match a.first() {
            Some(first @ Value::Object(_)) => prop_ref(first, name),
            _ => &NULL,
        },
        _ => &NULL,
    }
}

/// `v[i]`.
pub(crate) fn get_index<'a>(o: Cow<'a, Value>, i: &Value) -> Cow<'a, Value> {
    if let (Value::String(s), Some(n)) = (&*o, int_arg(i)) {
        if i.is_number() {
            return Cow::Owned(
                usize::try_from(n)
                    .ok()
                    .and_then(|n| s.chars().nth(n))
                    .map_or(Value::Null, |c| Value::String(c.to_string())),
            );
        }
    }
    match (o, i) {
        (o, Value::String(k)) => get_prop(o, k),
        (Cow::Borrowed(Value::Array(a)), i) => Cow::Borrowed(
            int_arg(i)
                .and_then(|n| usize::try_from(n).ok())
                .and_then(|n| a.get(n))
                .unwrap_or(&NULL),
        ),
        (Cow::Owned(Value::Array(mut a)), i) => {
            Cow::Owned(match int_arg(i).and_then(|n| usize::try_from(n).ok()) {
                Some(n) if n < a.len() => a.swap_remove(n),
                _ => Value::Null,
            })
        }
        (o, i @ Value::Number(_)) => get_prop(o, &i.to_string()),
        _ => Cow::Borrowed(&NULL),
    }
}
