//! Conversions between JSON values as the language sees them: string forms, numbers,
//! integer arguments, and the bounds on what an expression may build.

use std::borrow::Cow;

use serde_json::{Number, Value};

use crate::eval::EvalError;

/// Longest string an expression may build (concatenation, repeat, join, format...).
pub(crate) const MAX_STRING: usize = 1 << 20;
/// Most elements an expression may put in one array.
pub(crate) const MAX_ARRAY: usize = 100_000;

pub(crate) static NULL: Value = Value::Null;

/// Java-like string form used by concatenation: null is "null", containers are JSON.
pub(crate) fn java_string(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s.as_str()),
        Value::Null => Cow::Borrowed("null"),
        Value::Bool(true) => Cow::Borrowed("true"),
        Value::Bool(false) => Cow::Borrowed("false"),
        Value::Number(n) => Cow::Owned(n.to_string()),
        other => Cow::Owned(other.to_string()),
    }
}

/// String form used when rendering into text: like [`java_string`] but null is "".
pub(crate) fn text_string(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Null => Cow::Borrowed(""),
        other => java_string(other),
    }
}

/// A number from an f64; non-finite results are errors (JSON cannot hold them).
pub(crate) fn float(f: f64) -> Result<Value, EvalError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| EvalError::new("arithmetic result is not a finite number"))
}

pub(crate) fn int(i: i64) -> Value {
    Value::Number(i.into())
}

/// A numeric view: exact integers stay integers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    I(i64),
    F(f64),
}

impl Num {
    pub(crate) fn f(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
}

pub(crate) fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => Num::I(i),
            None => Num::F(n.as_f64()?),
        }),
        _ => None,
    }
}

/// A number, or a string that is one (lenient comparisons, `toInt()`...).
pub(crate) fn num_lenient(v: &Value) -> Option<Num> {
    match v {
        Value::String(s) => parse_num(s.trim()),
        other => num(other),
    }
}

pub(crate) fn parse_num(s: &str) -> Option<Num> {
    if s.is_empty() {
        return None;
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(Num::I(i));
    }
    let t = s.trim_end_matches(['L', 'l', 'd', 'D', 'f', 'F']);
    if let Ok(i) = t.parse::<i64>() {
        return Some(Num::I(i));
    }
    // Reject "inf", "NaN" and friends that f64 parsing accepts.
    if !t
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite()).map(Num::F)
}

pub(crate) fn num_value(n: Num) -> Result<Value, EvalError> {
    match n {
        Num::I(i) => Ok(int(i)),
        Num::F(f) => float(f),
    }
}

/// An integer argument (index, count): integers, whole doubles, numeric strings.
pub(crate) fn int_arg(v: &Value) -> Option<i64> {
    match num_lenient(v)? {
        Num::I(i) => Some(i),
        Num::F(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
        Num::F(_) => None,
    }
}

/// Name of a value's type for error messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Check a built string against [`MAX_STRING`].
pub(crate) fn check_len(len: usize) -> Result<(), EvalError> {
    if len > MAX_STRING {
        Err(EvalError::new(format!(
            "string result longer than {MAX_STRING} bytes"
        )))
    } else {
        Ok(())
    }
}

pub(crate) fn check_array(len: usize) -> Result<(), EvalError> {
    if len > MAX_ARRAY {
        Err(EvalError::new(format!(
            "array result longer than {MAX_ARRAY} elements"
        )))
    } else {
        Ok(())
    }
}

/// Most JSON nodes a value written by a mutating method may hold (`$a.append($a)` doubles).
pub(crate) const MAX_WEIGHT: usize = 200_000;

/// Number of JSON nodes in `v`, counting stops just past `limit`.
pub(crate) fn weight(v: &Value, limit: usize) -> usize {
    let mut count = 0usize;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        count += 1;
        if count > limit {
            return count;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter()),
            Value::Object(m) => stack.extend(m.values()),
            Value::String(s) => count += s.len() / 64,
            _ => {}
        }
    }
    count
}

/// `v[key]` for an object. Small objects (intents, mentions) are scanned: cheaper than hashing.
#[inline]
pub(crate) fn field<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    match v {
        Value::Object(m) => map_get(m, key),
        _ => None,
    }
}

/// `map[key]`, scanning small maps instead of hashing.
#[inline]
pub(crate) fn map_get<'v>(m: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    if m.len() <= 16 {
        m.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        m.get(key)
    }
}
