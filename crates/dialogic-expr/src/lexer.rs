//! Tokens of the expression language, including the Watson shorthand (`#intent`,
//! `@entity[:value]`, `$var[:value]`), produced with byte spans for error messages.

use crate::CompileError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Int(i64),
    Float(f64),
    Str(String),
    Ident(String),
    /// `#name` (an intent), or `#this` / `#root` (SpEL variables).
    Hash(String),
    /// `@name`, optionally with `:value` / `:(multi word)`.
    Entity(String, Option<String>),
    /// `$name` / `$(name)` / `${name}`, optionally with `:value`.
    Var(String, Option<String>),
    LParen,
    RParen,
    LBrack,
    RBrack,
    LBrace,
    RBrace,
    Comma,
    Dot,
    /// `?.`
    SafeDot,
    /// `.![`
    Project,
    /// `.?[`
    Select,
    /// `.^[`
    SelectFirst,
    /// `.$[`
    SelectLast,
    Question,
    Colon,
    /// `?:`
    Elvis,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Bang,
    AndAnd,
    OrOr,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Eof,
}

/// A token with its byte span.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// Longest source accepted by the compiler (conditions are limited to 2048 chars by Watson;
/// templates can be longer).
pub(crate) const MAX_SOURCE: usize = 64 * 1024;

fn err(message: impl Into<String>, start: usize, end: usize) -> CompileError {
    CompileError {
        message: message.into(),
        span: (start, end),
    }
}

pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Characters of an entity name (`sys-number`, `CC_Types`).
pub(crate) fn is_entity_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Characters of an intent name (`Banking-Card_Selection`, `a.b`).
fn is_intent_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '.'
}

/// Characters of a shorthand value after `:` (`@city:Boston`, `$x:VISA`).
fn is_value_char(c: char) -> bool {
    !(c.is_whitespace()
        || matches!(
            c,
            '(' | ')'
                | '&'
                | '|'
                | '!'
                | '='
                | '<'
                | '>'
                | ','
                | '?'
                | ':'
                | '\''
                | '"'
                | '['
                | ']'
                | '{'
                | '}'
                | '+'
                | '*'
                | '/'
                | '%'
                | '^'
                | ';'
                | '$'
                | '@'
                | '#'
        ))
}

pub(crate) struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    pub(crate) fn new(src: &'s str) -> Self {
        Lexer { src, pos: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'s str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if f(c) {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        &self.src[start..self.pos]
    }

    /// Tokenize the whole source.
    pub(crate) fn tokenize(mut self) -> Result<Vec<Token>, CompileError> {
        if self.src.len() > MAX_SOURCE {
            return Err(err(
                format!("expression longer than {MAX_SOURCE} bytes"),
                0,
                self.src.len(),
            ));
        }
        let mut out = Vec::new();
        loop {
            self.take_while(char::is_whitespace);
            let start = self.pos;
            let Some(c) = self.peek() else {
                out.push(Token {
                    tok: Tok::Eof,
                    start,
                    end: start,
                });
                return Ok(out);
            };
            let tok = self.next_tok(c, start)?;
            out.push(Token {
                tok,
                start,
                end: self.pos,
            });
        }
    }

    fn next_tok(&mut self, c: char, start: usize) -> Result<Tok, CompileError> {
        let two = |l: &mut Self, t: Tok| {
            l.pos += 2;
            Ok(t)
        };
        let one = |l: &mut Self, t: Tok| {
            l.pos += 1;
            Ok(t)
        };
        let next = self.peek_at(1);
        match c {
            '0'..='9' => self.number(start),
            '\'' | '"' => self.string(c, start),
            '#' => {
                self.pos += 1;
                let name = self.take_while(is_intent_char);
                let name = name.trim_end_matches('.');
                self.pos = start + 1 + name.len();
                if name.is_empty() {
                    return Err(err(
                        "`#` must be followed by an intent name",
                        start,
                        self.pos,
                    ));
                }
                Ok(Tok::Hash(name.to_string()))
            }
            '@' => {
                self.pos += 1;
                let name = self.take_while(is_entity_char).to_string();
                if name.is_empty() {
                    return Err(err(
                        "`@` must be followed by an entity name",
                        start,
                        self.pos,
                    ));
                }
                let value = self.shorthand_value()?;
                Ok(Tok::Entity(name, value))
            }
            '$' => {
                self.pos += 1;
                let name = match self.peek() {
                    Some('(') => self.delimited(')', start)?,
                    Some('{') => self.delimited('}', start)?,
                    _ => self.take_while(is_ident_char).to_string(),
                };
                if name.is_empty() {
                    return Err(err(
                        "`$` must be followed by a variable name",
                        start,
                        self.pos,
                    ));
                }
                let value = self.shorthand_value()?;
                Ok(Tok::Var(name, value))
            }
            c if is_ident_start(c) => {
                let id = self.take_while(is_ident_char);
                Ok(Tok::Ident(id.to_string()))
            }
            '(' => one(self, Tok::LParen),
            ')' => one(self, Tok::RParen),
            '[' => one(self, Tok::LBrack),
            ']' => one(self, Tok::RBrack),
            '{' => one(self, Tok::LBrace),
            '}' => one(self, Tok::RBrace),
            ',' => one(self, Tok::Comma),
            '.' => {
                let third = self.peek_at(2);
                match (next, third) {
                    (Some('!'), Some('[')) => {
                        self.pos += 3;
                        Ok(Tok::Project)
                    }
                    (Some('?'), Some('[')) => {
                        self.pos += 3;
                        Ok(Tok::Select)
                    }
                    (Some('^'), Some('[')) => {
                        self.pos += 3;
                        Ok(Tok::SelectFirst)
                    }
                    (Some('$'), Some('[')) => {
                        self.pos += 3;
                        Ok(Tok::SelectLast)
                    }
                    (Some(d), _) if d.is_ascii_digit() => self.number(start),
                    _ => one(self, Tok::Dot),
                }
            }
            '?' => match next {
                Some('.') => two(self, Tok::SafeDot),
                Some(':') => two(self, Tok::Elvis),
                _ => one(self, Tok::Question),
            },
            ':' => one(self, Tok::Colon),
            '+' => one(self, Tok::Plus),
            '-' => one(self, Tok::Minus),
            '*' => one(self, Tok::Star),
            '/' => one(self, Tok::Slash),
            '%' => one(self, Tok::Percent),
            '^' => one(self, Tok::Caret),
            '!' => match next {
                Some('=') => two(self, Tok::Ne),
                _ => one(self, Tok::Bang),
            },
            '&' => match next {
                Some('&') => two(self, Tok::AndAnd),
                _ => one(self, Tok::AndAnd),
            },
            '|' => match next {
                Some('|') => two(self, Tok::OrOr),
                _ => one(self, Tok::OrOr),
            },
            '=' => match next {
                Some('=') => two(self, Tok::EqEq),
                // A single `=` appears in Watson's own examples: read it as `==`.
                _ => one(self, Tok::EqEq),
            },
            '<' => match next {
                Some('=') => two(self, Tok::Le),
                Some('>') => two(self, Tok::Ne),
                _ => one(self, Tok::Lt),
            },
            '>' => match next {
                Some('=') => two(self, Tok::Ge),
                _ => one(self, Tok::Gt),
            },
            other => Err(err(
                format!("unexpected character `{other}`"),
                start,
                start + other.len_utf8(),
            )),
        }
    }

    /// `(name)` or `{name}` after `$`.
    fn delimited(&mut self, close: char, start: usize) -> Result<String, CompileError> {
        self.pos += 1;
        let body = self.take_while(|c| c != close).trim().to_string();
        if self.bump() != Some(close) {
            return Err(err(format!("missing `{close}`"), start, self.pos));
        }
        Ok(body)
    }

    /// The `:value` / `:(multi word)` suffix of `@entity` and `$var`.
    fn shorthand_value(&mut self) -> Result<Option<String>, CompileError> {
        if self.peek() != Some(':') {
            return Ok(None);
        }
        match self.peek_at(1) {
            Some('(') => {
                let start = self.pos;
                self.pos += 2;
                let body = self.take_while(|c| c != ')').trim().to_string();
                if self.bump() != Some(')') {
                    return Err(err("missing `)` after `:(`", start, self.pos));
                }
                Ok(Some(body))
            }
            Some(c) if is_value_char(c) => {
                self.pos += 1;
                let start = self.pos;
                let v = self.take_while(is_value_char);
                // A trailing `.` ends a sentence rather than the value.
                let v = v.trim_end_matches('.');
                self.pos = start + v.len();
                Ok(Some(v.to_string()))
            }
            _ => Ok(None),
        }
    }

    fn string(&mut self, quote: char, start: usize) -> Result<Tok, CompileError> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(err("unterminated string literal", start, self.pos)),
                Some(c) if c == quote => {
                    // SpEL escapes a quote by doubling it.
                    if self.peek() == Some(quote) {
                        self.pos += 1;
                        s.push(quote);
                    } else {
                        return Ok(Tok::Str(s));
                    }
                }
                Some(c) => s.push(c),
            }
        }
    }

    fn number(&mut self, start: usize) -> Result<Tok, CompileError> {
        self.take_while(|c| c.is_ascii_digit());
        let mut is_float = false;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            self.pos += 1;
            self.take_while(|c| c.is_ascii_digit());
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                is_float = true;
                self.take_while(|c| c.is_ascii_digit());
            } else {
                self.pos = save;
            }
        }
        let text = &self.src[start..self.pos];
        let end = self.pos;
        let bad = || err(format!("bad number `{text}`"), start, end);
        match self.peek() {
            Some('L' | 'l') if !is_float => {
                self.pos += 1;
                Ok(Tok::Int(text.parse().map_err(|_| bad())?))
            }
            Some('d' | 'D' | 'f' | 'F') => {
                self.pos += 1;
                Ok(Tok::Float(text.parse().map_err(|_| bad())?))
            }
            _ if is_float => Ok(Tok::Float(text.parse().map_err(|_| bad())?)),
            _ => match text.parse::<i64>() {
                Ok(i) => Ok(Tok::Int(i)),
                Err(_) => Ok(Tok::Float(text.parse().map_err(|_| bad())?)),
            },
        }
    }
}
