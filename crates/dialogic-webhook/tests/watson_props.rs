//! Whatever a webhook answers, applying it never panics, a result is always a valid message
//! request/response, and the session id and dialog state never change.

use std::time::Duration;

use dialogic_webhook::watson::{
    apply_post_reply, apply_pre_reply, validate_request, validate_response, PreOutcome,
};
use dialogic_webhook::Reply;
use proptest::prelude::*;
use serde_json::{json, Value};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z \\n]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("payload".to_owned()),
            Just("input".to_owned()),
            Just("output".to_owned()),
            Just("context".to_owned()),
            Just("global".to_owned()),
            Just("session_id".to_owned()),
            Just("skills".to_owned()),
            Just("main skill".to_owned()),
            Just("system".to_owned()),
            Just("state".to_owned()),
            Just("text".to_owned()),
            Just("generic".to_owned()),
            Just("response_type".to_owned()),
            Just("user_id".to_owned()),
            "[a-z]{1,4}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn reply(body: &Value, skip: bool) -> Reply {
    let mut headers = http::HeaderMap::new();
    if skip {
        headers.insert("x-watson-assistant-webhook-return", "true".parse().unwrap());
    }
    Reply {
        status: 200,
        headers,
        body: body.to_string().into(),
        latency: Duration::ZERO,
    }
}

fn original() -> Value {
    json!({
        "input": {"text": "hi"},
        "output": {"generic": []},
        "context": {"global": {"session_id": "s-1", "system": {"state": "G"}}, "skills": {"main skill": {"system": {"state": "S"}}}},
    })
}

fn identity_kept(result: &Value) {
    if let Some(ctx) = result.get("context") {
        assert_eq!(ctx["global"]["session_id"], "s-1");
        assert_eq!(ctx["global"]["system"]["state"], "G");
        assert_eq!(ctx["skills"]["main skill"]["system"]["state"], "S");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn pre_results_are_valid_and_keep_identity(payload in any_json(), wrap in any::<bool>(), skip in any::<bool>()) {
        let body = if wrap { json!({"payload": payload}) } else { payload };
        match apply_pre_reply(&original(), &reply(&body, skip)) {
            Ok(PreOutcome::Process(request)) => {
                prop_assert!(validate_request(&request).is_ok());
                identity_kept(&request);
            }
            Ok(PreOutcome::Skip(response)) => {
                prop_assert!(skip);
                prop_assert!(validate_response(&response).is_ok());
                identity_kept(&response);
            }
            Err(failure) => prop_assert_eq!(failure.code(), 422),
        }
    }

    #[test]
    fn post_results_are_valid_and_keep_identity(payload in any_json(), wrap in any::<bool>()) {
        let body = if wrap { json!({"payload": payload}) } else { payload };
        if let Ok(response) = apply_post_reply(&original(), &reply(&body, false)) {
            prop_assert!(validate_response(&response).is_ok());
            identity_kept(&response);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), status in 0u16..1000) {
        let r = Reply { status, headers: http::HeaderMap::new(), body: bytes.into(), latency: Duration::ZERO };
        let _ = apply_pre_reply(&original(), &r);
        let _ = apply_post_reply(&original(), &r);
    }
}
