//! Recursive-descent parser: tokens to [`Node`]s, with SpEL precedence
//! (ternary < or < and < comparison < additive < multiplicative < power < unary < postfix).

use std::sync::Arc;

use serde_json::{Map, Number, Value};

use crate::ast::{BinOp, Global, MethodCall, Node, SelectKind, Special};
use crate::lexer::{Lexer, Tok, Token};
use crate::{methods, regexes, CompileError};

/// Deepest nesting the parser accepts (keeps evaluation recursion bounded too).
pub(crate) const MAX_DEPTH: usize = 96;

/// Parse a whole expression.
pub(crate) fn parse(src: &str) -> Result<Node, CompileError> {
    let toks = Lexer::new(src).tokenize()?;
    if toks.len() == 1 {
        // Empty (or all-blank) condition: never true.
        return Ok(Node::Lit(Value::Null));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let node = p.expr()?;
    let t = p.peek_token();
    if t.tok != Tok::Eof {
        return Err(CompileError {
            message: format!(
                "unexpected {} after the end of the expression",
                describe(&t.tok)
            ),
            span: (t.start, t.end),
        });
    }
    Ok(node)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Int(i) => format!("number `{i}`"),
        Tok::Float(f) => format!("number `{f}`"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Hash(s) => format!("`#{s}`"),
        Tok::Entity(s, _) => format!("`@{s}`"),
        Tok::Var(s, _) => format!("`${s}`"),
        Tok::Eof => "end of expression".to_string(),
        other => format!("`{}`", symbol(other)),
    }
}

fn symbol(t: &Tok) -> &'static str {
    match t {
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::LBrack => "[",
        Tok::RBrack => "]",
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::Comma => ",",
        Tok::Dot => ".",
        Tok::SafeDot => "?.",
        Tok::Project => ".![",
        Tok::Select => ".?[",
        Tok::SelectFirst => ".^[",
        Tok::SelectLast => ".$[",
        Tok::Question => "?",
        Tok::Colon => ":",
        Tok::Elvis => "?:",
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::Percent => "%",
        Tok::Caret => "^",
        Tok::Bang => "!",
        Tok::AndAnd => "&&",
        Tok::OrOr => "||",
        Tok::EqEq => "==",
        Tok::Ne => "!=",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        _ => "token",
    }
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

fn bx(n: Node) -> Box<Node> {
    Box::new(n)
}

impl Parser {
    fn peek_token(&self) -> Token {
        self.toks[self.pos.min(self.toks.len() - 1)].clone()
    }
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }
    fn peek2(&self) -> &Tok {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)].tok
    }
    fn advance(&mut self) -> Token {
        let t = self.peek_token();
        // Past the end `peek` keeps returning Eof; counting on lets `pos -= 1` undo any advance.
        self.pos += 1;
        t
    }
    fn error<T>(&self, message: String) -> Result<T, CompileError> {
        let t = &self.toks[self.pos.min(self.toks.len() - 1)];
        Err(CompileError {
            message,
            span: (t.start, t.end),
        })
    }
    fn expect(&mut self, want: Tok) -> Result<(), CompileError> {
        if *self.peek() == want {
            self.advance();
            Ok(())
        } else {
            self.error(format!(
                "expected `{}`, found {}",
                symbol(&want),
                describe(self.peek())
            ))
        }
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(w))
    }

    fn enter(&mut self) -> Result<(), CompileError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error(format!("expression nested deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Node, CompileError> {
        self.enter()?;
        let r = self.ternary();
        self.depth -= 1;
        r
    }

    fn ternary(&mut self) -> Result<Node, CompileError> {
        let cond = self.or()?;
        match self.peek() {
            Tok::Question => {
                self.advance();
                let a = self.expr()?;
                self.expect(Tok::Colon)?;
                let b = self.expr()?;
                Ok(Node::Ternary(bx(cond), bx(a), bx(b)))
            }
            Tok::Elvis => {
                self.advance();
                let b = self.expr()?;
                Ok(Node::Elvis(bx(cond), bx(b)))
            }
            _ => Ok(cond),
        }
    }

    fn or(&mut self) -> Result<Node, CompileError> {
        let saved = self.depth;
        let r = self.or_inner();
        self.depth = saved;
        r
    }

    fn or_inner(&mut self) -> Result<Node, CompileError> {
        let mut l = self.and()?;
        while *self.peek() == Tok::OrOr || self.is_word("or") {
            self.enter()?;
            self.advance();
            let r = self.and()?;
            l = Node::Or(bx(l), bx(r));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Node, CompileError> {
        let saved = self.depth;
        let r = self.and_inner();
        self.depth = saved;
        r
    }

    fn and_inner(&mut self) -> Result<Node, CompileError> {
        let mut l = self.relational()?;
        while *self.peek() == Tok::AndAnd || self.is_word("and") {
            self.enter()?;
            self.advance();
            let r = self.relational()?;
            l = Node::And(bx(l), bx(r));
        }
        Ok(l)
    }

    fn rel_op(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::EqEq => BinOp::Eq,
            Tok::Ne => BinOp::Ne,
            Tok::Lt => BinOp::Lt,
            Tok::Le => BinOp::Le,
            Tok::Gt => BinOp::Gt,
            Tok::Ge => BinOp::Ge,
            Tok::Ident(w) => match w.to_ascii_lowercase().as_str() {
                "eq" => BinOp::Eq,
                "ne" => BinOp::Ne,
                "lt" => BinOp::Lt,
                "le" => BinOp::Le,
                "gt" => BinOp::Gt,
                "ge" => BinOp::Ge,
                "matches" => BinOp::Matches,
                _ => return None,
            },
            _ => return None,
        })
    }

    fn relational(&mut self) -> Result<Node, CompileError> {
        let saved = self.depth;
        let r = self.relational_inner();
        self.depth = saved;
        r
    }

    fn relational_inner(&mut self) -> Result<Node, CompileError> {
        let mut l = self.additive()?;
        while let Some(op) = self.rel_op() {
            self.enter()?;
            self.advance();
            let r = self.additive()?;
            l = Node::Bin(op, bx(l), bx(r));
        }
        Ok(l)
    }

    fn additive(&mut self) -> Result<Node, CompileError> {
        let saved = self.depth;
        let r = self.additive_inner();
        self.depth = saved;
        r
    }

    fn additive_inner(&mut self) -> Result<Node, CompileError> {
        let mut l = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(l),
            };
            self.enter()?;
            self.advance();
            let r = self.multiplicative()?;
            l = Node::Bin(op, bx(l), bx(r));
        }
    }

    fn multiplicative(&mut self) -> Result<Node, CompileError> {
        let saved = self.depth;
        let r = self.multiplicative_inner();
        self.depth = saved;
        r
    }

    fn multiplicative_inner(&mut self) -> Result<Node, CompileError> {
        let mut l = self.power()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                Tok::Percent => BinOp::Rem,
                Tok::Ident(w) if w.eq_ignore_ascii_case("div") => BinOp::Div,
                Tok::Ident(w) if w.eq_ignore_ascii_case("mod") => BinOp::Rem,
                _ => return Ok(l),
            };
            self.enter()?;
            self.advance();
            let r = self.power()?;
            l = Node::Bin(op, bx(l), bx(r));
        }
    }

    fn power(&mut self) -> Result<Node, CompileError> {
        let base = self.unary()?;
        if *self.peek() == Tok::Caret {
            self.advance();
            self.enter()?;
            let exp = self.power();
            self.depth -= 1;
            return Ok(Node::Bin(BinOp::Pow, bx(base), bx(exp?)));
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<Node, CompileError> {
        self.enter()?;
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> Result<Node, CompileError> {
        match self.peek() {
            Tok::Bang => {
                self.advance();
                Ok(Node::Not(bx(self.unary()?)))
            }
            Tok::Ident(w)
                if w.eq_ignore_ascii_case("not")
                    && !matches!(
                        self.peek2(),
                        Tok::Eof | Tok::Dot | Tok::RParen | Tok::Comma | Tok::EqEq | Tok::Ne
                    ) =>
            {
                self.advance();
                Ok(Node::Not(bx(self.unary()?)))
            }
            Tok::Minus => {
                self.advance();
                match self.unary()? {
                    Node::Lit(Value::Number(n)) => Ok(Node::Lit(negate_lit(&n))),
                    other => Ok(Node::Neg(bx(other))),
                }
            }
            Tok::Plus => {
                self.advance();
                self.unary()
            }
            _ => self.postfix(),
        }
    }

    fn postfix(&mut self) -> Result<Node, CompileError> {
        let saved = self.depth;
        let r = self.postfix_inner();
        self.depth = saved;
        r
    }

    fn postfix_inner(&mut self) -> Result<Node, CompileError> {
        let mut node = self.primary()?;
        loop {
            if !matches!(
                self.peek(),
                Tok::Dot
                    | Tok::SafeDot
                    | Tok::LBrack
                    | Tok::Project
                    | Tok::Select
                    | Tok::SelectFirst
                    | Tok::SelectLast
            ) {
                return Ok(node);
            }
            self.enter()?;
            match self.peek().clone() {
                Tok::Dot | Tok::SafeDot => {
                    let safe = *self.peek() == Tok::SafeDot;
                    self.advance();
                    let name = match self.advance().tok {
                        Tok::Ident(n) => n,
                        Tok::Int(i) => i.to_string(),
                        other => {
                            self.pos -= 1;
                            return self.error(format!(
                                "expected a property or method name after `.`, found {}",
                                describe(&other)
                            ));
                        }
                    };
                    if *self.peek() == Tok::LParen {
                        let args = self.args()?;
                        node = method(node, name, args, safe);
                    } else {
                        node = Node::Prop {
                            obj: bx(node),
                            name: name.into(),
                        };
                    }
                }
                Tok::LBrack => {
                    self.advance();
                    let idx = self.expr()?;
                    self.expect(Tok::RBrack)?;
                    node = Node::Index {
                        obj: bx(node),
                        idx: bx(idx),
                    };
                }
                Tok::Project => {
                    self.advance();
                    let e = self.expr()?;
                    self.expect(Tok::RBrack)?;
                    node = Node::Project(bx(node), bx(e));
                }
                t @ (Tok::Select | Tok::SelectFirst | Tok::SelectLast) => {
                    self.advance();
                    let e = self.expr()?;
                    self.expect(Tok::RBrack)?;
                    let kind = match t {
                        Tok::Select => SelectKind::All,
                        Tok::SelectFirst => SelectKind::First,
                        _ => SelectKind::Last,
                    };
                    node = Node::Select(bx(node), bx(e), kind);
                }
                _ => return Ok(node),
            }
        }
    }

    fn args(&mut self) -> Result<Vec<Node>, CompileError> {
        self.expect(Tok::LParen)?;
        let mut args = Vec::new();
        if *self.peek() == Tok::RParen {
            self.advance();
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            match self.advance().tok {
                Tok::Comma => continue,
                Tok::RParen => return Ok(args),
                other => {
                    self.pos -= 1;
                    return self.error(format!("expected `,` or `)`, found {}", describe(&other)));
                }
            }
        }
    }

    fn primary(&mut self) -> Result<Node, CompileError> {
        let t = self.advance();
        match t.tok {
            Tok::Int(i) => Ok(Node::Lit(Value::Number(i.into()))),
            Tok::Float(f) => Ok(Node::Lit(
                Number::from_f64(f).map_or(Value::Null, Value::Number),
            )),
            Tok::Str(s) => Ok(Node::Lit(Value::String(s))),
            Tok::Hash(name) => Ok(match name.as_str() {
                "this" => Node::This,
                "root" => Node::Root,
                _ => Node::Intent(name.into()),
            }),
            Tok::Entity(name, Some(v)) => Ok(Node::EntityHas(name.into(), v.into())),
            Tok::Entity(name, None) => {
                // `@e.literal` reads the mention; `@e.before(x)` calls a method on the value.
                if *self.peek() == Tok::Dot {
                    if let Tok::Ident(prop) = self.peek2().clone() {
                        let after = &self.toks[(self.pos + 2).min(self.toks.len() - 1)].tok;
                        if *after != Tok::LParen {
                            self.advance();
                            self.advance();
                            return Ok(Node::EntityProp(name.into(), prop.into()));
                        }
                    }
                }
                Ok(Node::Entity(name.into()))
            }
            Tok::Var(name, Some(v)) => Ok(Node::VarIs(name.into(), v.into())),
            Tok::Var(name, None) => Ok(Node::Var(name.into())),
            Tok::LParen => {
                let e = self.expr()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Tok::LBrack => {
                let mut items = Vec::new();
                if *self.peek() != Tok::RBrack {
                    loop {
                        items.push(self.expr()?);
                        match self.advance().tok {
                            Tok::Comma => continue,
                            Tok::RBrack => break,
                            other => {
                                self.pos -= 1;
                                return self.error(format!(
                                    "expected `,` or `]`, found {}",
                                    describe(&other)
                                ));
                            }
                        }
                    }
                } else {
                    self.advance();
                }
                Ok(fold_list(items))
            }
            Tok::LBrace => self.brace(),
            Tok::Ident(id) => self.ident(id),
            other => {
                self.pos -= 1;
                self.error(format!("expected a value, found {}", describe(&other)))
            }
        }
    }

    /// `{}` / `{a: 1, 'b': 2}` (a map) or `{1, 2}` (a SpEL inline list).
    fn brace(&mut self) -> Result<Node, CompileError> {
        if *self.peek() == Tok::RBrace {
            self.advance();
            return Ok(Node::Lit(Value::Object(Map::new())));
        }
        let is_map = matches!(self.peek(), Tok::Ident(_) | Tok::Str(_) | Tok::Int(_))
            && *self.peek2() == Tok::Colon;
        if !is_map {
            let mut items = Vec::new();
            loop {
                items.push(self.expr()?);
                match self.advance().tok {
                    Tok::Comma => continue,
                    Tok::RBrace => return Ok(fold_list(items)),
                    other => {
                        self.pos -= 1;
                        return self
                            .error(format!("expected `,` or `}}`, found {}", describe(&other)));
                    }
                }
            }
        }
        let mut kv: Vec<(Box<str>, Node)> = Vec::new();
        loop {
            let key = match self.advance().tok {
                Tok::Ident(s) | Tok::Str(s) => s,
                Tok::Int(i) => i.to_string(),
                other => {
                    self.pos -= 1;
                    return self.error(format!("expected a key, found {}", describe(&other)));
                }
            };
            self.expect(Tok::Colon)?;
            let v = self.expr()?;
            kv.push((key.into(), v));
            match self.advance().tok {
                Tok::Comma => continue,
                Tok::RBrace => break,
                other => {
                    self.pos -= 1;
                    return self.error(format!("expected `,` or `}}`, found {}", describe(&other)));
                }
            }
        }
        if kv.iter().all(|(_, v)| matches!(v, Node::Lit(_))) {
            let mut m = Map::new();
            for (k, v) in kv {
                if let Node::Lit(v) = v {
                    m.insert(k.into(), v);
                }
            }
            return Ok(Node::Lit(Value::Object(m)));
        }
        Ok(Node::Map(kv))
    }

    fn ident(&mut self, id: String) -> Result<Node, CompileError> {
        let lower = id.to_ascii_lowercase();
        match lower.as_str() {
            "true" => return Ok(Node::Lit(Value::Bool(true))),
            "false" => return Ok(Node::Lit(Value::Bool(false))),
            "null" => return Ok(Node::Lit(Value::Null)),
            _ => {}
        }
        if id == "T" && *self.peek() == Tok::LParen {
            return self.type_ref();
        }
        if id == "new" {
            if let Tok::Ident(_) = self.peek() {
                let mut ty = self.qualified_name()?;
                if let Some(i) = ty.rfind('.') {
                    ty = ty[i + 1..].to_string();
                }
                let args = if *self.peek() == Tok::LParen {
                    self.args()?
                } else {
                    Vec::new()
                };
                return Ok(Node::New(ty.into(), args));
            }
        }
        if *self.peek() == Tok::LParen {
            let args = self.args()?;
            return Ok(Node::Func(id.into(), args));
        }
        let special = match id.as_str() {
            "anything_else" => Some(Special::AnythingElse),
            "welcome" => Some(Special::Welcome),
            "conversation_start" => Some(Special::ConversationStart),
            "irrelevant" => Some(Special::Irrelevant),
            "all_slots_filled" => Some(Special::AllSlotsFilled),
            "has_skipped_slots" => Some(Special::HasSkippedSlots),
            "slot_in_focus" => Some(Special::SlotInFocus),
            "returning_from_digression" => Some(Special::ReturningFromDigression),
            _ => None,
        };
        if let Some(s) = special {
            return Ok(Node::Special(s));
        }
        let global = match id.as_str() {
            "input" => Some(Global::Input),
            "intents" => Some(Global::Intents),
            "intent" => Some(Global::Intent),
            "entities" => Some(Global::Entities),
            "context" => Some(Global::Context),
            "output" => Some(Global::Output),
            "event" => Some(Global::Event),
            _ => None,
        };
        Ok(match global {
            Some(g) => Node::Global(g),
            None => Node::Ident(id.into()),
        })
    }

    fn qualified_name(&mut self) -> Result<String, CompileError> {
        let mut name = match self.advance().tok {
            Tok::Ident(s) => s,
            other => {
                self.pos -= 1;
                return self.error(format!("expected a type name, found {}", describe(&other)));
            }
        };
        while *self.peek() == Tok::Dot {
            if let Tok::Ident(next) = self.peek2().clone() {
                self.advance();
                self.advance();
                name.push('.');
                name.push_str(&next);
            } else {
                break;
            }
        }
        Ok(name)
    }

    /// `T(java.lang.Math).max(1, 2)`.
    fn type_ref(&mut self) -> Result<Node, CompileError> {
        self.expect(Tok::LParen)?;
        let full = self.qualified_name()?;
        self.expect(Tok::RParen)?;
        let ty = full.rsplit('.').next().unwrap_or(&full).to_string();
        if *self.peek() != Tok::Dot {
            return self.error(format!("expected `.method(...)` after `T({full})`"));
        }
        self.advance();
        let name = match self.advance().tok {
            Tok::Ident(n) => n,
            other => {
                self.pos -= 1;
                return self.error(format!(
                    "expected a method name, found {}",
                    describe(&other)
                ));
            }
        };
        let args = if *self.peek() == Tok::LParen {
            self.args()?
        } else {
            Vec::new()
        };
        Ok(Node::Static(ty.into(), name.into(), args))
    }
}

fn negate_lit(n: &Number) -> Value {
    if let Some(i) = n.as_i64() {
        if let Some(v) = i.checked_neg() {
            return Value::Number(v.into());
        }
    }
    n.as_f64()
        .and_then(|f| Number::from_f64(-f))
        .map_or(Value::Null, Value::Number)
}

/// A list whose items are all literals becomes one literal array.
fn fold_list(items: Vec<Node>) -> Node {
    if items.iter().all(|n| matches!(n, Node::Lit(_))) {
        Node::Lit(Value::Array(
            items
                .into_iter()
                .map(|n| match n {
                    Node::Lit(v) => v,
                    _ => Value::Null,
                })
                .collect(),
        ))
    } else {
        Node::List(items)
    }
}

/// Build a method call, precompiling a literal regex or filter condition argument.
fn method(obj: Node, name: String, args: Vec<Node>, safe: bool) -> Node {
    let regex = if methods::takes_regex(&name) {
        match args.first() {
            Some(Node::Lit(Value::String(p))) if name == "matches" => {
                regexes::compile(&regexes::anchored(p)).ok()
            }
            Some(Node::Lit(Value::String(p))) => regexes::compile(p).ok(),
            _ => None,
        }
    } else {
        None
    };
    let sub = if name == "filter" {
        match args.get(1) {
            Some(Node::Lit(Value::String(cond))) => parse(cond).ok().map(Arc::new),
            _ => None,
        }
    } else {
        None
    };
    Node::Method(Box::new(MethodCall {
        obj,
        name: name.into(),
        args,
        safe,
        regex,
        sub,
    }))
}
