//! String methods: Watson's (`extract`, `find`, `getMatch`, `toJson`...) and the
//! `java.lang.String` ones skills use (`replace`, `indexOf`, `split`...).

use regex::Regex;
use serde_json::Value;

use super::{arity, not_defined, regex_arg, Args};
use crate::eval::EvalError;
use crate::value::{self, check_array, check_len, int, int_arg, java_string, MAX_STRING};

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Byte offset of char index `i` (None when past the end).
fn byte_at(s: &str, i: usize) -> Option<usize> {
    if i == 0 {
        return Some(0);
    }
    s.char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(s.len()))
        .nth(i)
}

fn char_index_of_byte(s: &str, b: usize) -> i64 {
    s[..b].chars().count() as i64
}

fn index_arg(args: Args<'_, '_>, i: usize, name: &str) -> Result<i64, EvalError> {
    args.get(i)
        .and_then(|a| int_arg(a))
        .ok_or_else(|| EvalError::new(format!("method `{name}` needs an integer argument")))
}

/// Java's `replaceAll` replacement syntax (`$1`) to the regex crate's (`${1}`).
fn java_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    if n == '$' {
                        out.push_str("$$");
                    } else {
                        out.push(n);
                    }
                }
            }
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str("$$");
                } else {
                    out.push_str("${");
                    out.push_str(&digits);
                    out.push('}');
                }
            }
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn call(
    name: &str,
    s: &str,
    args: Args<'_, '_>,
    pre: Option<&Regex>,
) -> Result<Value, EvalError> {
    let arg_str = |i: usize| args.get(i).map(|a| java_string(a)).unwrap_or_default();
    let recv = || Value::String(s.to_string());
    Ok(match name {
        "append" | "concat" => {
            arity(name, args, 1, 1)?;
            let a = arg_str(0);
            check_len(s.len() + a.len())?;
            Value::String(format!("{s}{a}"))
        }
        "contains" => {
            arity(name, args, 1, 1)?;
            Value::Bool(s.contains(&*arg_str(0)))
        }
        "startsWith" => {
            arity(name, args, 1, 2)?;
            let off = args.get(1).and_then(|a| int_arg(a)).unwrap_or(0);
            let Some(b) = usize::try_from(off).ok().and_then(|o| byte_at(s, o)) else {
                return Ok(Value::Bool(false));
            };
            Value::Bool(s[b..].starts_with(&*arg_str(0)))
        }
        "endsWith" => {
            arity(name, args, 1, 1)?;
            Value::Bool(s.ends_with(&*arg_str(0)))
        }
        "equalsIgnoreCase" => {
            arity(name, args, 1, 1)?;
            Value::Bool(!args[0].is_null() && s.to_lowercase() == arg_str(0).to_lowercase())
        }
        "compareTo" | "compareToIgnoreCase" => {
            arity(name, args, 1, 1)?;
            let o = arg_str(0);
            let ord = if name == "compareTo" {
                s.cmp(&o)
            } else {
                s.to_lowercase().cmp(&o.to_lowercase())
            };
            int(ord as i64)
        }
        "extract" => {
            arity(name, args, 2, 2)?;
            let re = regex_arg(pre, args, false)?;
            let group = index_arg(args, 1, name)?;
            let m = re.captures(s).and_then(|c| {
                usize::try_from(group)
                    .ok()
                    .and_then(|g| c.get(g))
                    .map(|m| m.as_str().to_string())
            });
            Value::String(m.unwrap_or_default())
        }
        "find" => {
            arity(name, args, 1, 1)?;
            Value::Bool(regex_arg(pre, args, false)?.is_match(s))
        }
        "getMatch" => {
            arity(name, args, 2, 2)?;
            let re = regex_arg(pre, args, false)?;
            let n = index_arg(args, 1, name)?;
            let m = usize::try_from(n)
                .ok()
                .and_then(|n| re.find_iter(s).nth(n))
                .map(|m| m.as_str().to_string());
            Value::String(m.unwrap_or_default())
        }
        "matches" => {
            arity(name, args, 1, 1)?;
            Value::Bool(regex_arg(pre, args, true)?.is_match(s))
        }
        "isEmpty" => Value::Bool(s.is_empty()),
        "isBlank" => Value::Bool(s.trim().is_empty()),
        "length" | "size" => int(char_len(s) as i64),
        "substring" => {
            arity(name, args, 1, 2)?;
            let len = char_len(s) as i64;
            let b = index_arg(args, 0, name)?;
            let e = if args.len() > 1 {
                index_arg(args, 1, name)?
            } else {
                len
            };
            if b < 0 || e > len || b > e {
                return Err(EvalError::new(format!(
                    "substring({b}, {e}) out of range for a string of length {len}"
                )));
            }
            let bs = byte_at(s, b as usize).unwrap_or(s.len());
            let es = byte_at(s, e as usize).unwrap_or(s.len());
            Value::String(s[bs..es].to_string())
        }
        "charAt" => {
            arity(name, args, 1, 1)?;
            let i = index_arg(args, 0, name)?;
            match usize::try_from(i).ok().and_then(|i| s.chars().nth(i)) {
                Some(c) => Value::String(c.to_string()),
                None => return Err(EvalError::new(format!("charAt({i}) out of range"))),
            }
        }
        "indexOf" | "lastIndexOf" => {
            arity(name, args, 1, 2)?;
            let needle = arg_str(0);
            let from = args.get(1).and_then(|a| int_arg(a)).unwrap_or(0).max(0) as usize;
            let found = if name == "indexOf" {
                byte_at(s, from).and_then(|b| s[b..].find(&*needle).map(|i| i + b))
            } else {
                s.rfind(&*needle)
            };
            int(found.map_or(-1, |b| char_index_of_byte(s, b)))
        }
        "toJson" => {
            arity(name, args, 0, 0)?;
            serde_json::from_str(s)
                .map_err(|e| EvalError::new(format!("toJson: not valid JSON: {e}")))?
        }
        "toLowerCase" => Value::String(s.to_lowercase()),
        "toUpperCase" => Value::String(s.to_uppercase()),
        "trim" | "strip" => Value::String(s.trim().to_string()),
        "split" => {
            arity(name, args, 1, 2)?;
            let re = regex_arg(pre, args, false)?;
            let limit = args.get(1).and_then(|a| int_arg(a)).unwrap_or(0);
            let mut parts: Vec<Value> = if limit > 0 {
                re.splitn(s, limit as usize)
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            } else {
                re.split(s).map(|p| Value::String(p.to_string())).collect()
            };
            // Java drops trailing empty strings (limit 0) and a leading empty match.
            if limit == 0 {
                while parts.last().is_some_and(|p| p.as_str() == Some("")) {
                    parts.pop();
                }
            }
            if s.is_empty() {
                parts = vec![Value::String(String::new())];
            }
            check_array(parts.len())?;
            Value::Array(parts)
        }
        "replace" => {
            arity(name, args, 2, 2)?;
            let (from, to) = (arg_str(0), arg_str(1));
            if from.is_empty() {
                // Java inserts the replacement between every char; bound it.
                check_len(s.len() + (char_len(s) + 1) * to.len())?;
            } else {
                check_len(s.len() + s.matches(&*from).count() * to.len())?;
            }
            Value::String(if from.is_empty() {
                let mut out = to.to_string();
                for c in s.chars() {
                    out.push(c);
                    out.push_str(&to);
                }
                out
            } else {
                s.replace(&*from, &to)
            })
        }
        "replaceAll" | "replaceFirst" => {
            arity(name, args, 2, 2)?;
            let re = regex_arg(pre, args, false)?;
            let rep = java_replacement(&arg_str(1));
            let out = if name == "replaceAll" {
                let n = re.find_iter(s).count();
                check_len(s.len() + n.saturating_mul(rep.len() + 64))?;
                re.replace_all(s, rep.as_str()).into_owned()
            } else {
                re.replace(s, rep.as_str()).into_owned()
            };
            check_len(out.len())?;
            Value::String(out)
        }
        "repeat" => {
            arity(name, args, 1, 1)?;
            let n = index_arg(args, 0, name)?.max(0) as usize;
            check_len(s.len().saturating_mul(n))?;
            Value::String(s.repeat(n))
        }
        "toInt" | "toLong" | "intValue" | "longValue" => match value::num_lenient(&recv()) {
            Some(n) => match n {
                value::Num::I(i) => int(i),
                value::Num::F(f) if f.is_finite() && f.abs() < 9.2e18 => int(f.trunc() as i64),
                value::Num::F(_) => Value::Null,
            },
            None => Value::Null,
        },
        "toDouble" | "doubleValue" | "toFloat" => match value::num_lenient(&recv()) {
            Some(n) => value::float(n.f())?,
            None => Value::Null,
        },
        "hashCode" => {
            let mut h: i32 = 0;
            for u in s.encode_utf16() {
                h = h.wrapping_mul(31).wrapping_add(i32::from(u));
            }
            int(i64::from(h))
        }
        "format" => {
            let rest: Vec<Value> = args.iter().map(|a| a.clone().into_owned()).collect();
            Value::String(crate::javafmt::format(s, &rest)?)
        }
        _ => return Err(not_defined(name, &recv())),
    })
}

/// Keep the compiler honest about the bound used above.
const _: () = assert!(MAX_STRING > 1024);
