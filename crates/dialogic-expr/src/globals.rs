//! Functions without a receiver (`now()`, `today()`, `clearDialogStack()`), static calls on
//! types (`T(Math).max`, `T(String).format`) and constructors (`new Date()`, `new JSONArray()`).

use std::borrow::Cow;

use rand::Rng;
use serde_json::{Map, Value};

use crate::datetime;
use crate::eval::{Ev, EvalError};
use crate::value::{self, float, int, java_string, num_lenient, Num};

/// Key of the object that stands for `new Random()`.
pub(crate) const RANDOM_MARKER: &str = "$java.util.Random";

type Args<'a, 'b> = &'a [Cow<'b, Value>];

fn str_arg<'a>(args: Args<'a, '_>, i: usize) -> Option<Cow<'a, str>> {
    args.get(i).map(|a| java_string(a))
}

pub(crate) fn func(ev: &Ev<'_>, name: &str, args: Args<'_, '_>) -> Result<Value, EvalError> {
    match name {
        "now" => {
            let zone = str_arg(args, 0);
            datetime::now(ev, zone.as_deref())
        }
        "today" => datetime::today(ev),
        "clearDialogStack" => {
            ev.signal(
                crate::CLEAR_DIALOG_STACK,
                "clearDialogStack() requested".to_string(),
            );
            Ok(Value::Null)
        }
        _ => Err(EvalError::new(format!("unknown function `{name}()`"))),
    }
}

fn nums(args: Args<'_, '_>, name: &str) -> Result<Vec<Num>, EvalError> {
    args.iter()
        .map(|a| num_lenient(a).ok_or_else(|| EvalError::new(format!("`{name}` needs numbers"))))
        .collect()
}

fn math(name: &str, args: Args<'_, '_>) -> Result<Value, EvalError> {
    let n = nums(args, name)?;
    let one = || {
        n.first()
            .copied()
            .ok_or_else(|| EvalError::new(format!("`Math.{name}` needs an argument")))
    };
    let two = || match (n.first(), n.get(1)) {
        (Some(a), Some(b)) => Ok((*a, *b)),
        _ => Err(EvalError::new(format!("`Math.{name}` needs two arguments"))),
    };
    match name {
        "max" | "min" => {
            let (a, b) = two()?;
            let pick_a = if name == "max" {
                a.f() >= b.f()
            } else {
                a.f() <= b.f()
            };
            value::num_value(match (a, b) {
                (Num::I(_), Num::I(_)) => {
                    if pick_a {
                        a
                    } else {
                        b
                    }
                }
                _ => Num::F(if pick_a { a.f() } else { b.f() }),
            })
        }
        "abs" => match one()? {
            Num::I(i) => Ok(i
                .checked_abs()
                .map_or_else(|| float((i as f64).abs()), |v| Ok(int(v)))?),
            Num::F(f) => float(f.abs()),
        },
        "round" => match one()? {
            Num::I(i) => Ok(int(i)),
            Num::F(f) => Ok(int((f + 0.5).floor().clamp(-9.2e18, 9.2e18) as i64)),
        },
        "floor" => float(one()?.f().floor()),
        "ceil" => float(one()?.f().ceil()),
        "sqrt" => float(one()?.f().sqrt()),
        "cbrt" => float(one()?.f().cbrt()),
        "exp" => float(one()?.f().exp()),
        "log" => float(one()?.f().ln()),
        "log10" => float(one()?.f().log10()),
        "signum" => float(one()?.f().signum()),
        "pow" => {
            let (a, b) = two()?;
            float(a.f().powf(b.f()))
        }
        "random" => float(rand::thread_rng().gen::<f64>()),
        _ => Err(EvalError::new(format!("unknown method `Math.{name}`"))),
    }
}

pub(crate) fn static_call(
    ev: &Ev<'_>,
    ty: &str,
    name: &str,
    args: Args<'_, '_>,
) -> Result<Value, EvalError> {
    match (ty, name) {
        ("Math" | "StrictMath", _) => math(name, args),
        ("String", "format") => {
            let fmt = str_arg(args, 0).ok_or_else(|| EvalError::new("format needs a pattern"))?;
            let rest: Vec<Value> = args[1..].iter().map(|a| a.clone().into_owned()).collect();
            Ok(Value::String(crate::javafmt::format(&fmt, &rest)?))
        }
        ("String", "valueOf") => Ok(Value::String(
            str_arg(args, 0).map(Cow::into_owned).unwrap_or_default(),
        )),
        ("String", "join") => {
            let delim = str_arg(args, 0).unwrap_or_default();
            let parts: Vec<String> = args[1.min(args.len())..]
                .iter()
                .flat_map(|a| match &**a {
                    Value::Array(items) => {
                        items.iter().map(|i| java_string(i).into_owned()).collect()
                    }
                    other => vec![java_string(other).into_owned()],
                })
                .collect();
            let s = parts.join(&delim);
            value::check_len(s.len())?;
            Ok(Value::String(s))
        }
        ("Integer" | "Long", "parseInt" | "parseLong" | "valueOf") => {
            let s = str_arg(args, 0).unwrap_or_default();
            s.trim()
                .parse::<i64>()
                .map(int)
                .map_err(|_| EvalError::new("NumberFormatException: not an integer"))
        }
        ("Double" | "Float", "parseDouble" | "parseFloat" | "valueOf") => {
            let s = str_arg(args, 0).unwrap_or_default();
            match value::parse_num(s.trim()) {
                Some(n) => float(n.f()),
                None => Err(EvalError::new("NumberFormatException: not a number")),
            }
        }
        ("Integer" | "Long" | "Double", "toString") => Ok(Value::String(
            str_arg(args, 0).map(Cow::into_owned).unwrap_or_default(),
        )),
        ("System", "currentTimeMillis") => Ok(int(ev.sc.now.timestamp_millis())),
        _ => Err(EvalError::new(format!("unknown method `T({ty}).{name}`"))),
    }
}

pub(crate) fn construct(ev: &Ev<'_>, ty: &str, args: Args<'_, '_>) -> Result<Value, EvalError> {
    match ty {
        // A Date is its epoch milliseconds; `.format(p)` / `.getTime()` work on numbers.
        "Date" => match args.first() {
            None => Ok(int(ev.sc.now.timestamp_millis())),
            Some(a) => match num_lenient(a) {
                Some(Num::I(i)) => Ok(int(i)),
                Some(Num::F(f)) => Ok(int(f as i64)),
                None => Err(EvalError::new("new Date(...) needs epoch milliseconds")),
            },
        },
        "JSONArray" | "JsonArray" | "ArrayList" | "LinkedList" => match args.first() {
            Some(a) if a.is_array() => Ok(a.clone().into_owned()),
            _ => Ok(Value::Array(Vec::new())),
        },
        "JSONObject" | "JsonObject" | "HashMap" | "LinkedHashMap" => match args.first() {
            Some(a) if a.is_object() => Ok(a.clone().into_owned()),
            _ => Ok(Value::Object(Map::new())),
        },
        "String" => Ok(Value::String(
            str_arg(args, 0).map(Cow::into_owned).unwrap_or_default(),
        )),
        "Random" => {
            let mut m = Map::new();
            m.insert(RANDOM_MARKER.into(), Value::Bool(true));
            Ok(Value::Object(m))
        }
        _ => Err(EvalError::new(format!("cannot construct `{ty}`"))),
    }
}
