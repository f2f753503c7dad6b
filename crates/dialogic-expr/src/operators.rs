//! Equality, ordering and arithmetic with Watson's lenient typing: numbers compare with
//! numeric strings, a missing value in a numeric comparison or sum counts as 0, and an intent
//! or entity-mention object compares by its name/value.

use std::cmp::Ordering;

use serde_json::Value;

use crate::ast::BinOp;
use crate::eval::EvalError;
use crate::value::{self, check_len, float, int, java_string, num, num_lenient, Num};

/// The comparable "name" of an intent (`{"intent": ..}`) or entity mention (`{"entity", "value"}`).
pub(crate) fn object_key(v: &Value) -> Option<&Value> {
    let o = v.as_object()?;
    if let Some(i) = value::map_get(o, "intent") {
        return Some(i);
    }
    if value::map_get(o, "entity").is_some() {
        return value::map_get(o, "value");
    }
    None
}

fn num_eq(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x == y,
        _ => a.f() == b.f(),
    }
}

fn num_cmp(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(&y)),
        _ => a.f().partial_cmp(&b.f()),
    }
}

/// `==`.
pub(crate) fn equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(_), Value::Number(_)) => match (num(a), num(b)) {
            (Some(x), Some(y)) => num_eq(x, y),
            _ => false,
        },
        (Value::Number(_), Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            match (num_lenient(a), num_lenient(b)) {
                (Some(x), Some(y)) => num_eq(x, y),
                _ => false,
            }
        }
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => {
            s.eq_ignore_ascii_case(if *x { "true" } else { "false" })
        }
        (Value::Object(_), Value::String(_) | Value::Number(_)) => {
            object_key(a).is_some_and(|k| equals(k, b))
        }
        (Value::String(_) | Value::Number(_), Value::Object(_)) => {
            object_key(b).is_some_and(|k| equals(a, k))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equals(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| equals(v, w)))
        }
        _ => false,
    }
}

/// Ordering for `<`, `>`, ...: numbers (null counts as 0), strings, booleans.
pub(crate) fn compare(a: &Value, b: &Value) -> Result<Option<Ordering>, EvalError> {
    let a = object_key(a).unwrap_or(a);
    let b = object_key(b).unwrap_or(b);
    match (a, b) {
        (Value::Null, Value::Null) => Ok(Some(Ordering::Equal)),
        // Two strings compare as strings (Java), even when both look numeric.
        (Value::String(x), Value::String(y)) => Ok(Some(x.cmp(y))),
        (Value::Null, Value::String(y)) => Ok(Some("".cmp(y.as_str()))),
        (Value::String(x), Value::Null) => Ok(Some(x.as_str().cmp(""))),
        (Value::Bool(x), Value::Bool(y)) => Ok(Some(x.cmp(y))),
        _ => {
            let x = if a.is_null() {
                Some(Num::I(0))
            } else {
                num_lenient(a)
            };
            let y = if b.is_null() {
                Some(Num::I(0))
            } else {
                num_lenient(b)
            };
            match (x, y) {
                (Some(x), Some(y)) => Ok(num_cmp(x, y)),
                _ => Err(EvalError::new(format!(
                    "cannot compare {} with {}",
                    value::type_name(a),
                    value::type_name(b)
                ))),
            }
        }
    }
}

/// A numeric operand of arithmetic: null counts as 0.
fn operand(v: &Value, op: &str) -> Result<Num, EvalError> {
    if v.is_null() {
        return Ok(Num::I(0));
    }
    match v {
        Value::Number(_) => num(v).ok_or_else(|| EvalError::new("bad number")),
        Value::String(_) => num_lenient(v).ok_or_else(|| {
            EvalError::new(format!(
                "operator `{op}` needs numbers, got a non-numeric string"
            ))
        }),
        other => Err(EvalError::new(format!(
            "operator `{op}` is not supported on {}",
            value::type_name(other)
        ))),
    }
}

/// Arithmetic operators.
pub(crate) fn arith(op: BinOp, a: &Value, b: &Value) -> Result<Value, EvalError> {
    match op {
        BinOp::Add => {
            if a.is_string() || b.is_string() {
                let (x, y) = (java_string(a), java_string(b));
                check_len(x.len() + y.len())?;
                let mut s = String::with_capacity(x.len() + y.len());
                s.push_str(&x);
                s.push_str(&y);
                return Ok(Value::String(s));
            }
            if let (Value::Array(x), Value::Array(y)) = (a, b) {
                value::check_array(x.len() + y.len())?;
                let mut v = x.clone();
                v.extend(y.iter().cloned());
                return Ok(Value::Array(v));
            }
            if a.is_null() && b.is_null() {
                return Err(EvalError::new("operator `+` on two null values"));
            }
            let (x, y) = (operand(a, "+")?, operand(b, "+")?);
            match (x, y) {
                (Num::I(p), Num::I(q)) => Ok(p
                    .checked_add(q)
                    .map_or_else(|| float(p as f64 + q as f64), |r| Ok(int(r)))?),
                _ => float(x.f() + y.f()),
            }
        }
        BinOp::Mul => {
            // SpEL repeats a string: 'ab' * 3.
            if let (Value::String(s), Value::Number(_)) = (a, b) {
                let n = value::int_arg(b).unwrap_or(0).max(0) as usize;
                check_len(s.len().saturating_mul(n))?;
                return Ok(Value::String(s.repeat(n)));
            }
            let (x, y) = (operand(a, "*")?, operand(b, "*")?);
            match (x, y) {
                (Num::I(p), Num::I(q)) => Ok(p
                    .checked_mul(q)
                    .map_or_else(|| float(p as f64 * q as f64), |r| Ok(int(r)))?),
                _ => float(x.f() * y.f()),
            }
        }
        BinOp::Sub => {
            let (x, y) = (operand(a, "-")?, operand(b, "-")?);
            match (x, y) {
                (Num::I(p), Num::I(q)) => Ok(p
                    .checked_sub(q)
                    .map_or_else(|| float(p as f64 - q as f64), |r| Ok(int(r)))?),
                _ => float(x.f() - y.f()),
            }
        }
        BinOp::Div => {
            let (x, y) = (operand(a, "/")?, operand(b, "/")?);
            match (x, y) {
                (Num::I(_), Num::I(0)) => Err(EvalError::new("division by zero")),
                (Num::I(p), Num::I(q)) => Ok(p
                    .checked_div(q)
                    .map_or_else(|| float(p as f64 / q as f64), |r| Ok(int(r)))?),
                _ => float(x.f() / y.f()),
            }
        }
        BinOp::Rem => {
            let (x, y) = (operand(a, "%")?, operand(b, "%")?);
            match (x, y) {
                (Num::I(_), Num::I(0)) => Err(EvalError::new("division by zero")),
                (Num::I(p), Num::I(q)) => Ok(int(p.checked_rem(q).unwrap_or(0))),
                _ => float(x.f() % y.f()),
            }
        }
        BinOp::Pow => {
            let (x, y) = (operand(a, "^")?, operand(b, "^")?);
            match (x, y) {
                (Num::I(p), Num::I(q)) if (0..=64).contains(&q) => match p.checked_pow(q as u32) {
                    Some(r) => Ok(int(r)),
                    None => float((p as f64).powf(q as f64)),
                },
                _ => float(x.f().powf(y.f())),
            }
        }
        _ => Err(EvalError::new("not an arithmetic operator")),
    }
}

/// Negation.
pub(crate) fn negate(v: &Value) -> Result<Value, EvalError> {
    match operand(v, "-")? {
        Num::I(i) => Ok(i
            .checked_neg()
            .map_or_else(|| float(-(i as f64)), |r| Ok(int(r)))?),
        Num::F(f) => float(-f),
    }
}
