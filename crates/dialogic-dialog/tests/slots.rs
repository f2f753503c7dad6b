//! Slot-filling rules on a small pizza-order skill (real expressions, supplied intents and
//! entities): prompts, optional slots, confirmation with `slot_in_focus`, Found handlers
//! with `event.previous_value`, Not found handlers, `skip_slot`, `has_skipped_slots`,
//! "prompt for everything", digressions out of slots with `allow_returning`, the
//! `digression_return_prompt` handler and `returning_from_digression`.

use dialogic_dialog::{Skill, TurnInput, TurnOutput};
use serde_json::{json, Value};

fn t(s: &str) -> Value {
    json!({"generic": [{"response_type": "text", "values": [{"text": s}]}]})
}

fn pizza(digress_out_slots: &str, prompt_everything: bool) -> Skill {
    let nodes = json!([
        {"dialog_node": "order", "type": "frame", "conditions": "#order", "digress_out_slots": digress_out_slots,
         "output": t("A <? $size ?> pizza<? $topping != null ? ' with ' + $topping : '' ?>, confirmed: $confirm.")},
        {"dialog_node": "skipped", "type": "response_condition", "parent": "order", "conditions": "has_skipped_slots",
         "output": t("Some questions were skipped.")},
        {"dialog_node": "done", "type": "response_condition", "parent": "order", "previous_sibling": "skipped",
         "conditions": "all_slots_filled", "output": t("Everything filled.")},
        {"dialog_node": "everything", "type": "event_handler", "event_name": "focus", "parent": "order", "previous_sibling": "done",
         "disabled": !prompt_everything, "output": t("Tell me the size and whether you confirm.")},
        {"dialog_node": "cancel", "type": "event_handler", "event_name": "generic", "parent": "order",
         "previous_sibling": "everything", "conditions": "#cancel", "output": t("Order cancelled."),
         "next_step": {"behavior": "skip_all_slots"}},

        {"dialog_node": "s_size", "type": "slot", "parent": "order", "previous_sibling": "cancel", "variable": "$size"},
        {"dialog_node": "s_size_in", "type": "event_handler", "event_name": "input", "parent": "s_size",
         "conditions": "@size", "context": {"size": "@size"}},
        {"dialog_node": "s_size_prompt", "type": "event_handler", "event_name": "focus", "parent": "s_size",
         "previous_sibling": "s_size_in",
         "output": t("<? returning_from_digression ? 'Back to your order. ' : '' ?>What size?")},
        {"dialog_node": "s_size_changed", "type": "event_handler", "event_name": "filled", "parent": "s_size",
         "previous_sibling": "s_size_prompt", "conditions": "event.previous_value != null && event.previous_value != event.current_value",
         "output": t("Changed from <? event.previous_value ?> to <? event.current_value ?>.")},
        {"dialog_node": "s_size_nomatch", "type": "event_handler", "event_name": "nomatch", "parent": "s_size",
         "previous_sibling": "s_size_changed", "conditions": "#skip", "output": t("Fine, no size."),
         "next_step": {"behavior": "skip_slot"}},
        {"dialog_node": "s_size_nomatch2", "type": "event_handler", "event_name": "nomatch", "parent": "s_size",
         "previous_sibling": "s_size_nomatch", "output": t("Sizes are small, medium or large.")},

        {"dialog_node": "s_topping", "type": "slot", "parent": "order", "previous_sibling": "s_size", "variable": "$topping"},
        {"dialog_node": "s_topping_in", "type": "event_handler", "event_name": "input", "parent": "s_topping",
         "conditions": "@topping", "context": {"topping": "@topping"}},

        {"dialog_node": "s_confirm", "type": "slot", "parent": "order", "previous_sibling": "s_topping", "variable": "$confirm"},
        {"dialog_node": "s_confirm_in", "type": "event_handler", "event_name": "input", "parent": "s_confirm",
         "conditions": "(#yes || #no) && slot_in_focus", "context": {"confirm": "<? intents[0].intent ?>"}},
        {"dialog_node": "s_confirm_prompt", "type": "event_handler", "event_name": "focus", "parent": "s_confirm",
         "previous_sibling": "s_confirm_in", "output": t("Shall I order it?")},
        {"dialog_node": "return_prompt", "type": "event_handler", "event_name": "digression_return_prompt",
         "parent": "order", "previous_sibling": "s_confirm", "output": t("Where were we...")},

        {"dialog_node": "hours", "type": "folder", "previous_sibling": "order", "digress_in": "returns"},
        {"dialog_node": "hours_q", "parent": "hours", "conditions": "#hours", "output": t("We open at noon.")},
        {"dialog_node": "joke", "previous_sibling": "hours", "conditions": "#joke", "output": t("A joke.")},
        {"dialog_node": "else", "previous_sibling": "joke", "conditions": "anything_else", "output": t("Sorry?")}
    ]);
    Skill::from_value(json!({"name": "pizza", "language": "en", "dialog_nodes": nodes}))
        .unwrap_or_else(|e| panic!("{:#?}", e.problems))
}

struct Chat<'s> {
    skill: &'s Skill,
    context: Value,
}

impl Chat<'_> {
    fn say(&mut self, text: &str, intent: Option<&str>, entities: &[(&str, &str)]) -> TurnOutput {
        let input = TurnInput {
            input: json!({ "text": text }),
            intents: intent.map(|i| vec![json!({"intent": i, "confidence": 0.9})]).unwrap_or_default(),
            entities: entities
                .iter()
                .enumerate()
                .map(|(i, (e, v))| json!({"entity": e, "value": v, "confidence": 1.0, "location": [i * 10, i * 10 + 5]}))
                .collect(),
            context: self.context.clone(),
            debug: true,
            now: chrono::Utc::now(),
            ..TurnInput::default()
        };
        let out = self
            .skill
            .start_turn(input)
            .run_with(|_| Err("no webhook".into()));
        self.context = out.context.clone();
        out
    }
    fn texts(
        &mut self,
        text: &str,
        intent: Option<&str>,
        entities: &[(&str, &str)],
    ) -> Vec<String> {
        let out = self.say(text, intent, entities);
        out.output["generic"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(|i| i["text"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
    fn var(&self, k: &str) -> Value {
        self.context["skills"]["main skill"]["user_defined"][k].clone()
    }
}

fn chat(skill: &Skill) -> Chat<'_> {
    let mut c = Chat {
        skill,
        context: json!({}),
    };
    c.say("", None, &[]); // start the conversation
    c
}

#[test]
fn confirmation_slot_only_fills_when_in_focus_and_optional_slots_are_never_prompted() {
    let s = pizza("not_allowed", false);
    let mut c = chat(&s);
    assert_eq!(
        c.texts("order a pizza", Some("order"), &[]),
        vec!["What size?"]
    );
    // "yes" while the size is asked is not a confirmation: that slot is not in focus.
    assert_eq!(
        c.texts("yes", Some("yes"), &[]),
        vec!["Sizes are small, medium or large."]
    );
    assert_eq!(c.var("confirm"), Value::Null);
    assert_eq!(
        c.texts("large", None, &[("size", "large")]),
        vec!["Shall I order it?"],
        "topping is optional"
    );
    // all_slots_filled is false (no topping) and nothing was skipped: no condition adds text.
    assert_eq!(
        c.texts("yes", Some("yes"), &[]),
        vec!["A large pizza, confirmed: yes."]
    );
    assert_eq!(c.var("confirm"), json!("yes"));
}

#[test]
fn one_utterance_fills_several_slots_and_a_new_value_overwrites_with_a_found_response() {
    let s = pizza("not_allowed", false);
    let mut c = chat(&s);
    assert_eq!(
        c.texts(
            "a small pizza with ham",
            Some("order"),
            &[("size", "small"), ("topping", "ham")]
        ),
        vec!["Shall I order it?"]
    );
    assert_eq!(c.var("topping"), json!("ham"));
    assert_eq!(
        c.texts("make it large", None, &[("size", "large")]),
        vec!["Changed from small to large.", "Shall I order it?"]
    );
    assert_eq!(
        c.texts("yes", Some("yes"), &[]),
        vec![
            "A large pizza with ham, confirmed: yes.",
            "Everything filled."
        ]
    );
}

#[test]
fn not_found_handlers_wait_or_skip_the_slot() {
    let s = pizza("not_allowed", false);
    let mut c = chat(&s);
    c.say("order", Some("order"), &[]);
    // Correction 1 / default nomatch behaviour: the handler's text, no re-prompt.
    assert_eq!(
        c.texts("purple", None, &[]),
        vec!["Sizes are small, medium or large."]
    );
    assert_eq!(
        c.texts("skip it", Some("skip"), &[]),
        vec!["Fine, no size.", "Shall I order it?"]
    );
    assert_eq!(
        c.texts("no", Some("no"), &[]),
        vec!["A  pizza, confirmed: no.", "Some questions were skipped."]
    );
}

#[test]
fn a_frame_level_handler_skips_all_slots() {
    let s = pizza("not_allowed", false);
    let mut c = chat(&s);
    c.say("order", Some("order"), &[]);
    let out = c.say("cancel", Some("cancel"), &[]);
    let texts: Vec<&str> = out.output["generic"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["text"].as_str())
        .collect();
    assert_eq!(
        texts,
        vec![
            "Order cancelled.",
            "A  pizza, confirmed: .",
            "Some questions were skipped."
        ]
    );
    assert_eq!(out.output["debug"]["branch_exited"], json!(true));
}

#[test]
fn prompt_for_everything_is_shown_when_nothing_was_given() {
    let s = pizza("not_allowed", true);
    let mut c = chat(&s);
    assert_eq!(
        c.texts("order", Some("order"), &[]),
        vec!["Tell me the size and whether you confirm."]
    );
    assert_eq!(
        c.texts("medium", None, &[("size", "medium")]),
        vec!["Shall I order it?"]
    );
    let mut c = chat(&s);
    assert_eq!(
        c.texts("a medium pizza", Some("order"), &[("size", "medium")]),
        vec!["Shall I order it?"]
    );
}

#[test]
fn not_allowed_slots_ignore_other_questions() {
    let s = pizza("not_allowed", false);
    let mut c = chat(&s);
    c.say("order", Some("order"), &[]);
    assert_eq!(
        c.texts("when do you open", Some("hours"), &[]),
        vec!["Sizes are small, medium or large."]
    );
}

#[test]
fn allow_returning_digresses_only_to_returning_nodes_and_comes_back() {
    let s = pizza("allow_returning", false);
    let mut c = chat(&s);
    c.say("order", Some("order"), &[]);
    assert_eq!(
        c.texts("when do you open", Some("hours"), &[]),
        vec![
            "We open at noon.",
            "Where were we...",
            "Back to your order. What size?"
        ]
    );
    // #joke does not return: not a target from allow_returning slots.
    assert_eq!(
        c.texts("tell me a joke", Some("joke"), &[]),
        vec!["Sizes are small, medium or large."]
    );
    assert_eq!(
        c.texts("small", None, &[("size", "small")]),
        vec!["Shall I order it?"]
    );
}

#[test]
fn allow_all_digresses_anywhere_and_a_no_return_target_abandons_the_frame() {
    let s = pizza("allow_all", false);
    let mut c = chat(&s);
    c.say("order", Some("order"), &[]);
    assert_eq!(
        c.texts("tell me a joke", Some("joke"), &[]),
        vec!["A joke."]
    );
    assert_eq!(c.texts("large", None, &[("size", "large")]), vec!["Sorry?"]);
    // With digressions allowed, input nobody handles goes to anything_else (step 6).
    let mut c = chat(&s);
    c.say("order", Some("order"), &[]);
    assert_eq!(
        c.texts("hmm", None, &[]),
        vec!["Sizes are small, medium or large."],
        "Not found comes before anything_else"
    );
}
