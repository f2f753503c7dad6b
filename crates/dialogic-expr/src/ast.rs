//! The syntax tree produced by the parser. Shorthand is kept as its own nodes (rather than
//! rewritten to SpEL text) so evaluation can borrow from the turn's data without allocating.

use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

/// Binary operators other than the short-circuiting `&&` / `||`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// SpEL `a matches 'regex'`.
    Matches,
}

/// Special names whose value the engine supplies (spec §3.9, §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    AnythingElse,
    Welcome,
    ConversationStart,
    Irrelevant,
    AllSlotsFilled,
    HasSkippedSlots,
    SlotInFocus,
    ReturningFromDigression,
}

/// Global objects (spec §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Global {
    Input,
    Intents,
    /// `intent`: the top intent object.
    Intent,
    Entities,
    Context,
    Output,
    Event,
}

/// Kinds of SpEL collection selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SelectKind {
    All,
    First,
    Last,
}

/// A node of the tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Lit(Value),
    /// `#name`: top intent is `name` with confidence >= 0.2.
    Intent(Box<str>),
    /// `@name`: value of the first mention.
    Entity(Box<str>),
    /// `@name.prop`: a property of the first mention (`literal`, `values`, `groups`...).
    EntityProp(Box<str>, Box<str>),
    /// `@name:value`: any mention has this value.
    EntityHas(Box<str>, Box<str>),
    /// `$name`.
    Var(Box<str>),
    /// `$name:value`.
    VarIs(Box<str>, Box<str>),
    Special(Special),
    Global(Global),
    /// `#this` in selections and projections.
    This,
    /// `#root`.
    Root,
    /// A bare identifier: a local (filter variable) or an unknown name (null).
    Ident(Box<str>),
    Not(Box<Node>),
    Neg(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    Ternary(Box<Node>, Box<Node>, Box<Node>),
    Elvis(Box<Node>, Box<Node>),
    /// `a.b` / `a?.b` (property access is null-safe either way).
    Prop {
        obj: Box<Node>,
        name: Box<str>,
    },
    Index {
        obj: Box<Node>,
        idx: Box<Node>,
    },
    Method(Box<MethodCall>),
    /// A function call without receiver: `now()`, `today()`, `clearDialogStack()`.
    Func(Box<str>, Vec<Node>),
    /// `T(Math).max(a, b)`: type name (last segment), method, arguments.
    Static(Box<str>, Box<str>, Vec<Node>),
    /// `new Date()`, `new JSONArray()`.
    New(Box<str>, Vec<Node>),
    Project(Box<Node>, Box<Node>),
    Select(Box<Node>, Box<Node>, SelectKind),
    List(Vec<Node>),
    Map(Vec<(Box<str>, Node)>),
}

/// `obj.name(args)`.
#[derive(Debug, Clone)]
pub(crate) struct MethodCall {
    pub obj: Node,
    pub name: Box<str>,
    pub args: Vec<Node>,
    pub safe: bool,
    /// The regex of a method whose first argument is a literal pattern, compiled once.
    pub regex: Option<Arc<Regex>>,
    /// The compiled condition of `filter(var, "condition")` when it is a literal.
    pub sub: Option<Arc<Node>>,
}

impl Node {
    /// True when evaluating the node may change the context or output.
    pub(crate) fn may_mutate(&self) -> bool {
        match self {
            Node::Method(m) => {
                crate::methods::is_mutating(&m.name)
                    || m.obj.may_mutate()
                    || m.args.iter().any(Node::may_mutate)
            }
            Node::Func(name, args) => {
                &**name == "clearDialogStack" || args.iter().any(Node::may_mutate)
            }
            Node::Not(a) | Node::Neg(a) => a.may_mutate(),
            Node::And(a, b)
            | Node::Or(a, b)
            | Node::Bin(_, a, b)
            | Node::Elvis(a, b)
            | Node::Project(a, b)
            | Node::Select(a, b, _) => a.may_mutate() || b.may_mutate(),
            Node::Ternary(a, b, c) => a.may_mutate() || b.may_mutate() || c.may_mutate(),
            Node::Prop { obj, .. } => obj.may_mutate(),
            Node::Index { obj, idx, .. } => obj.may_mutate() || idx.may_mutate(),
            Node::Static(_, _, args) | Node::New(_, args) | Node::List(args) => {
                args.iter().any(Node::may_mutate)
            }
            Node::Map(kv) => kv.iter().any(|(_, v)| v.may_mutate()),
            _ => false,
        }
    }
}
