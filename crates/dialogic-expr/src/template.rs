//! Text templates: plain text with `<? expr ?>` islands and `$var` / `@entity` references
//! (with `.prop` / `.method(...)` chains); `\$`, `\@`, `\#` escape the character.

use serde_json::Value;

use crate::ast::Node;
use crate::lexer::{is_entity_char, is_ident_char, is_ident_start, MAX_SOURCE};
use crate::{parser, CompileError};

/// One piece of a template.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Text(String),
    Code(Node),
}

fn shift(mut e: CompileError, by: usize) -> CompileError {
    e.span = (e.span.0 + by, e.span.1 + by);
    e
}

/// Byte index of the `?>` closing an island that starts at `from` (quotes respected).
fn island_end(src: &str, from: usize) -> Option<usize> {
    let bytes = src.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'?' && bytes.get(i + 1) == Some(&b'>') => return Some(i),
            None => {}
        }
        i += 1;
    }
    // An unbalanced quote inside: fall back to the first `?>`.
    src[from..].find("?>").map(|p| p + from)
}

/// End (byte index) of a `.name`, `.name(...)`, `[...]` chain starting at `i`.
fn chain_end(src: &str, mut i: usize) -> usize {
    let bytes = src.as_bytes();
    loop {
        if bytes.get(i) == Some(&b'.') {
            let rest = &src[i + 1..];
            let Some(first) = rest.chars().next() else {
                return i;
            };
            if !is_ident_start(first) {
                return i;
            }
            let name_len: usize = rest
                .chars()
                .take_while(|c| is_ident_char(*c))
                .map(char::len_utf8)
                .sum();
            let mut j = i + 1 + name_len;
            if bytes.get(j) == Some(&b'(') {
                match balanced(src, j, b'(', b')') {
                    Some(end) => j = end,
                    None => return i,
                }
            }
            i = j;
        } else if bytes.get(i) == Some(&b'[') {
            match balanced(src, i, b'[', b']') {
                Some(end) => i = end,
                None => return i,
            }
        } else {
            return i;
        }
    }
}

/// Index just past the bracket matching the one at `open_at`.
fn balanced(src: &str, open_at: usize, open: u8, close: u8) -> Option<usize> {
    let bytes = src.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    for (k, &b) in bytes.iter().enumerate().skip(open_at) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == open => depth += 1,
            None if b == close => {
                depth -= 1;
                if depth == 0 {
                    return Some(k + 1);
                }
            }
            None => {}
        }
    }
    None
}

/// Split a template into text and code pieces.
pub(crate) fn compile(src: &str) -> Result<Vec<Piece>, CompileError> {
    if src.len() > MAX_SOURCE {
        return Err(CompileError {
            message: format!("template longer than {MAX_SOURCE} bytes"),
            span: (0, src.len()),
        });
    }
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    let flush = |text: &mut String, pieces: &mut Vec<Piece>| {
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(text)));
        }
    };
    while i < src.len() {
        let rest = &src[i..];
        let Some(c) = rest.chars().next() else { break };
        let next = rest[c.len_utf8()..].chars().next();
        match c {
            '\\' if matches!(next, Some('$' | '@' | '#')) => {
                text.extend(next);
                i += 2;
            }
            '<' if next == Some('?') => {
                let start = i + 2;
                let Some(end) = island_end(src, start) else {
                    return Err(CompileError {
                        message: "`<?` without a closing `?>`".into(),
                        span: (i, src.len()),
                    });
                };
                let node = parser::parse(&src[start..end]).map_err(|e| shift(e, start))?;
                flush(&mut text, &mut pieces);
                pieces.push(Piece::Code(node));
                i = end + 2;
            }
            '$' if next.is_some_and(|n| is_ident_start(n) || n == '(' || n == '{') => {
                let name_end = match next {
                    Some('(') => src[i..].find(')').map(|p| i + p + 1),
                    Some('{') => src[i..].find('}').map(|p| i + p + 1),
                    _ => Some(
                        i + 1
                            + src[i + 1..]
                                .chars()
                                .take_while(|c| is_ident_char(*c))
                                .map(char::len_utf8)
                                .sum::<usize>(),
                    ),
                };
                let Some(name_end) = name_end else {
                    text.push(c);
                    i += 1;
                    continue;
                };
                // The whole chain, else the bare name, else it was not a reference (`@-`).
                let end = chain_end(src, name_end);
                let parsed = parser::parse(&src[i..end])
                    .map(|n| (n, end))
                    .or_else(|_| parser::parse(&src[i..name_end]).map(|n| (n, name_end)));
                match parsed {
                    Ok((node, end)) => {
                        flush(&mut text, &mut pieces);
                        pieces.push(Piece::Code(node));
                        i = end;
                    }
                    Err(_) => {
                        text.push(c);
                        i += 1;
                    }
                }
            }
            '@' if next.is_some_and(is_entity_char) && !prev_is_word(src, i) => {
                let name_end = i
                    + 1
                    + src[i + 1..]
                        .chars()
                        .take_while(|c| is_entity_char(*c))
                        .map(char::len_utf8)
                        .sum::<usize>();
                // A trailing `-` belongs to the text ("@genre-based" is rare; "@x -" is not).
                let name_end = name_end - src[i + 1..name_end].len()
                    + src[i + 1..name_end].trim_end_matches('-').len();
                // The whole chain, else the bare name, else it was not a reference (`@-`).
                let end = chain_end(src, name_end);
                let parsed = parser::parse(&src[i..end])
                    .map(|n| (n, end))
                    .or_else(|_| parser::parse(&src[i..name_end]).map(|n| (n, name_end)));
                match parsed {
                    Ok((node, end)) => {
                        flush(&mut text, &mut pieces);
                        pieces.push(Piece::Code(node));
                        i = end;
                    }
                    Err(_) => {
                        text.push(c);
                        i += 1;
                    }
                }
            }
            c => {
                text.push(c);
                i += c.len_utf8();
            }
        }
    }
    flush(&mut text, &mut pieces);
    Ok(pieces)
}

/// `@` right after a letter or digit is part of an e-mail address, not an entity.
fn prev_is_word(src: &str, i: usize) -> bool {
    src[..i]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '_')
}

/// True when rendering a single code piece keeps its JSON type.
pub(crate) fn typed(pieces: &[Piece]) -> Option<&Node> {
    match pieces {
        [Piece::Code(n)] => Some(n),
        _ => None,
    }
}

/// The text of a constant template.
pub(crate) fn constant_text(pieces: &[Piece]) -> Option<Value> {
    match pieces {
        [] => Some(Value::String(String::new())),
        [Piece::Text(t)] => Some(Value::String(t.clone())),
        _ => None,
    }
}
