//! Every Watson pre/post-message rule and error message (pure functions, no I/O).

use std::time::Duration;

use dialogic_webhook::watson::{
    apply_post_reply, apply_pre_reply, dialog_callout_result, envelope_bytes,
    post_message_envelope, post_outcome, pre_message_envelope, pre_outcome, validate_request,
    HookFailure, PreOutcome,
};
use dialogic_webhook::{CallError, Reply};
use serde_json::{json, Value};

fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    Reply {
        status,
        headers: map,
        body: body.to_owned().into(),
        latency: Duration::from_millis(1),
    }
}

fn ok(body: Value) -> Reply {
    reply(200, &[], &body.to_string())
}

fn request() -> Value {
    json!({
        "input": {"message_type": "text", "text": "hola", "options": {"return_context": true}},
        "context": {
            "global": {"session_id": "sess-1", "system": {"turn_count": 2, "state": "G"}},
            "skills": {"main skill": {"user_defined": {"lang": "es"}, "system": {"state": "S"}}}
        },
        "user_id": "u1"
    })
}

fn response() -> Value {
    json!({
        "output": {"generic": [{"response_type": "text", "text": "Hola"}], "intents": [], "entities": []},
        "context": {
            "global": {"session_id": "sess-1", "system": {"turn_count": 3}},
            "skills": {"main skill": {"user_defined": {"lang": "es"}, "system": {"state": "S2"}}}
        },
        "user_id": "u1"
    })
}

fn processed(outcome: Result<PreOutcome, HookFailure>) -> Value {
    match outcome {
        Ok(PreOutcome::Process(request)) => request,
        other => panic!("expected a processed request, got {other:?}"),
    }
}

#[test]
fn envelopes_have_watsons_shape() {
    let pre = pre_message_envelope(&request());
    assert_eq!(
        pre,
        json!({"event": {"name": "message_received"}, "options": {}, "payload": request()})
    );
    let post = post_message_envelope(&response());
    assert_eq!(
        post,
        json!({"event": {"name": "message_processed"}, "options": {}, "payload": response()})
    );
    let bytes = envelope_bytes(&pre);
    assert!(bytes
        .starts_with(br#"{"event":{"name":"message_received"},"options":{},"payload":{"input""#));
}

#[test]
fn pre_payload_keys_replace_whole_and_missing_keys_keep_the_original() {
    // Example 1: only input comes back; options are NOT restored from the client's input.
    let result = processed(apply_pre_reply(
        &request(),
        &ok(json!({"payload": {"input": {"text": "hello"}}})),
    ));
    assert_eq!(result["input"], json!({"text": "hello"}));
    assert_eq!(result["context"], request()["context"]);
    assert_eq!(result["user_id"], "u1");
}

#[test]
fn pre_webhook_options_are_kept_as_returned() {
    // Example 2 sets export on purpose.
    let mut payload = request();
    payload["input"] = json!({"text": "Good morning", "options": {"export": true}});
    payload["context"]["skills"]["main skill"]["user_defined"]["original"] = json!("Buenos días");
    let result = processed(apply_pre_reply(
        &request(),
        &ok(json!({"event": {"name": "message_received"}, "payload": payload})),
    ));
    assert_eq!(result["input"]["options"], json!({"export": true}));
    assert_eq!(
        result["context"]["skills"]["main skill"]["user_defined"]["original"],
        "Buenos días"
    );
    assert_eq!(result["user_id"], "u1");
}

#[test]
fn pre_new_top_level_keys_are_added() {
    let result = processed(apply_pre_reply(
        &request(),
        &ok(json!({"payload": {"user_id": "u2", "extra": 1}})),
    ));
    assert_eq!(result["user_id"], "u2");
    assert_eq!(result["extra"], 1);
    assert_eq!(result["input"], request()["input"]);
}

#[test]
fn pre_cannot_change_session_id_or_dialog_state() {
    let payload = json!({"context": {
        "global": {"session_id": "other", "system": {"turn_count": 2, "state": "forged"}},
        "skills": {
            "main skill": {"user_defined": {"lang": "en"}, "system": {"state": "forged"}},
            "actions skill": {"system": {"state": "added"}, "skill_variables": {"x": 1}}
        }
    }});
    let result = processed(apply_pre_reply(
        &request(),
        &ok(json!({"payload": payload})),
    ));
    let ctx = &result["context"];
    assert_eq!(ctx["global"]["session_id"], "sess-1");
    assert_eq!(ctx["global"]["system"]["state"], "G");
    assert_eq!(ctx["skills"]["main skill"]["system"]["state"], "S");
    assert!(ctx["skills"]["actions skill"]["system"]
        .get("state")
        .is_none());
    // Everything else the webhook wrote stays.
    assert_eq!(ctx["skills"]["main skill"]["user_defined"]["lang"], "en");
    assert_eq!(ctx["skills"]["actions skill"]["skill_variables"]["x"], 1);
}

#[test]
fn pre_context_without_identity_gets_it_back() {
    let payload = json!({"context": {"skills": {"main skill": {"user_defined": {"a": 1}}}}});
    let result = processed(apply_pre_reply(
        &request(),
        &ok(json!({"payload": payload})),
    ));
    assert_eq!(result["context"]["global"]["session_id"], "sess-1");
    assert_eq!(result["context"]["global"]["system"]["state"], "G");
    assert_eq!(
        result["context"]["skills"]["main skill"],
        json!({"user_defined": {"a": 1}, "system": {"state": "S"}})
    );
}

#[test]
fn skip_header_any_value_any_case_returns_the_body_as_the_response() {
    let body = json!({"output": {"generic": [{"response_type": "text", "text": "Response skipped by webhook"}]}});
    for (name, value) in [
        ("X-Watson-Assistant-Webhook-Return", "true"),
        ("x-watson-assistant-webhook-return", "yes"),
        ("X-WATSON-ASSISTANT-WEBHOOK-RETURN", ""),
    ] {
        match apply_pre_reply(&request(), &reply(200, &[(name, value)], &body.to_string())) {
            Ok(PreOutcome::Skip(response)) => assert_eq!(response, body),
            other => panic!("{name}: {value}: {other:?}"),
        }
    }
}

#[test]
fn skip_response_cannot_change_session_id_or_state() {
    let body = json!({
        "output": {"generic": []},
        "context": {"global": {"session_id": "other-assistant-session"}, "skills": {"main skill": {"system": {"state": "x"}}}}
    });
    let Ok(PreOutcome::Skip(response)) = apply_pre_reply(
        &request(),
        &reply(
            200,
            &[("X-Watson-Assistant-Webhook-Return", "1")],
            &body.to_string(),
        ),
    ) else {
        panic!("expected a skip");
    };
    assert_eq!(response["context"]["global"]["session_id"], "sess-1");
    assert_eq!(
        response["context"]["skills"]["main skill"]["system"]["state"],
        "S"
    );
}

#[test]
fn skip_body_must_be_a_message_response() {
    let skip = [("X-Watson-Assistant-Webhook-Return", "true")];
    let err = apply_pre_reply(&request(), &reply(200, &skip, "not json")).unwrap_err();
    assert_eq!(err.message(), "Webhook responded with invalid JSON body");
    // A payload wrapper is not a response.
    let err = apply_pre_reply(
        &request(),
        &reply(200, &skip, &json!({"payload": request()}).to_string()),
    )
    .unwrap_err();
    assert_eq!(err.message(), "Error validating webhook response");
    let err = apply_pre_reply(
        &request(),
        &reply(200, &skip, r#"{"output":{"generic":[{"text":"no type"}]}}"#),
    )
    .unwrap_err();
    assert_eq!(
        err,
        HookFailure::Invalid {
            detail: "/output/generic/0/response_type: is required".into()
        }
    );
}

#[test]
fn non_2xx_status_fails_with_the_status_in_brackets() {
    for status in [500, 404, 302, 401, 199] {
        let err =
            apply_pre_reply(&request(), &reply(status, &[], r#"{"payload":{}}"#)).unwrap_err();
        assert_eq!(
            err.message(),
            format!("Webhook responded with [{status}] status code")
        );
        assert_eq!(
            err.error_body(),
            json!({"error": format!("Webhook responded with [{status}] status code"), "code": 422})
        );
        let err =
            apply_post_reply(&response(), &reply(status, &[], r#"{"payload":{}}"#)).unwrap_err();
        assert_eq!(err, HookFailure::Status(status));
    }
    // The status is checked before the skip header.
    let err = apply_pre_reply(
        &request(),
        &reply(500, &[("X-Watson-Assistant-Webhook-Return", "true")], "{}"),
    )
    .unwrap_err();
    assert_eq!(err, HookFailure::Status(500));
    // Any 2xx is a success.
    assert!(apply_pre_reply(&request(), &reply(204, &[], r#"{"payload":{}}"#)).is_ok());
}

#[test]
fn invalid_json_body() {
    for body in ["", "not json", "{\"payload\":", "<html></html>"] {
        let err = apply_pre_reply(&request(), &reply(200, &[], body)).unwrap_err();
        assert_eq!(
            err.message(),
            "Webhook responded with invalid JSON body",
            "{body:?}"
        );
        assert!(matches!(err, HookFailure::InvalidJson { .. }));
        let err = apply_post_reply(&response(), &reply(200, &[], body)).unwrap_err();
        assert_eq!(err.message(), "Webhook responded with invalid JSON body");
    }
}

#[test]
fn pre_result_must_be_a_valid_message_request() {
    let cases = [
        (json!({"input": {"text": "hi"}}), "/payload: missing"),
        (
            json!([1, 2]),
            "the body must be a JSON object with a payload",
        ),
        (json!({"payload": "text"}), "/payload: must be an object"),
        (
            json!({"payload": {"input": "hello"}}),
            "/input: must be an object",
        ),
        (
            json!({"payload": {"input": {"text": 5}}}),
            "/input/text: must be a string",
        ),
        (
            json!({"payload": {"input": {"text": "a\nb"}}}),
            "/input/text: must not contain carriage return, newline or tab characters",
        ),
        (
            json!({"payload": {"input": {"options": {"debug": "yes"}}}}),
            "/input/options/debug: must be a boolean",
        ),
        (
            json!({"payload": {"input": {"intents": [{"intent": "hello"}]}}}),
            "/input/intents/0/confidence: is required",
        ),
        (
            json!({"payload": {"input": {"entities": [{"entity": "e", "value": "v", "location": [1]}]}}}),
            "/input/entities/0/location: must be two character offsets",
        ),
        (
            json!({"payload": {"context": []}}),
            "/context: must be an object",
        ),
        (
            json!({"payload": {"context": {"skills": {"main skill": {"user_defined": 3}}}}}),
            "/context/skills/main skill/user_defined: must be an object",
        ),
        (
            json!({"payload": {"context": {"global": {"system": {"turn_count": -1}}}}}),
            "/context/global/system/turn_count: must be a non-negative integer",
        ),
        (
            json!({"payload": {"user_id": 7}}),
            "/user_id: must be a string",
        ),
    ];
    for (body, detail) in cases {
        let err = apply_pre_reply(&request(), &ok(body.clone())).unwrap_err();
        assert_eq!(err.message(), "Error validating webhook response", "{body}");
        assert_eq!(err.detail(), Some(detail), "{body}");
    }
}

#[test]
fn unknown_fields_pass_through() {
    let payload = json!({"input": {
        "text": "support",
        "source": {"type": "user", "id": "88c"},
        "options": {"suggestion_only": false, "return_context": true},
        "integrations": {"voice_telephony": {"is_dtmf": false}}
    }});
    let result = processed(apply_pre_reply(
        &request(),
        &ok(json!({"payload": payload.clone()})),
    ));
    assert_eq!(result["input"], payload["input"]);
    assert!(validate_request(&request()).is_ok());
}

#[test]
fn post_payload_replaces_top_level_keys_of_the_response() {
    let output = json!({"generic": [{"response_type": "text", "text": "Hello"}]});
    let result = apply_post_reply(
        &response(),
        &ok(json!({"payload": {"output": output.clone()}})),
    )
    .unwrap();
    assert_eq!(
        result["output"], output,
        "output replaced whole (intents/entities gone)"
    );
    assert_eq!(result["context"], response()["context"]);
    assert_eq!(result["user_id"], "u1");
}

#[test]
fn post_context_changes_are_kept_but_identity_is_protected() {
    let mut payload = response();
    payload["context"]["skills"]["main skill"]["user_defined"]["post_webhook_message"] =
        json!("hi");
    payload["context"]["global"]["session_id"] = json!("other");
    payload["context"]["skills"]["main skill"]["system"]["state"] = json!("forged");
    let result = apply_post_reply(&response(), &ok(json!({"payload": payload}))).unwrap();
    assert_eq!(
        result["context"]["skills"]["main skill"]["user_defined"]["post_webhook_message"],
        "hi"
    );
    assert_eq!(result["context"]["global"]["session_id"], "sess-1");
    assert_eq!(
        result["context"]["skills"]["main skill"]["system"]["state"],
        "S2"
    );
}

#[test]
fn post_invalid_payload_is_treated_like_invalid_json() {
    let cases = [
        (json!({"output": {}}), "/payload: missing"),
        (
            json!({"payload": {"output": "text"}}),
            "/output: must be an object",
        ),
        (
            json!({"payload": {"output": {"generic": {}}}}),
            "/output/generic: must be an array",
        ),
        (
            json!({"payload": {"output": {"generic": [{"text": "x"}]}}}),
            "/output/generic/0/response_type: is required",
        ),
        (
            json!({"payload": {"context": "x"}}),
            "/context: must be an object",
        ),
    ];
    for (body, detail) in cases {
        let err = apply_post_reply(&response(), &ok(body.clone())).unwrap_err();
        assert_eq!(
            err.message(),
            "Webhook responded with invalid JSON body",
            "{body}"
        );
        assert_eq!(err.detail(), Some(detail), "{body}");
    }
}

#[test]
fn post_ignores_the_skip_header() {
    let result = apply_post_reply(
        &response(),
        &reply(
            200,
            &[("X-Watson-Assistant-Webhook-Return", "true")],
            r#"{"payload":{"user_id":"u9"}}"#,
        ),
    )
    .unwrap();
    assert_eq!(result["user_id"], "u9");
}

#[test]
fn call_errors_map_to_watson_style_messages() {
    let cases = [
        (CallError::Timeout, "Webhook request timed out"),
        (
            CallError::TooLarge,
            "Webhook request failed: response body over the size limit",
        ),
        (
            CallError::Blocked("127.0.0.1 is a loopback address".into()),
            "Webhook request failed: destination refused: 127.0.0.1 is a loopback address",
        ),
        (
            CallError::Connect("Connection refused (os error 111)".into()),
            "Webhook request failed: connection failed: Connection refused (os error 111)",
        ),
        (
            CallError::Other("invalid webhook URL: relative URL without a base".into()),
            "Webhook request failed: invalid webhook URL: relative URL without a base",
        ),
    ];
    for (err, message) in cases {
        let failure = pre_outcome(&request(), &Err(err.clone())).unwrap_err();
        assert_eq!(failure.message(), message);
        assert_eq!(failure.code(), 422);
        assert_eq!(failure.error_body(), json!({"error": message, "code": 422}));
        assert_eq!(
            post_outcome(&response(), &Err(err)).unwrap_err().message(),
            message
        );
    }
}

#[test]
fn outcome_helpers_apply_replies() {
    let result = pre_outcome(
        &request(),
        &Ok(ok(json!({"payload": {"input": {"text": "x"}}}))),
    )
    .unwrap();
    assert_eq!(processed(Ok(result))["input"]["text"], "x");
    let result = post_outcome(&response(), &Ok(ok(json!({"payload": {}})))).unwrap();
    assert_eq!(result, response());
}

#[test]
fn dialog_callout_result_is_any_json_value() {
    for body in [
        json!({"answer": 42}),
        json!(""),
        json!([1, 2]),
        json!(null),
        json!(3.5),
    ] {
        assert_eq!(dialog_callout_result(&Ok(ok(body.clone()))).unwrap(), body);
    }
    assert_eq!(
        dialog_callout_result(&Ok(reply(401, &[], "{}")))
            .unwrap_err()
            .message(),
        "Webhook responded with [401] status code"
    );
    assert_eq!(
        dialog_callout_result(&Ok(reply(200, &[], "oops")))
            .unwrap_err()
            .message(),
        "Webhook responded with invalid JSON body"
    );
    assert_eq!(
        dialog_callout_result(&Err(CallError::Timeout))
            .unwrap_err()
            .message(),
        "Webhook request timed out"
    );
}
