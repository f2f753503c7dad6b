//! Fuzz target: any bytes, as an expression and as a template, compile and evaluate against a
//! realistic turn without panicking (and, under libFuzzer's timeout, without hanging).
#![no_main]

use chrono::DateTime;
use dialogic_expr::{Env, Expr, Flags, Template};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let input = json!({"text": "I want 2 large pizzas at 7pm on 2024-06-01", "original_text": "I want 2 large pizzas"});
    let intents = vec![
        json!({"intent": "order", "confidence": 0.9}),
        json!({"intent": "help", "confidence": 0.1}),
    ];
    let entities = vec![
        json!({"entity": "size", "value": "large", "location": [9, 14], "confidence": 1.0}),
        json!({"entity": "sys-number", "value": "2", "location": [7, 8], "confidence": 1.0}),
        json!({"entity": "sys-time", "value": "19:00:00", "location": [25, 28], "confidence": 1.0}),
        json!({"entity": "sys-date", "value": "2024-06-01", "location": [32, 42], "confidence": 1.0}),
    ];
    let mut context = json!({
        "s": "Hello World", "n": 5, "d": 2.5, "a": [1, "two", {"k": 3}],
        "o": {"a": {"b": [1, 2]}}, "date": "2024-05-23", "time": "14:30:00",
        "dt": "2024-05-23 14:30:00 GMT+01:00", "nul": null, "t": true
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    let mut output = json!({"generic": [], "text": []});
    let mut log = Vec::new();
    let mut env = Env {
        input: &input,
        intents: &intents,
        entities: &entities,
        context: &mut context,
        output: &mut output,
        event: &Value::Null,
        flags: Flags::default(),
        now: DateTime::from_timestamp(1_716_469_200, 0).unwrap_or_default(),
        timezone: Some("Europe/London"),
        log: &mut log,
    };
    if let Ok(e) = Expr::compile(src) {
        let _ = e.eval(&mut env);
        let _ = e.is_true(&mut env);
    }
    if let Ok(t) = Template::compile(src) {
        let _ = t.render_string(&mut env);
    }
});
