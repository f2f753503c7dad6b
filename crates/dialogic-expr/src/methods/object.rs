//! JSONObject methods: `has`, `get`, `remove` (returns the removed value), `clear`, `keySet`,
//! `size`, and `nextInt`/`nextDouble` on `new Random()`.

use rand::Rng;
use serde_json::{Map, Value};

use super::{arity, not_defined, Args};
use crate::eval::{Ev, EvalError};
use crate::globals::RANDOM_MARKER;
use crate::value::{int, int_arg, java_string};

pub(crate) fn call(
    ev: &Ev<'_>,
    name: &str,
    o: &Map<String, Value>,
    args: Args<'_, '_>,
) -> Result<Value, EvalError> {
    if o.contains_key(RANDOM_MARKER) {
        return random(name, args);
    }
    let _ = ev;
    Ok(match name {
        "has" | "containsKey" => {
            arity(name, args, 1, 1)?;
            Value::Bool(o.contains_key(&*java_string(&args[0])))
        }
        "get" => {
            arity(name, args, 1, 1)?;
            o.get(&*java_string(&args[0]))
                .cloned()
                .unwrap_or(Value::Null)
        }
        "size" => int(o.len() as i64),
        "isEmpty" => Value::Bool(o.is_empty()),
        "keySet" | "keys" => Value::Array(o.keys().map(|k| Value::String(k.clone())).collect()),
        "values" => Value::Array(o.values().cloned().collect()),
        "entrySet" => Value::Array(
            o.iter()
                .map(|(k, v)| {
                    let mut e = Map::new();
                    e.insert("key".into(), Value::String(k.clone()));
                    e.insert("value".into(), v.clone());
                    Value::Object(e)
                })
                .collect(),
        ),
        "getAsString" => {
            arity(name, args, 1, 1)?;
            o.get(&*java_string(&args[0]))
                .map_or(Value::Null, |v| Value::String(java_string(v).into_owned()))
        }
        _ => return Err(not_defined(name, &Value::Object(Map::new()))),
    })
}

fn random(name: &str, args: Args<'_, '_>) -> Result<Value, EvalError> {
    let mut rng = rand::thread_rng();
    Ok(match name {
        "nextInt" => match args.first().and_then(|a| int_arg(a)) {
            Some(n) if n > 0 => int(rng.gen_range(0..n)),
            Some(_) => return Err(EvalError::new("nextInt bound must be positive")),
            None => int(i64::from(rng.gen::<i32>())),
        },
        "nextDouble" => crate::value::float(rng.gen::<f64>())?,
        "nextBoolean" => Value::Bool(rng.gen()),
        _ => {
            return Err(EvalError::new(format!(
                "method `{name}` is not defined on Random"
            )))
        }
    })
}

/// Mutating methods on an object variable.
pub(crate) fn mutate(
    name: &str,
    o: &mut Map<String, Value>,
    args: Args<'_, '_>,
) -> Result<Option<Value>, EvalError> {
    Ok(Some(match name {
        "clear" => {
            o.clear();
            Value::Null
        }
        "remove" => {
            arity(name, args, 1, 1)?;
            o.remove(&*java_string(&args[0])).unwrap_or(Value::Null)
        }
        "put" | "add" | "addProperty" | "set" => {
            arity(name, args, 2, 2)?;
            o.insert(
                java_string(&args[0]).into_owned(),
                args[1].clone().into_owned(),
            )
            .unwrap_or(Value::Null)
        }
        _ => return Ok(None),
    }))
}
