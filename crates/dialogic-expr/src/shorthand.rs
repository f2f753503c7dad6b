//! Semantics of Watson's shorthand over the turn's intents and entities: `#intent`,
//! `@entity`, `@entity:value`, `@entity.literal`..., `$var:value`, `irrelevant`,
//! `intents.containsIntent(...)`.

use std::borrow::Cow;

use serde_json::Value;

use crate::eval::{EvalError, Scope};
use crate::value::{self, field, int_arg, num, num_lenient, parse_num, Num, NULL};

/// Intent confidence needed for `#intent` (and below which the input is `irrelevant`).
pub(crate) const INTENT_THRESHOLD: f64 = 0.2;
/// A mention counts for `@entity` only above this confidence (fuzzy matches).
pub(crate) const ENTITY_THRESHOLD: f64 = 0.3;

fn confidence(v: &Value) -> f64 {
    field(v, "confidence")
        .and_then(Value::as_f64)
        .unwrap_or(1.0)
}

/// `#name`: the top intent is `name` with confidence >= 0.2.
pub(crate) fn intent_is(intents: &[Value], name: &str) -> bool {
    intents.first().is_some_and(|top| {
        field(top, "intent").and_then(Value::as_str) == Some(name)
            && confidence(top) >= INTENT_THRESHOLD
    })
}

/// `irrelevant`: no intent reaches the threshold.
pub(crate) fn irrelevant(intents: &[Value]) -> bool {
    !intents.iter().any(|i| confidence(i) >= INTENT_THRESHOLD)
}

fn first_mention<'s>(sc: &Scope<'s>, name: &str) -> Option<&'s Value> {
    sc.entities.iter().find(|e| {
        field(e, "entity").and_then(Value::as_str) == Some(name) && confidence(e) > ENTITY_THRESHOLD
    })
}

fn is_numeric_entity(name: &str) -> bool {
    matches!(name, "sys-number" | "sys-currency" | "sys-percentage")
}

/// The value of one mention; numeric system entities yield numbers.
fn mention_value<'s>(name: &str, m: &'s Value) -> Cow<'s, Value> {
    let v = field(m, "value").unwrap_or(&NULL);
    if is_numeric_entity(name) {
        if let Value::String(s) = v {
            let n = field(m, "metadata")
                .and_then(|md| field(md, "numeric_value"))
                .and_then(num)
                .or_else(|| parse_num(s.trim()));
            if let Some(n) = n {
                if let Ok(v) = value::num_value(n) {
                    return Cow::Owned(v);
                }
            }
        }
    }
    Cow::Borrowed(v)
}

/// `@name`: the value of the first mention, or null.
pub(crate) fn entity_value<'s>(sc: &Scope<'s>, name: &str) -> Cow<'s, Value> {
    match first_mention(sc, name) {
        Some(m) => mention_value(name, m),
        None => Cow::Borrowed(&NULL),
    }
}

/// `@name:value`: any counting mention has this value.
pub(crate) fn entity_has(sc: &Scope<'_>, name: &str, want: &str) -> bool {
    sc.entities.iter().any(|e| {
        field(e, "entity").and_then(Value::as_str) == Some(name)
            && confidence(e) > ENTITY_THRESHOLD
            && equals_str(field(e, "value").unwrap_or(&NULL), want)
    })
}

/// `value == 'text'` without building a string value.
pub(crate) fn equals_str(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Number(_) => match (num(v), parse_num(want)) {
            (Some(Num::I(a)), Some(Num::I(b))) => a == b,
            (Some(a), Some(b)) => a.f() == b.f(),
            _ => false,
        },
        Value::Bool(b) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Object(o) => {
            match value::map_get(o, "intent").or_else(|| value::map_get(o, "value")) {
                Some(k) => equals_str(k, want),
                None => false,
            }
        }
        _ => false,
    }
}

/// Characters `[start, end)` of the input text.
fn input_slice(sc: &Scope<'_>, loc: &Value) -> Option<String> {
    let text = field(sc.input, "text").and_then(Value::as_str)?;
    let start = usize::try_from(loc.get(0)?.as_u64()?).ok()?;
    let end = usize::try_from(loc.get(1)?.as_u64()?).ok()?;
    if end < start {
        return None;
    }
    Some(text.chars().skip(start).take(end - start).collect())
}

/// `@name.prop`: a property of the first mention.
pub(crate) fn entity_prop<'s>(sc: &Scope<'s>, name: &str, prop: &str) -> Cow<'s, Value> {
    if prop == "values" {
        let vals: Vec<Value> = sc
            .entities
            .iter()
            .filter(|e| {
                field(e, "entity").and_then(Value::as_str) == Some(name)
                    && confidence(e) > ENTITY_THRESHOLD
            })
            .map(|m| mention_value(name, m).into_owned())
            .collect();
        return Cow::Owned(Value::Array(vals));
    }
    let Some(m) = first_mention(sc, name) else {
        return Cow::Borrowed(&NULL);
    };
    mention_prop(sc, name, m, prop)
}

fn mention_prop<'s>(sc: &Scope<'s>, name: &str, m: &'s Value, prop: &str) -> Cow<'s, Value> {
    match prop {
        "value" => return mention_value(name, m),
        "literal" => {
            if let Some(l) = field(m, "literal") {
                return Cow::Borrowed(l);
            }
            return Cow::Owned(
                field(m, "location")
                    .and_then(|loc| input_slice(sc, loc))
                    .map_or(Value::Null, Value::String),
            );
        }
        "groups" => {
            let Some(Value::Array(groups)) = field(m, "groups") else {
                return Cow::Borrowed(&NULL);
            };
            return Cow::Owned(Value::Array(
                groups
                    .iter()
                    .map(|g| match g {
                        Value::String(_) => g.clone(),
                        _ => g
                            .get("location")
                            .and_then(|loc| input_slice(sc, loc))
                            .map_or(Value::Null, Value::String),
                    })
                    .collect(),
            ));
        }
        "groups_json" => return Cow::Borrowed(field(m, "groups").unwrap_or(&NULL)),
        "numeric_value" => {
            for holder in [field(m, "metadata"), field(m, "interpretation")]
                .into_iter()
                .flatten()
            {
                if let Some(v) = field(holder, "numeric_value") {
                    return Cow::Borrowed(v);
                }
            }
            return Cow::Owned(
                field(m, "value")
                    .and_then(num_lenient)
                    .and_then(|n| value::num_value(n).ok())
                    .unwrap_or(Value::Null),
            );
        }
        _ => {}
    }
    if let Some(v) = field(m, prop) {
        return Cow::Borrowed(v);
    }
    for holder in [field(m, "interpretation"), field(m, "metadata")]
        .into_iter()
        .flatten()
    {
        if let Some(v) = field(holder, prop) {
            return Cow::Borrowed(v);
        }
    }
    // `@sys-time.hour` / `.minute` / `.second` from an `HH:mm:ss` value.
    let part = match prop {
        "hour" => Some(0),
        "minute" => Some(1),
        "second" => Some(2),
        _ => None,
    };
    if let (Some(i), Some(Value::String(s))) = (part, field(m, "value")) {
        if let Some(n) = s
            .split(':')
            .nth(i)
            .and_then(|p| p.trim().parse::<i64>().ok())
        {
            return Cow::Owned(value::int(n));
        }
    }
    Cow::Borrowed(&NULL)
}

/// `entities['name']` / `entities.name`: the mentions as an array, or null when none.
pub(crate) fn mentions_array<'s>(sc: &Scope<'s>, name: &str, filtered: bool) -> Cow<'s, Value> {
    let all: Vec<Value> = sc
        .entities
        .iter()
        .filter(|e| {
            field(e, "entity").and_then(Value::as_str) == Some(name)
                && (!filtered || confidence(e) > ENTITY_THRESHOLD)
        })
        .map(|m| with_literal(sc, m))
        .collect();
    if all.is_empty() {
        Cow::Borrowed(&NULL)
    } else {
        Cow::Owned(Value::Array(all))
    }
}

/// A mention with `literal` filled in from its location (Watson's SpEL view has it).
fn with_literal(sc: &Scope<'_>, m: &Value) -> Value {
    let mut out = m.clone();
    if let Value::Object(o) = &mut out {
        if !o.contains_key("literal") {
            if let Some(l) = field(m, "location").and_then(|loc| input_slice(sc, loc)) {
                o.insert("literal".into(), Value::String(l));
            }
        }
    }
    out
}

/// `intents.containsIntent(name, min_score[, top_n])`.
pub(crate) fn contains_intent(
    intents: &[Value],
    args: &[Cow<'_, Value>],
) -> Result<bool, EvalError> {
    let name = args
        .first()
        .and_then(|a| a.as_str())
        .ok_or_else(|| EvalError::new("containsIntent needs an intent name"))?;
    let min = args.get(1).and_then(|a| a.as_f64()).unwrap_or(0.0);
    let top = args.get(2).and_then(|a| int_arg(a)).filter(|n| *n >= 0);
    let n = top.map_or(intents.len(), |t| (t as usize).min(intents.len()));
    Ok(intents[..n]
        .iter()
        .any(|i| field(i, "intent").and_then(Value::as_str) == Some(name) && confidence(i) >= min))
}
