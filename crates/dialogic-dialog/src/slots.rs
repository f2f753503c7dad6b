//! Slot filling in frames (spec §3.7 with Correction 1).
//!
//! Per input while a frame is active: conditioned frame-level `generic` handlers; then slot
//! filling (the slot in focus first, then unfilled slots, then filled ones, a mention used by
//! one slot is not seen by the next); `filled` handlers of the slots just filled; the focus
//! slot's `generic` handlers; a digression to a root node when `digress_out_slots` allows;
//! catch-all (`true` / `anything_else`) frame-level handlers; the focus slot's `nomatch`
//! handlers; the root `anything_else` node when digressions are allowed; else the current
//! prompt again.

use serde_json::{json, Value};

use crate::compile::Cond;
use crate::engine::{Halt, Step, Walk};
use crate::state::Pos;
use crate::tree::{Behavior, Event, NodeId};

fn overlaps(a: &Value, b: &Value) -> bool {
    let span = |v: &Value| -> Option<(u64, u64)> {
        let l = v.get("location")?.as_array()?;
        Some((l.first()?.as_u64()?, l.get(1)?.as_u64()?))
    };
    match (span(a), span(b)) {
        (Some((s1, e1)), Some((s2, e2))) => s1 < e2 && s2 < e1,
        _ => false,
    }
}

fn span_len(v: &Value) -> u64 {
    v.get("location")
        .and_then(Value::as_array)
        .and_then(|l| Some(l.get(1)?.as_u64()?.saturating_sub(l.first()?.as_u64()?)))
        .unwrap_or(0)
}

fn is_system(v: &Value) -> bool {
    v.get("entity")
        .and_then(Value::as_str)
        .is_some_and(|e| e.starts_with("sys-"))
}

impl Walk<'_> {
    fn handlers_of(&self, n: NodeId, event: Event) -> Vec<NodeId> {
        let tree = &self.skill.tree;
        tree.nodes[n]
            .handlers
            .iter()
            .copied()
            .filter(|&h| tree.nodes[h].event == Some(event))
            .collect()
    }

    fn slot_var(&self, s: NodeId) -> &str {
        self.skill.tree.nodes[s].variable.as_deref().unwrap_or("")
    }

    fn slot_filled(&self, s: NodeId) -> bool {
        self.vars
            .get(self.slot_var(s))
            .is_some_and(|v| !v.is_null())
    }

    /// The slot's prompt handler, when it says something (no prompt: optional slot).
    fn prompt_of(&self, s: NodeId) -> Option<NodeId> {
        let tree = &self.skill.tree;
        self.handlers_of(s, Event::Focus)
            .into_iter()
            .find(|&h| tree.nodes[h].output.as_ref().is_some_and(|o| o.has_items()))
    }

    fn pos(&self, frame: NodeId, focus: Option<NodeId>, skipped: &[NodeId]) -> Pos {
        let tree = &self.skill.tree;
        Pos::Slots {
            n: tree.nodes[frame].id.clone(),
            f: focus.map(|f| tree.nodes[f].id.clone()),
            sk: skipped.iter().map(|&s| tree.nodes[s].id.clone()).collect(),
        }
    }

    /// A frame fired: fill what the triggering input holds, then prompt or respond.
    pub(crate) fn enter_frame(&mut self, frame: NodeId) -> Result<Step, Halt> {
        let filled = self.fill_slots(frame, None);
        let skill = self.skill;
        let everything = self
            .handlers_of(frame, Event::Focus)
            .into_iter()
            .find(|&h| {
                skill.tree.nodes[h]
                    .output
                    .as_ref()
                    .is_some_and(|o| o.has_items())
            });
        if let Some(h) = everything {
            let missing = skill.tree.nodes[frame]
                .slots
                .clone()
                .into_iter()
                .any(|s| self.prompt_of(s).is_some() && !self.slot_filled(s));
            if filled.is_empty() && missing {
                self.visit(h);
                if let Some(out) = &skill.tree.nodes[h].output {
                    self.render_output(out);
                }
                return Ok(Step::Wait(self.pos(frame, None, &[])));
            }
        }
        let mut skipped = Vec::new();
        if let Some(step) = self.filled_handlers(frame, &filled, &mut skipped) {
            return Ok(step);
        }
        Ok(Step::SlotsContinue { frame, skipped })
    }

    /// Prompt for the first required unfilled slot, or give the frame's response.
    pub(crate) fn slots_continue(&mut self, frame: NodeId, skipped: Vec<NodeId>) -> Step {
        let skill = self.skill;
        for &s in &skill.tree.nodes[frame].slots {
            if skipped.contains(&s) || self.slot_filled(s) || !self.eval_cond(s) {
                continue;
            }
            if let Some(h) = self.prompt_of(s) {
                self.visit(s);
                self.flags.slot_in_focus = true;
                if let Some(out) = &skill.tree.nodes[h].output {
                    self.render_output(out);
                }
                self.flags.slot_in_focus = false;
                self.flags.returning_from_digression = false;
                return Step::Wait(self.pos(frame, Some(s), &skipped));
            }
        }
        self.frame_done(frame, &skipped, false)
    }

    fn frame_done(&mut self, frame: NodeId, skipped: &[NodeId], skipped_all: bool) -> Step {
        let skill = self.skill;
        let slots = skill.tree.nodes[frame].slots.clone();
        self.flags.all_slots_filled = slots.iter().all(|&s| self.slot_filled(s));
        self.flags.has_skipped_slots = skipped_all || !skipped.is_empty();
        self.flags.returning_from_digression = false;
        if !self.visited.contains(&frame) {
            self.visit(frame);
        }
        Step::Response(frame)
    }

    /// One input while the frame waits.
    pub(crate) fn slot_input(
        &mut self,
        frame: NodeId,
        focus: Option<NodeId>,
        mut skipped: Vec<NodeId>,
    ) -> Result<Step, Halt> {
        let skill = self.skill;
        let tree = &skill.tree;
        let generic = self.handlers_of(frame, Event::Generic);
        let is_catch_all =
            |h: NodeId| matches!(tree.nodes[h].cond, Cond::True | Cond::AnythingElse);
        // 1. Frame-level handlers with a real condition ("cancel", "start over").
        for &h in generic.iter().filter(|&&h| !is_catch_all(h)) {
            if self.eval_cond(h) {
                return Ok(self.run_handler(frame, focus, skipped, h, Behavior::Reprompt));
            }
        }
        // 2-3. Fill slots, then their Found handlers.
        let filled = self.fill_slots(frame, focus);
        if !filled.is_empty() {
            if let Some(step) = self.filled_handlers(frame, &filled, &mut skipped) {
                return Ok(step);
            }
            return Ok(Step::SlotsContinue { frame, skipped });
        }
        // Slot-level generic handlers of the slot in focus.
        if let Some(s) = focus {
            for h in self.handlers_of(s, Event::Generic) {
                if self.eval_cond(h) {
                    return Ok(self.run_handler(frame, focus, skipped, h, Behavior::Reprompt));
                }
            }
        }
        // 4. Digression to a root node (not `anything_else`).
        let pos = self.pos(frame, focus, &skipped);
        if let Some((n, ret)) = self.root_target(Some(&pos), Some(false)) {
            self.digress(pos, ret);
            return Ok(Step::Fire(n));
        }
        // Catch-all frame-level handlers: "Not found" never runs after them.
        if let Some(&h) = generic.iter().find(|&&h| is_catch_all(h)) {
            return Ok(self.run_handler(frame, focus, skipped, h, Behavior::Reprompt));
        }
        // 5. Not found.
        if let Some(s) = focus {
            for h in self.handlers_of(s, Event::Nomatch) {
                if self.eval_cond(h) {
                    let pos = self.pos(frame, focus, &skipped);
                    let step = self.run_handler(frame, focus, skipped, h, Behavior::GetUserInput);
                    return Ok(match step {
                        Step::Wait(_) => Step::Wait(pos),
                        other => other,
                    });
                }
            }
        }
        // 6. The root `anything_else` node, only when digressions are allowed.
        let pos = self.pos(frame, focus, &skipped);
        if let Some((n, ret)) = self.root_target(Some(&pos), Some(true)) {
            self.digress(pos, ret);
            return Ok(Step::Fire(n));
        }
        // 7. Correction 1: the input is ignored; ask again.
        Ok(Step::SlotsContinue { frame, skipped })
    }

    fn digress(&mut self, from: Pos, ret: bool) {
        if ret {
            self.interrupted.push(from);
        } else {
            self.branch_exited_reason = Some("fallback");
        }
    }

    /// A handler fired: its context and output, then its `next_step`.
    fn run_handler(
        &mut self,
        frame: NodeId,
        focus: Option<NodeId>,
        mut skipped: Vec<NodeId>,
        h: NodeId,
        default: Behavior,
    ) -> Step {
        let skill = self.skill;
        let node = &skill.tree.nodes[h];
        self.visit(h);
        self.apply_context(h);
        if let Some(out) = &node.output {
            self.render_output(out);
        }
        match node.next.unwrap_or(default) {
            Behavior::SkipAllSlots => self.frame_done(frame, &skipped, true),
            Behavior::SkipSlot => {
                if let Some(s) = focus {
                    if !skipped.contains(&s) {
                        skipped.push(s);
                    }
                }
                Step::SlotsContinue { frame, skipped }
            }
            b @ Behavior::JumpTo { .. } => self.next_step(h, Some(b)),
            Behavior::Reprompt => Step::SlotsContinue { frame, skipped },
            _ => Step::Wait(self.pos(frame, focus, &skipped)),
        }
    }

    /// Fill every slot the input has a value for. Returns (slot, previous, current) in slot
    /// order.
    fn fill_slots(&mut self, frame: NodeId, focus: Option<NodeId>) -> Vec<(NodeId, Value, Value)> {
        let skill = self.skill;
        let tree = &skill.tree;
        let slots = &tree.nodes[frame].slots;
        let mut order: Vec<NodeId> = Vec::with_capacity(slots.len());
        if let Some(f) = focus.filter(|f| slots.contains(f)) {
            order.push(f);
        }
        for &s in slots {
            if Some(s) != focus && !self.slot_filled(s) {
                order.push(s);
            }
        }
        for &s in slots {
            if Some(s) != focus && self.slot_filled(s) {
                order.push(s);
            }
        }
        // Overlapping system entities: the longer span wins (slots only).
        let all = std::mem::take(&mut self.entities);
        let mut working: Vec<Value> = all
            .iter()
            .filter(|e| {
                !is_system(e)
                    || !all
                        .iter()
                        .any(|o| is_system(o) && overlaps(o, e) && span_len(o) > span_len(e))
            })
            .cloned()
            .collect();
        let mut filled = Vec::new();
        let mut done_vars: Vec<String> = Vec::new();
        for s in order {
            let var = self.slot_var(s).to_string();
            if var.is_empty() || done_vars.contains(&var) {
                continue;
            }
            self.entities = std::mem::take(&mut working);
            let active = self.eval_cond(s);
            if active {
                let prev = self.vars.get(&var).cloned().unwrap_or(Value::Null);
                self.flags.slot_in_focus = Some(s) == focus;
                self.event = json!({ "previous_value": prev, "current_value": prev });
                for h in self.handlers_of(s, Event::Input) {
                    if !self.eval_cond(h) {
                        continue;
                    }
                    let node = &tree.nodes[h];
                    let sets_var = node
                        .context
                        .as_ref()
                        .is_some_and(|c| c.iter().any(|(k, _)| *k == var));
                    self.apply_context(h);
                    if !sets_var {
                        if let Cond::Expr(e) = &node.cond {
                            let v = self.eval_expr(e);
                            self.vars.insert(var.clone(), v);
                        }
                    }
                    let cur = self.vars.get(&var).cloned().unwrap_or(Value::Null);
                    if cur.is_null() {
                        continue;
                    }
                    // The mentions this slot used are not seen by the next slots.
                    for name in &node.entity_refs {
                        if let Some(i) = self
                            .entities
                            .iter()
                            .position(|e| e.get("entity").and_then(Value::as_str) == Some(name))
                        {
                            let used = self.entities.remove(i);
                            self.entities.retain(|e| !overlaps(e, &used));
                        }
                    }
                    self.visit(s);
                    filled.push((s, prev, cur));
                    done_vars.push(var.clone());
                    break;
                }
                self.flags.slot_in_focus = false;
                self.event = Value::Null;
            }
            working = std::mem::take(&mut self.entities);
        }
        self.entities = all;
        filled.sort_by_key(|(s, _, _)| slots.iter().position(|x| x == s));
        filled
    }

    /// Found handlers of the slots just filled (first true one per slot).
    fn filled_handlers(
        &mut self,
        frame: NodeId,
        filled: &[(NodeId, Value, Value)],
        skipped: &mut Vec<NodeId>,
    ) -> Option<Step> {
        let skill = self.skill;
        for (s, prev, cur) in filled {
            self.event = json!({ "previous_value": prev, "current_value": cur });
            for h in self.handlers_of(*s, Event::Filled) {
                if !self.eval_cond(h) {
                    continue;
                }
                let node = &skill.tree.nodes[h];
                self.visit(h);
                self.apply_context(h);
                if let Some(out) = &node.output {
                    self.render_output(out);
                }
                match node.next {
                    Some(Behavior::Reprompt) => {
                        let var = self.slot_var(*s).to_string();
                        self.vars.insert(var, Value::Null);
                    }
                    Some(Behavior::SkipAllSlots) => {
                        self.event = Value::Null;
                        return Some(self.frame_done(frame, skipped, true));
                    }
                    Some(Behavior::SkipSlot) => skipped.push(*s),
                    _ => {}
                }
                break;
            }
        }
        self.event = Value::Null;
        None
    }
}
