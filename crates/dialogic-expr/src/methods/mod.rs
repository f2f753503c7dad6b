//! Method calls (`recv.name(args)`), dispatched on the receiver's JSON type: strings
//! (including the date/time methods on date strings), arrays, objects, numbers.

mod array;
mod number;
mod object;
mod string;

use std::borrow::Cow;

use regex::Regex;
use serde_json::Value;

use crate::datetime;
use crate::eval::{Ev, EvalError, Place, Root};
use crate::value::{self, java_string};

pub(crate) type Args<'a, 'b> = &'a [Cow<'b, Value>];

/// Methods that change their receiver when it is a context/output variable.
pub(crate) fn is_mutating(name: &str) -> bool {
    matches!(
        name,
        "append"
            | "add"
            | "addAll"
            | "clear"
            | "remove"
            | "removeValue"
            | "set"
            | "put"
            | "addProperty"
    )
}

/// Methods whose first argument is a regular expression.
pub(crate) fn takes_regex(name: &str) -> bool {
    matches!(
        name,
        "matches" | "extract" | "find" | "getMatch" | "split" | "replaceAll" | "replaceFirst"
    )
}

pub(crate) fn arity(
    name: &str,
    args: Args<'_, '_>,
    min: usize,
    max: usize,
) -> Result<(), EvalError> {
    if args.len() < min || args.len() > max {
        return Err(EvalError::new(format!(
            "method `{name}` takes {} argument(s), got {}",
            if min == max {
                min.to_string()
            } else {
                format!("{min} to {max}")
            },
            args.len()
        )));
    }
    Ok(())
}

pub(crate) fn not_defined(name: &str, recv: &Value) -> EvalError {
    EvalError::new(format!(
        "method `{name}` is not defined on {}",
        value::type_name(recv)
    ))
}

/// A regex, borrowed when precompiled.
pub(crate) enum Re<'a> {
    Pre(&'a Regex),
    Run(std::sync::Arc<Regex>),
}

impl std::ops::Deref for Re<'_> {
    type Target = Regex;
    fn deref(&self) -> &Regex {
        match self {
            Re::Pre(r) => r,
            Re::Run(r) => r,
        }
    }
}

/// The regex of the first argument: precompiled when it was a literal, else compiled (cached).
pub(crate) fn regex_arg<'r>(
    pre: Option<&'r Regex>,
    args: Args<'_, '_>,
    anchored: bool,
) -> Result<Re<'r>, EvalError> {
    if let Some(r) = pre {
        return Ok(Re::Pre(r));
    }
    let p = args
        .first()
        .ok_or_else(|| EvalError::new("missing regex argument"))?;
    let p = java_string(p);
    let p = if anchored {
        Cow::Owned(crate::regexes::anchored(&p))
    } else {
        p
    };
    crate::regexes::cached(&p)
        .map(Re::Run)
        .map_err(EvalError::new)
}

/// Call a method on a value (a copy when the receiver is not a variable).
pub(crate) fn call(
    ev: &Ev<'_>,
    name: &str,
    recv: &Value,
    args: Args<'_, '_>,
    regex: Option<&Regex>,
) -> Result<Value, EvalError> {
    // Methods every value has.
    match name {
        "toString" if args.is_empty() => {
            return Ok(Value::String(match recv {
                Value::String(s) => s.clone(),
                other => java_string(other).into_owned(),
            }))
        }
        "equals" if args.len() == 1 && !recv.is_null() => {
            return Ok(Value::Bool(crate::operators::equals(recv, &args[0])))
        }
        "toJson" if !recv.is_string() && !recv.is_null() && args.is_empty() => {
            return Ok(recv.clone())
        }
        // `find` also searches arrays and objects, as their JSON text (spec §5.5).
        "find" if recv.is_array() || recv.is_object() => {
            return string::call(name, &recv.to_string(), args, regex)
        }
        _ => {}
    }
    match recv {
        Value::String(s) => {
            if datetime::is_date_method(name) {
                return datetime::method(ev, name, s, args);
            }
            string::call(name, s, args, regex)
        }
        Value::Array(a) => {
            if is_mutating(name) {
                let mut copy = recv.clone();
                let owned: Vec<Value> = args.iter().map(|a| a.clone().into_owned()).collect();
                return match mutate(ev, name, &mut copy, &owned, &Place::root(Root::Output))? {
                    Some(ret) => Ok(ret),
                    None => Err(not_defined(name, recv)),
                };
            }
            array::call(ev, name, a, args)
        }
        Value::Object(o) => {
            if is_mutating(name) {
                let mut copy = recv.clone();
                let owned: Vec<Value> = args.iter().map(|a| a.clone().into_owned()).collect();
                return match mutate(ev, name, &mut copy, &owned, &Place::root(Root::Output))? {
                    Some(ret) => Ok(ret),
                    None => Err(not_defined(name, recv)),
                };
            }
            object::call(ev, name, o, args)
        }
        Value::Number(_) => number::call(ev, name, recv, args),
        Value::Bool(b) => match name {
            "booleanValue" => Ok(Value::Bool(*b)),
            _ => Err(not_defined(name, recv)),
        },
        Value::Null => Err(EvalError::new(format!("method `{name}` called on null"))),
    }
}

/// Names of context keys that `context.clear()` keeps.
const KEPT_BY_CLEAR: [&str; 3] = ["conversation_id", "timezone", "system"];

/// Apply a mutating method to `cur` (the current value of `place`). `Ok(None)` means the
/// method does not mutate this kind of value (e.g. `append` on a string).
pub(crate) fn mutate(
    _ev: &Ev<'_>,
    name: &str,
    cur: &mut Value,
    args: &[Value],
    place: &Place,
) -> Result<Option<Value>, EvalError> {
    let whole = place.path.is_empty();
    if whole && place.root == Root::Output && name == "clear" && args.is_empty() {
        // `output.clear()`: drop the output gathered earlier in the turn.
        if let Value::Object(o) = cur {
            for key in ["generic", "text"] {
                if o.contains_key(key) {
                    o.insert(key.into(), Value::Array(Vec::new()));
                }
            }
        }
        return Ok(Some(Value::Null));
    }
    if whole && place.root == Root::Context && name == "clear" && args.is_empty() {
        if let Value::Object(o) = cur {
            o.retain(|k, _| KEPT_BY_CLEAR.contains(&k.as_str()));
        }
        return Ok(Some(Value::Null));
    }
    let refs: Vec<Cow<'_, Value>> = args.iter().map(Cow::Borrowed).collect();
    match cur {
        Value::Array(a) => array::mutate(name, a, &refs),
        Value::Object(o) => object::mutate(name, o, &refs),
        _ => Ok(None),
    }
}
