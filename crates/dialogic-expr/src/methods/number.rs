//! Number methods: `toInt`, `toDouble`, `toLong`, `round`, `format` (Java printf when the
//! pattern has a `%`, else the number is epoch milliseconds formatted as a date).

use serde_json::Value;

use super::{arity, not_defined, Args};
use crate::eval::{Ev, EvalError};
use crate::value::{float, int, java_string, num, Num};

pub(crate) fn call(
    ev: &Ev<'_>,
    name: &str,
    recv: &Value,
    args: Args<'_, '_>,
) -> Result<Value, EvalError> {
    let n = num(recv).ok_or_else(|| EvalError::new("bad number"))?;
    Ok(match name {
        "toInt" | "toLong" | "intValue" | "longValue" => match n {
            Num::I(i) => int(i),
            Num::F(f) if f.abs() < 9.2e18 => int(f.trunc() as i64),
            Num::F(_) => Value::Null,
        },
        "toDouble" | "doubleValue" | "floatValue" | "toFloat" => float(n.f())?,
        "round" => match n {
            Num::I(i) => int(i),
            Num::F(f) if f.abs() < 9.2e18 => int((f + 0.5).floor() as i64),
            Num::F(_) => Value::Null,
        },
        "abs" => match n {
            Num::I(i) => i
                .checked_abs()
                .map_or_else(|| float((i as f64).abs()), |v| Ok(int(v)))?,
            Num::F(f) => float(f.abs())?,
        },
        "compareTo" => {
            arity(name, args, 1, 1)?;
            let o = crate::value::num_lenient(&args[0])
                .ok_or_else(|| EvalError::new("compareTo needs a number"))?;
            int(n.f().partial_cmp(&o.f()).map_or(0, |o| o as i64))
        }
        "format" => {
            arity(name, args, 1, 1)?;
            let pattern = java_string(&args[0]);
            if pattern.contains('%') {
                Value::String(crate::javafmt::format(
                    &pattern,
                    std::slice::from_ref(recv),
                )?)
            } else {
                Value::String(crate::datetime::format_epoch_millis(ev, n, &pattern)?)
            }
        }
        "getTime" | "toEpochMilli" => recv.clone(),
        "reformatDateTime" => {
            arity(name, args, 1, 1)?;
            Value::String(crate::datetime::format_epoch_millis(
                ev,
                n,
                &java_string(&args[0]),
            )?)
        }
        _ => return Err(not_defined(name, recv)),
    })
}
