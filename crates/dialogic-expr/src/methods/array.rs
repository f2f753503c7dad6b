//! JSONArray methods (spec §5.5): `size`, `contains`, `join`, `get`, `append`, `remove`,
//! `joinToArray`, `getRandomItem`, ...

use rand::Rng;
use serde_json::Value;

use super::{arity, not_defined, Args};
use crate::eval::{Ev, EvalError};
use crate::operators::equals;
use crate::value::{check_array, check_len, int, int_arg, java_string, text_string};

fn index(args: Args<'_, '_>, i: usize, name: &str) -> Result<i64, EvalError> {
    args.get(i)
        .and_then(|a| int_arg(a))
        .ok_or_else(|| EvalError::new(format!("method `{name}` needs an integer index")))
}

fn ci_equals(a: &Value, b: &Value) -> bool {
    let a = crate::operators::object_key(a).unwrap_or(a);
    let b = crate::operators::object_key(b).unwrap_or(b);
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.to_lowercase() == y.to_lowercase(),
        _ => equals(a, b),
    }
}

pub(crate) fn call(
    ev: &Ev<'_>,
    name: &str,
    a: &[Value],
    args: Args<'_, '_>,
) -> Result<Value, EvalError> {
    Ok(match name {
        "size" | "length" => int(a.len() as i64),
        "isEmpty" => Value::Bool(a.is_empty()),
        "contains" => {
            arity(name, args, 1, 1)?;
            Value::Bool(a.iter().any(|v| equals(v, &args[0])))
        }
        "containsIgnoreCase" => {
            arity(name, args, 1, 1)?;
            Value::Bool(a.iter().any(|v| ci_equals(v, &args[0])))
        }
        "containsIntent" => Value::Bool(crate::shorthand::contains_intent(a, args)?),
        "get" => {
            arity(name, args, 1, 1)?;
            let i = index(args, 0, name)?;
            match usize::try_from(i).ok().and_then(|i| a.get(i)) {
                Some(v) => v.clone(),
                None => {
                    return Err(EvalError::new(format!(
                        "index {i} out of range for an array of size {}",
                        a.len()
                    )))
                }
            }
        }
        "getRandomItem" => {
            if a.is_empty() {
                Value::Null
            } else {
                a[rand::thread_rng().gen_range(0..a.len())].clone()
            }
        }
        "indexOf" | "lastIndexOf" => {
            arity(name, args, 1, 1)?;
            let pos = if name == "indexOf" {
                a.iter().position(|v| equals(v, &args[0]))
            } else {
                a.iter().rposition(|v| equals(v, &args[0]))
            };
            int(pos.map_or(-1, |p| p as i64))
        }
        "join" => {
            arity(name, args, 0, 1)?;
            let delim = args.first().map(|d| java_string(d)).unwrap_or_default();
            let mut out = String::new();
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(&delim);
                }
                out.push_str(&text_string(v));
                check_len(out.len())?;
            }
            Value::String(out)
        }
        "joinToArray" => {
            arity(name, args, 1, 2)?;
            let retain = args.get(1).is_some_and(|r| crate::truthy(r));
            join_to_array(a, &args[0], retain)?
        }
        "toJson" | "toJSONArray" => Value::Array(a.to_vec()),
        "first" => a.first().cloned().unwrap_or(Value::Null),
        "last" => a.last().cloned().unwrap_or(Value::Null),
        _ => {
            let _ = ev;
            return Err(not_defined(name, &Value::Array(Vec::new())));
        }
    })
}

/// `joinToArray(template[, retainDataType])`: for each element, fill `%e.path%` placeholders.
fn join_to_array(a: &[Value], template: &Value, retain: bool) -> Result<Value, EvalError> {
    let mut out = Vec::with_capacity(a.len());
    for e in a {
        out.push(fill(template, e, retain)?);
    }
    check_array(out.len())?;
    Ok(Value::Array(out))
}

fn lookup<'v>(e: &'v Value, path: &str) -> &'v Value {
    let mut v = e;
    for seg in path.split('.').skip(1) {
        v = match v {
            Value::Object(m) => m.get(seg).unwrap_or(&crate::value::NULL),
            Value::Array(arr) => seg
                .parse::<usize>()
                .ok()
                .and_then(|i| arr.get(i))
                .unwrap_or(&crate::value::NULL),
            _ => &crate::value::NULL,
        };
    }
    v
}

fn fill(t: &Value, e: &Value, retain: bool) -> Result<Value, EvalError> {
    Ok(match t {
        Value::String(s) => {
            // A string that is exactly one placeholder keeps the type when asked to.
            if retain
                && s.len() > 2
                && s.starts_with("%e")
                && s.ends_with('%')
                && s[1..s.len() - 1].find('%').is_none()
            {
                return Ok(lookup(e, &s[1..s.len() - 1]).clone());
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("%e") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 1..];
                match after.find('%') {
                    Some(end)
                        if after[..end]
                            .chars()
                            .all(|c| c.is_alphanumeric() || c == '.' || c == '_' || c == '-') =>
                    {
                        out.push_str(&text_string(lookup(e, &after[..end])));
                        rest = &after[end + 1..];
                    }
                    _ => {
                        out.push_str("%e");
                        rest = &rest[start + 2..];
                    }
                }
                check_len(out.len())?;
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| fill(i, e, retain))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), fill(v, e, retain)?)))
                .collect::<Result<_, EvalError>>()?,
        ),
        other => other.clone(),
    })
}

/// Mutating methods on an array variable.
pub(crate) fn mutate(
    name: &str,
    a: &mut Vec<Value>,
    args: Args<'_, '_>,
) -> Result<Option<Value>, EvalError> {
    Ok(Some(match name {
        "append" => {
            check_array(a.len() + args.len())?;
            a.extend(args.iter().map(|v| v.clone().into_owned()));
            Value::Array(a.clone())
        }
        "add" => {
            arity(name, args, 1, 2)?;
            check_array(a.len() + 1)?;
            if args.len() == 2 {
                let i = index(args, 0, name)?;
                let i = usize::try_from(i)
                    .ok()
                    .filter(|i| *i <= a.len())
                    .ok_or_else(|| EvalError::new(format!("add: index {i} out of range")))?;
                a.insert(i, args[1].clone().into_owned());
                Value::Null
            } else {
                a.push(args[0].clone().into_owned());
                Value::Bool(true)
            }
        }
        "addAll" => {
            arity(name, args, 1, 1)?;
            match &*args[0] {
                Value::Array(more) => {
                    check_array(a.len() + more.len())?;
                    a.extend(more.iter().cloned());
                }
                other => {
                    check_array(a.len() + 1)?;
                    a.push(other.clone());
                }
            }
            Value::Null
        }
        "clear" => {
            a.clear();
            Value::Null
        }
        "remove" => {
            arity(name, args, 1, 1)?;
            let i = index(args, 0, name)?;
            if let Some(i) = usize::try_from(i).ok().filter(|i| *i < a.len()) {
                a.remove(i);
            }
            Value::Array(a.clone())
        }
        "removeValue" => {
            arity(name, args, 1, 1)?;
            if let Some(p) = a.iter().position(|v| equals(v, &args[0])) {
                a.remove(p);
            }
            Value::Array(a.clone())
        }
        "set" => {
            arity(name, args, 2, 2)?;
            let i = index(args, 0, name)?;
            match usize::try_from(i).ok().and_then(|i| a.get_mut(i)) {
                Some(slot) => *slot = args[1].clone().into_owned(),
                None => return Err(EvalError::new(format!("set: index {i} out of range"))),
            }
            Value::Array(a.clone())
        }
        _ => return Ok(None),
    }))
}
