//! Engine rules on small inline skills. Conditions here are the special ones the engine
//! answers itself (`true`, `false`, `anything_else`, `welcome`, `conversation_start`) or
//! simple intent checks, so each test isolates one dialog rule.

use dialogic_dialog::{Poll, Skill, TurnInput, TurnOutput};
use serde_json::{json, Value};

fn skill(nodes: Value) -> Skill {
    Skill::from_value(json!({"name": "t", "language": "en", "dialog_nodes": nodes, "intents": [], "entities": [],
        "webhooks": [{"name": "main_webhook", "url": "https://hook.example/x", "headers": [{"name": "Authorization", "value": "Basic abc"}]}]}))
    .unwrap_or_else(|e| panic!("skill does not load: {e:?}"))
}

fn say(skill: &Skill, ctx: &Value, text: &str) -> TurnOutput {
    say_with(skill, ctx, text, false)
}

fn say_with(skill: &Skill, ctx: &Value, text: &str, restart: bool) -> TurnOutput {
    let input = TurnInput {
        input: json!({ "text": text }),
        context: ctx.clone(),
        restart,
        debug: true,
        now: chrono::Utc::now(),
        ..TurnInput::default()
    };
    skill
        .start_turn(input)
        .run_with(|_| Err("no webhook expected".into()))
}

fn texts(out: &TurnOutput) -> Vec<String> {
    out.output["generic"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|i| i["text"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn text(_id: &str, t: &str) -> Value {
    json!({"generic": [{"response_type": "text", "values": [{"text": t}]}]})
}

#[test]
fn welcome_only_on_the_first_turn_without_text_and_conversation_start_always_first() {
    let s = skill(json!([
        {"dialog_node": "start", "conditions": "conversation_start", "context": {"n": 1}, "output": text("start", "started")},
        {"dialog_node": "welcome", "conditions": "welcome", "previous_sibling": "start", "output": text("w", "hi")},
        {"dialog_node": "else", "conditions": "anything_else", "previous_sibling": "welcome", "output": text("e", "what?")}
    ]));
    let out = say(&s, &json!({}), "");
    assert_eq!(texts(&out), vec!["started"]);
    assert_eq!(
        out.context["skills"]["main skill"]["user_defined"]["n"],
        json!(1)
    );
    let out2 = say(&s, &out.context, "");
    assert_eq!(
        texts(&out2),
        vec!["what?"],
        "second turn: neither welcome nor conversation_start"
    );

    let s2 = skill(json!([
        {"dialog_node": "welcome", "conditions": "welcome", "output": text("w", "hi")},
        {"dialog_node": "else", "conditions": "anything_else", "previous_sibling": "welcome", "output": text("e", "what?")}
    ]));
    assert_eq!(texts(&say(&s2, &json!({}), "")), vec!["hi"]);
    assert_eq!(
        texts(&say(&s2, &json!({}), "hello")),
        vec!["what?"],
        "welcome needs an empty input"
    );
}

#[test]
fn children_wait_for_input_and_skip_user_input_does_not() {
    let s = skill(json!([
        {"dialog_node": "a", "conditions": "true", "output": text("a", "A")},
        {"dialog_node": "a1", "parent": "a", "conditions": "true", "output": text("a1", "A1"), "next_step": {"behavior": "skip_user_input"}},
        {"dialog_node": "a11", "parent": "a1", "conditions": "true", "output": text("a11", "A11")}
    ]));
    let t1 = say(&s, &json!({}), "x");
    assert_eq!(texts(&t1), vec!["A"]);
    assert_eq!(t1.output["debug"]["branch_exited"], json!(false));
    let t2 = say(&s, &t1.context, "y");
    assert_eq!(texts(&t2), vec!["A1", "A11"]);
    assert_eq!(t2.output["debug"]["branch_exited"], json!(true));
    assert_eq!(
        t2.output["debug"]["branch_exited_reason"],
        json!("completed")
    );
    let t3 = say(&s, &t2.context, "z");
    assert_eq!(texts(&t3), vec!["A"], "back at the root");
}

#[test]
fn jump_to_selectors_condition_body_and_user_input() {
    let s = skill(json!([
        {"dialog_node": "start", "conditions": "welcome", "output": text("s", "S"), "next_step": {"behavior": "jump_to", "selector": "condition", "dialog_node": "t1"}},
        {"dialog_node": "t", "conditions": "false", "previous_sibling": "start"},
        {"dialog_node": "t1", "parent": "t", "conditions": "false", "output": text("t1", "T1")},
        {"dialog_node": "t2", "parent": "t", "previous_sibling": "t1", "conditions": "true", "output": text("t2", "T2"),
         "next_step": {"behavior": "jump_to", "selector": "body", "dialog_node": "b"}},
        {"dialog_node": "b", "conditions": "false", "previous_sibling": "t", "output": text("b", "B"),
         "next_step": {"behavior": "jump_to", "selector": "user_input", "dialog_node": "u"}},
        {"dialog_node": "u", "conditions": "anything_else", "previous_sibling": "b", "output": text("u", "U")}
    ]));
    let t1 = say(&s, &json!({}), "");
    assert_eq!(
        texts(&t1),
        vec!["S", "T2", "B"],
        "condition skips false t1 to t2; body ignores b's false condition"
    );
    assert_eq!(
        t1.output["debug"]["branch_exited"],
        json!(false),
        "user_input waits"
    );
    let t2 = say(&s, &t1.context, "next");
    assert_eq!(texts(&t2), vec!["U"]);
    let visited: Vec<&str> = t2.output["debug"]["nodes_visited"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["dialog_node"].as_str())
        .collect();
    assert_eq!(visited, vec!["u"]);
}

#[test]
fn a_jump_loop_is_stopped_by_the_guard() {
    let s = skill(json!([
        {"dialog_node": "a", "conditions": "true", "output": text("a", "A"), "next_step": {"behavior": "jump_to", "selector": "condition", "dialog_node": "b"}},
        {"dialog_node": "b", "conditions": "true", "previous_sibling": "a", "next_step": {"behavior": "jump_to", "selector": "body", "dialog_node": "a"}}
    ]));
    let out = say(&s, &json!({}), "go");
    let logs = out.output["debug"]["log_messages"].to_string();
    assert!(logs.contains("loop guard"), "{logs}");
    assert!(texts(&out).len() < 200);
    // The next turn starts cleanly at the root.
    let again = say(&s, &out.context, "go");
    assert!(again.output["debug"]["log_messages"]
        .to_string()
        .contains("loop guard"));
}

#[test]
fn selection_policies_sequential_wraps_random_never_repeats_multiline_joins() {
    let s = skill(json!([
        {"dialog_node": "seq", "conditions": "true", "output": {"generic": [
            {"response_type": "text", "selection_policy": "sequential", "values": [{"text": "one"}, {"text": "two"}, {"text": "three"}]},
            {"response_type": "text", "selection_policy": "multiline", "delimiter": " | ", "values": [{"text": "x"}, {"text": "y"}]},
            {"response_type": "text", "selection_policy": "random", "values": [{"text": "r1"}, {"text": "r2"}, {"text": "r3"}]}
        ]}}
    ]));
    let mut ctx = json!({});
    let mut seq = Vec::new();
    let mut rnd: Vec<String> = Vec::new();
    for _ in 0..30 {
        let out = say(&s, &ctx, "x");
        let t = texts(&out);
        assert_eq!(t[1], "x | y");
        seq.push(t[0].clone());
        rnd.push(t[2].clone());
        ctx = out.context;
    }
    assert_eq!(&seq[..5], &["one", "two", "three", "one", "two"]);
    for w in rnd.windows(2) {
        assert_ne!(w[0], w[1], "random repeated: {rnd:?}");
    }
}

#[test]
fn overwrite_modifier_replaces_earlier_output() {
    let s = skill(json!([
        {"dialog_node": "a", "conditions": "true", "output": text("a", "first"), "next_step": {"behavior": "jump_to", "selector": "body", "dialog_node": "b"}},
        {"dialog_node": "b", "conditions": "false", "previous_sibling": "a",
         "output": {"generic": [{"response_type": "text", "values": [{"text": "only me"}]}], "modifiers": {"overwrite": true}}}
    ]));
    assert_eq!(texts(&say(&s, &json!({}), "x")), vec!["only me"]);
}

#[test]
fn legacy_text_empty_values_and_extra_output_keys() {
    let s = skill(json!([
        {"dialog_node": "a", "conditions": "true", "output": {"text": "plain string", "ui_action": {"k": "v"}},
         "next_step": {"behavior": "jump_to", "selector": "body", "dialog_node": "b"}},
        {"dialog_node": "b", "conditions": "false", "previous_sibling": "a",
         "output": {"text": {"values": [""], "selection_policy": "sequential"}, "generic": [{"response_type": "text", "text": "text field"}]}}
    ]));
    let out = say(&s, &json!({}), "x");
    assert_eq!(texts(&out), vec!["plain string", "text field"]);
    assert_eq!(out.output["ui_action"], json!({"k": "v"}));
}

#[test]
fn context_objects_merge_recursively_and_null_clears() {
    let s = skill(json!([
        {"dialog_node": "a", "conditions": "true",
         "context": {"user": {"first": "Peter", "card": {"type": "visa"}}, "list": [3], "gone": null}}
    ]));
    let ctx = json!({"skills": {"main skill": {"user_defined": {
        "user": {"first": "Paul", "last": "Watson", "card": {"type": "amex", "limit": 5}},
        "list": [1, 2], "gone": "x"}}}});
    let out = say(&s, &ctx, "x");
    assert_eq!(
        out.context["skills"]["main skill"]["user_defined"],
        json!({"user": {"first": "Peter", "last": "Watson", "card": {"type": "visa", "limit": 5}}, "list": [3], "gone": null})
    );
}

#[test]
fn digression_returns_to_the_interrupted_node_and_reshows_its_prompt() {
    let s = skill(json!([
        {"dialog_node": "ask", "conditions": "welcome", "output": text("ask", "What is your name?")},
        {"dialog_node": "name", "parent": "ask", "conditions": "false", "output": text("n", "Nice name")},
        {"dialog_node": "folder", "type": "folder", "previous_sibling": "ask", "digress_in": "returns"},
        {"dialog_node": "help", "parent": "folder", "conditions": "true", "output": text("h", "I can help")},
    ]));
    let t1 = say(&s, &json!({}), "");
    assert_eq!(texts(&t1), vec!["What is your name?"]);
    let t2 = say(&s, &t1.context, "help me");
    assert_eq!(texts(&t2), vec!["I can help", "What is your name?"]);
    assert_eq!(
        t2.output["debug"]["branch_exited"],
        json!(false),
        "waiting at ask again"
    );
}

#[test]
fn no_return_digression_abandons_the_branch_and_never_return_blocks_returning() {
    let nodes = |out: &str| {
        json!([
            {"dialog_node": "ask", "conditions": "welcome", "output": text("ask", "Question?"), "digress_out": out},
            {"dialog_node": "child", "parent": "ask", "conditions": "false"},
            {"dialog_node": "help", "previous_sibling": "ask", "conditions": "true", "digress_in": "returns", "output": text("h", "Help")},
        ])
    };
    let s = skill(nodes("allow_all_never_return"));
    let t1 = say(&s, &json!({}), "");
    let t2 = say(&s, &t1.context, "help");
    assert_eq!(texts(&t2), vec!["Help"]);
    assert_eq!(t2.output["debug"]["branch_exited"], json!(true));

    let s = skill(nodes("allow_all"));
    let t1 = say(&s, &json!({}), "");
    let t2 = say(&s, &t1.context, "help");
    assert_eq!(texts(&t2), vec!["Help", "Question?"]);
}

#[test]
fn digress_in_not_available_is_never_a_target() {
    let s = skill(json!([
        {"dialog_node": "ask", "conditions": "welcome", "output": text("ask", "Question?")},
        {"dialog_node": "child", "parent": "ask", "conditions": "false"},
        {"dialog_node": "hidden", "previous_sibling": "ask", "conditions": "true", "digress_in": "not_available", "output": text("x", "Hidden")},
        {"dialog_node": "else", "previous_sibling": "hidden", "conditions": "anything_else", "output": text("e", "Else")},
    ]));
    let t1 = say(&s, &json!({}), "");
    let t2 = say(&s, &t1.context, "anything");
    assert_eq!(texts(&t2), vec!["Else"]);
    let t3 = say(&s, &t2.context, "again");
    assert_eq!(
        texts(&t3),
        vec!["Hidden"],
        "from the root it is an ordinary node"
    );
}

#[test]
fn restart_option_goes_back_to_the_root() {
    let s = skill(json!([
        {"dialog_node": "a", "conditions": "true", "output": text("a", "A")},
        {"dialog_node": "a1", "parent": "a", "conditions": "true", "output": text("a1", "A1")}
    ]));
    let t1 = say(&s, &json!({}), "x");
    assert_eq!(texts(&say_with(&s, &t1.context, "y", true)), vec!["A"]);
    assert_eq!(texts(&say_with(&s, &t1.context, "y", false)), vec!["A1"]);
}

#[test]
fn garbage_state_restarts_at_the_root_with_a_log_message() {
    let s = skill(json!([
        {"dialog_node": "start", "conditions": "conversation_start", "output": text("s", "Start")},
        {"dialog_node": "a", "previous_sibling": "start", "conditions": "true", "output": text("a", "A")}
    ]));
    for garbage in [
        "not base64 !!",
        "aGVsbG8=",
        "",
        "eyJ2IjoxLCJzdGFydGVkIjp0cnVlLCJzdGFjayI6W3siayI6ImMiLCJuIjoibm9wZSJ9XX0=",
    ] {
        let ctx = json!({"skills": {"main skill": {"user_defined": {"k": 1}, "system": {"state": garbage}}}});
        let out = say(&s, &ctx, "x");
        assert_eq!(texts(&out), vec!["A"], "state {garbage:?}");
        assert!(
            !out.output["debug"]["log_messages"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "state {garbage:?}"
        );
        assert_eq!(
            out.context["skills"]["main skill"]["user_defined"]["k"],
            json!(1)
        );
    }
}

#[test]
fn webhook_is_sans_io_and_the_result_lands_before_response_conditions() {
    let s = skill(json!([
        {"dialog_node": "a", "conditions": "true", "context": {"q": "query"},
         "actions": [{"name": "main_webhook", "type": "webhook", "parameters": {"q": "fixed", "n": 3}, "result_variable": "context.res.data"}]},
        {"dialog_node": "r1", "type": "response_condition", "parent": "a", "conditions": "anything_else", "output": text("r", "done")}
    ]));
    let mut turn = s.start_turn(TurnInput {
        input: json!({"text": "x"}),
        debug: true,
        ..TurnInput::default()
    });
    let Poll::Webhook(req) = turn.poll() else {
        panic!("expected a webhook call")
    };
    assert_eq!(req.url, "https://hook.example/x");
    assert_eq!(
        req.headers,
        vec![("Authorization".to_string(), "Basic abc".to_string())]
    );
    assert_eq!(req.body, json!({"q": "fixed", "n": 3}));
    assert_eq!(req.result_variable, "context.res.data");
    assert_eq!(req.node, "a");
    turn.resume(Ok(json!({"ok": true})));
    let Poll::Done(out) = turn.poll() else {
        panic!("expected the end of the turn")
    };
    assert_eq!(
        out.context["skills"]["main skill"]["user_defined"]["res"],
        json!({"data": {"ok": true}})
    );
    assert_eq!(texts(&out), vec!["done"]);

    let mut turn = s.start_turn(TurnInput {
        input: json!({"text": "x"}),
        ..TurnInput::default()
    });
    assert!(matches!(turn.poll(), Poll::Webhook(_)));
    turn.resume(Err("boom".into()));
    let Poll::Done(out) = turn.poll() else {
        panic!("expected the end of the turn")
    };
    assert_eq!(out.output["webhook_error"], json!({"res.data": "boom"}));
    assert_eq!(
        out.context["skills"]["main skill"]["user_defined"]["res"]["data"],
        Value::Null
    );
}

#[test]
fn client_actions_are_returned_with_skip_user_input() {
    let s = skill(json!([
        {"dialog_node": "a", "conditions": "true",
         "actions": [{"name": "Lookup", "type": "client", "parameters": {"id": "42"}, "result_variable": "context.found"},
                     {"name": "/ns/act", "type": "cloud_function", "parameters": {}, "result_variable": "cf", "credentials": "$private.cred"}]},
        {"dialog_node": "a1", "parent": "a", "conditions": "true", "output": text("a1", "got it")}
    ]));
    let out = say(&s, &json!({}), "x");
    assert_eq!(
        out.output["actions"],
        json!([
            {"name": "/ns/act", "type": "cloud_function", "parameters": {}, "result_variable": "cf", "credentials": "$private.cred"},
            {"name": "Lookup", "type": "client", "parameters": {"id": "42"}, "result_variable": "context.found"}
        ])
    );
    assert_eq!(
        out.context["global"]["system"]["skip_user_input"],
        json!(true)
    );
    let next = say(&s, &out.context, "");
    assert_eq!(texts(&next), vec!["got it"]);
    assert!(next.context["global"]["system"]
        .get("skip_user_input")
        .is_none());
}

#[test]
fn broken_trees_are_reported_with_every_problem() {
    let err = Skill::from_value(json!({"dialog_nodes": [
        {"dialog_node": "a", "conditions": "true"},
        {"dialog_node": "b", "conditions": "true"},
        {"dialog_node": "c", "parent": "zzz"},
        {"dialog_node": "d", "previous_sibling": "a", "next_step": {"behavior": "jump_to", "selector": "body", "dialog_node": "nope"}},
        {"dialog_node": "a", "conditions": "true"},
        {"dialog_node": "s", "type": "slot", "parent": "a"}
    ]}))
    .err()
    .map(|e| e.problems)
    .unwrap_or_default();
    let text = err
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("duplicate node id"), "{text}");
    assert!(text.contains("unknown parent"), "{text}");
    assert!(text.contains("jump target"), "{text}");
    assert!(text.contains("exactly one first node"), "{text}");
    assert!(text.contains("needs a variable"), "{text}");
    assert!(Skill::from_json(b"not json").is_err());
    assert!(Skill::from_value(json!([1, 2])).is_err());
}

#[test]
fn slots_under_a_standard_node_are_ignored_with_a_warning() {
    let s = skill(json!([
        {"dialog_node": "a", "conditions": "true", "output": text("a", "A")},
        {"dialog_node": "s", "type": "slot", "parent": "a", "variable": "$x"},
        {"dialog_node": "h", "type": "event_handler", "event_name": "focus", "parent": "s", "output": text("h", "X?")}
    ]));
    assert!(s.warnings().iter().any(|w| w.node == "a"));
    assert_eq!(texts(&say(&s, &json!({}), "x")), vec!["A"]);
}

#[test]
fn frames_prompt_for_required_slots_and_respond_when_filled() {
    // `true` input conditions fill a slot with whatever the check-for saves.
    let s = skill(json!([
        {"dialog_node": "f", "type": "frame", "conditions": "welcome", "output": text("f", "all set"), "context": {"done": true}},
        {"dialog_node": "s1", "type": "slot", "parent": "f", "variable": "$a"},
        {"dialog_node": "s1f", "type": "event_handler", "event_name": "focus", "parent": "s1", "output": text("p", "A?")},
        {"dialog_node": "s2", "type": "slot", "parent": "f", "previous_sibling": "s1", "variable": "$b"},
        {"dialog_node": "s2i", "type": "event_handler", "event_name": "input", "parent": "s2", "conditions": "true", "context": {"b": "B"}},
        {"dialog_node": "s2f", "type": "event_handler", "event_name": "focus", "parent": "s2", "previous_sibling": "s2i", "output": text("p2", "B?")}
    ]));
    let t1 = say(&s, &json!({}), "");
    assert_eq!(
        texts(&t1),
        vec!["A?"],
        "b filled from the triggering input, a has no input handler"
    );
    assert_eq!(
        t1.context["skills"]["main skill"]["user_defined"]["b"],
        json!("B")
    );
    // A value set from outside counts as filled: never re-prompted.
    let mut ctx = t1.context.clone();
    ctx["skills"]["main skill"]["user_defined"]["a"] = json!("given");
    let t2 = say(&s, &ctx, "whatever");
    assert_eq!(texts(&t2), vec!["all set"]);
    assert_eq!(
        t2.context["skills"]["main skill"]["user_defined"]["done"],
        json!(true)
    );
}

#[test]
fn clear_dialog_stack_cancels_the_pending_return() {
    let s = skill(json!([
        {"dialog_node": "ask", "conditions": "welcome", "output": text("ask", "Question?")},
        {"dialog_node": "child", "parent": "ask", "conditions": "false"},
        {"dialog_node": "help", "previous_sibling": "ask", "conditions": "true", "digress_in": "returns",
         "output": text("h", "Help<? clearDialogStack() ?>")},
    ]));
    let t1 = say(&s, &json!({}), "");
    let t2 = say(&s, &t1.context, "help");
    assert_eq!(texts(&t2), vec!["Help"]);
    assert_eq!(t2.output["debug"]["branch_exited"], json!(true));
}

#[test]
fn odd_contexts_and_inputs_never_panic() {
    let s = skill(json!([
        {"dialog_node": "a", "conditions": "true", "context": {"x": {"y": 1}}, "output": text("a", "A $x")},
        {"dialog_node": "a1", "parent": "a", "conditions": "@e:1 || $x.y > 0 || input.text.length() > 2", "output": text("a1", "A1")}
    ]));
    let contexts = [
        json!(null),
        json!([1, 2]),
        json!({"skills": 5}),
        json!({"skills": {"main skill": "x"}}),
        json!({"skills": {"main skill": {"user_defined": [1], "system": {"state": 12}}}}),
        json!({"skills": {"main skill": {"user_defined": {"x": "not an object"}, "system": "s"}}, "global": 3}),
    ];
    let inputs = [
        json!(null),
        json!("text"),
        json!({"text": 5}),
        json!({"text": "héllo \u{0}"}),
    ];
    for c in &contexts {
        for i in &inputs {
            let out = s
                .start_turn(TurnInput {
                    input: i.clone(),
                    context: c.clone(),
                    entities: vec![json!("junk"), json!({"entity": 3})],
                    intents: vec![json!(null), json!({"intent": 1})],
                    debug: true,
                    ..TurnInput::default()
                })
                .run_with(|_| Err("none".into()));
            assert!(out.context["skills"]["main skill"]["system"]["state"].is_string());
            let again = say(&s, &out.context, "second");
            assert!(!texts(&again).is_empty());
        }
    }
}

#[test]
fn skills_and_turns_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Skill>();
    send::<dialogic_dialog::Turn<'static>>();
    send_sync::<TurnOutput>();
}

#[test]
fn parent_cycles_and_long_chains_load_quickly() {
    let err = Skill::from_value(json!({"dialog_nodes": [
        {"dialog_node": "a", "parent": "b"}, {"dialog_node": "b", "parent": "a"}, {"dialog_node": "r", "conditions": "true"}
    ]}));
    assert!(err.is_err_and(|e| e.problems.iter().any(|p| p.message.contains("cycle"))));
    // A 20,000-node chain of children.
    let mut nodes =
        vec![json!({"dialog_node": "n0", "conditions": "true", "output": text("", "deep")})];
    for i in 1..20_000 {
        nodes.push(json!({"dialog_node": format!("n{i}"), "parent": format!("n{}", i - 1), "conditions": "true"}));
    }
    let s = skill(Value::Array(nodes));
    assert_eq!(texts(&say(&s, &json!({}), "x")), vec!["deep"]);
}
