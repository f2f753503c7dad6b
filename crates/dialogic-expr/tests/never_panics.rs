//! Property tests: compiling and evaluating arbitrary text never panics, and deep or huge
//! inputs are rejected or bounded rather than overflowing the stack or hanging.

use chrono::{DateTime, Utc};
use dialogic_expr::{Env, Expr, Flags, LogMessage, Template};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

struct Turn {
    input: Value,
    intents: Vec<Value>,
    entities: Vec<Value>,
    context: Map<String, Value>,
    output: Value,
    event: Value,
}

fn turn() -> Turn {
    let context = json!({
        "s": "Hello World", "n": 5, "d": 2.5, "a": [1, "two", {"k": 3}], "o": {"a": {"b": [1, 2]}},
        "date": "2024-05-23", "time": "14:30:00", "dt": "2024-05-23 14:30:00 GMT+01:00",
        "big": "x", "nul": null, "t": true
    });
    Turn {
        input: json!({"text": "I want 2 large pizzas at 7pm", "original_text": "I want 2 large pizzas"}),
        intents: vec![
            json!({"intent": "order", "confidence": 0.9}),
            json!({"intent": "help", "confidence": 0.1}),
        ],
        entities: vec![
            json!({"entity": "size", "value": "large", "location": [9, 14], "confidence": 1.0}),
            json!({"entity": "sys-number", "value": "2", "location": [7, 8], "confidence": 1.0}),
            json!({"entity": "sys-time", "value": "19:00:00", "location": [25, 28], "confidence": 1.0}),
        ],
        context: context.as_object().cloned().unwrap_or_default(),
        output: json!({"generic": [], "text": []}),
        event: Value::Null,
    }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_716_469_200, 0).unwrap_or_default()
}

/// Compile and run `src` as a condition, an expression and a template.
fn exercise(src: &str) {
    let mut t = turn();
    let mut log: Vec<LogMessage> = Vec::new();
    let mut env = Env {
        input: &t.input,
        intents: &t.intents,
        entities: &t.entities,
        context: &mut t.context,
        output: &mut t.output,
        event: &t.event,
        flags: Flags::default(),
        now: now(),
        timezone: Some("Europe/London"),
        log: &mut log,
    };
    if let Ok(e) = Expr::compile(src) {
        let _ = e.eval(&mut env);
        let _ = e.is_true(&mut env);
    }
    if let Ok(t) = Template::compile(src) {
        let _ = t.render(&mut env);
        let _ = t.render_string(&mut env);
    }
}

/// Fragments that make random strings look like real expressions.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("#order".to_string()),
        Just("@size".to_string()),
        Just("@size:large".to_string()),
        Just("@sys-number".to_string()),
        Just("@sys-time.hour".to_string()),
        Just("$s".to_string()),
        Just("$n".to_string()),
        Just("$a".to_string()),
        Just("$o.a.b".to_string()),
        Just("$date".to_string()),
        Just("$dt".to_string()),
        Just("$nul".to_string()),
        Just("input.text".to_string()),
        Just("intents[0]".to_string()),
        Just("entities['size']".to_string()),
        Just("context".to_string()),
        Just("output".to_string()),
        Just(" && ".to_string()),
        Just(" || ".to_string()),
        Just(" == ".to_string()),
        Just(" + ".to_string()),
        Just(" * ".to_string()),
        Just(" / ".to_string()),
        Just(" ? ".to_string()),
        Just(" : ".to_string()),
        Just(" ?: ".to_string()),
        Just("!".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just(",".to_string()),
        Just(".".to_string()),
        Just(".![".to_string()),
        Just(".?[".to_string()),
        Just("#this".to_string()),
        Just("<?".to_string()),
        Just("?>".to_string()),
        Just("'a'".to_string()),
        Just("'.*'".to_string()),
        Just("'(a+)+$'".to_string()),
        Just("1".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("2.5".to_string()),
        Just("99999999999L".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("now()".to_string()),
        Just("today()".to_string()),
        Just("T(Math).max".to_string()),
        Just("T(String).format".to_string()),
        Just("new Date".to_string()),
        "\\.(size|append|remove|join|substring|matches|extract|split|replace|repeat|plusDays|reformatDateTime|before|filter|joinToArray|toJson|get|set|clear|format)\\(".prop_map(|s| s),
        "[ -~]{0,3}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        exercise(&src);
    }

    #[test]
    fn expression_like_text_never_panics(parts in proptest::collection::vec(fragment(), 0..24)) {
        exercise(&parts.concat());
    }
}

#[test]
fn deep_nesting_is_a_compile_error_not_a_stack_overflow() {
    for open in ["(", "!", "-", "[", "{", "not "] {
        let src = open.repeat(50_000);
        assert!(Expr::compile(&src).is_err(), "{open} x 50000 compiled");
    }
    let chain = "1".to_string() + &" + 1".repeat(20_000);
    assert!(Expr::compile(&chain).is_err());
    let props = "$a".to_string() + &".b".repeat(20_000);
    assert!(Expr::compile(&props).is_err());
    let islands = "<? 1 ?>".repeat(5_000);
    let t = Template::compile(&islands).expect("many small islands are fine");
    assert!(!t.is_constant());
}

#[test]
fn growth_is_bounded() {
    // Doubling a string 40 times would need a terabyte: the evaluator stops it.
    let mut src = "'ab'".to_string();
    for _ in 0..40 {
        src = format!("({src} + {src})");
        if src.len() > 60_000 {
            break;
        }
    }
    exercise(&src);
    let mut t = turn();
    let mut log = Vec::new();
    let mut env = Env {
        input: &t.input,
        intents: &t.intents,
        entities: &t.entities,
        context: &mut t.context,
        output: &mut t.output,
        event: &t.event,
        flags: Flags::default(),
        now: now(),
        timezone: None,
        log: &mut log,
    };
    let e = Expr::compile("'x'.repeat(100000).repeat(100000)").expect("compiles");
    assert_eq!(e.eval(&mut env), Value::Null);
    // Self-appending doubles a value on every call: writes stop at a size bound.
    let doubling = Template::compile(&"<? $a.append($a).size() ?>".repeat(24)).expect("compiles");
    let _ = doubling.render(&mut env);
    assert!(log.iter().any(|l| l.message.contains("longer than")));
    assert!(log.iter().any(|l| l.message.contains("larger than")));
    assert!(serde_json::to_string(&t.context).map_or(0, |s| s.len()) < 50_000_000);
}
