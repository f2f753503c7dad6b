//! Rendering a node's `output` into the runtime `output.generic` (spec §3.5, §4):
//! variation selection (sequential wraps, random never repeats the last pick, multiline
//! joins with the delimiter), interpolation, `modifiers.overwrite`, extra output keys.

use rand::Rng;
use serde_json::{Map, Value};

use crate::compile::{Item, OutputSpec, Policy, TextItem};
use crate::context::merge_into;
use crate::engine::Walk;

impl Walk<'_> {
    fn render_text(&mut self, t: &dialogic_expr::Template) -> String {
        self.with_env(|env| t.render_string(env))
    }

    /// Pick the variation(s) of a text item and render it; None when nothing is said.
    fn select_text(&mut self, item: &TextItem) -> Option<String> {
        let len = item.values.len();
        if len == 0 {
            return None;
        }
        let text = match item.policy {
            Policy::Multiline => {
                let parts: Vec<String> = item.values.iter().map(|v| self.render_text(v)).collect();
                parts.join(&item.delimiter)
            }
            Policy::Sequential => {
                let idx = if len > 1 {
                    let c = self.state.counters.get(&item.key).copied().unwrap_or(0) as usize % len;
                    self.state
                        .counters
                        .insert(item.key.clone(), ((c + 1) % len) as u32);
                    c
                } else {
                    0
                };
                self.render_text(&item.values[idx])
            }
            Policy::Random => {
                let idx = if len > 1 {
                    // Stored as last index + 1 (0: no previous pick).
                    let last = self.state.counters.get(&item.key).copied().unwrap_or(0) as usize;
                    let mut pick = self.rng.gen_range(0..len);
                    if last > 0 && last <= len {
                        pick = self.rng.gen_range(0..len - 1);
                        if pick >= last - 1 {
                            pick += 1;
                        }
                    }
                    self.state
                        .counters
                        .insert(item.key.clone(), (pick + 1) as u32);
                    pick
                } else {
                    0
                };
                self.render_text(&item.values[idx])
            }
        };
        if text.is_empty() {
            None
        } else {
            Some(text)
        }
    }

    /// Append a node's output to the turn's output.
    pub(crate) fn render_output(&mut self, out: &OutputSpec) {
        if out.overwrite {
            if let Some(g) = self.output.get_mut("generic").and_then(Value::as_array_mut) {
                g.clear();
            }
        }
        for item in &out.items {
            let rendered = match item {
                Item::Text(t) => {
                    let Some(text) = self.select_text(t) else {
                        continue;
                    };
                    let mut m = Map::new();
                    m.insert("response_type".into(), Value::String("text".into()));
                    m.insert("text".into(), Value::String(text));
                    for (k, v) in &t.extra {
                        let v = self.render_value(v);
                        m.insert(k.clone(), v);
                    }
                    Value::Object(m)
                }
                Item::Other(v) => self.render_value(v),
            };
            self.push_generic(rendered);
        }
        for (k, v) in &out.extra {
            let v = self.render_value(v);
            if let Some(o) = self.output.as_object_mut() {
                match o.get_mut(k) {
                    Some(existing) => merge_into(existing, v),
                    None => {
                        o.insert(k.clone(), v);
                    }
                }
            }
        }
    }

    fn push_generic(&mut self, item: Value) {
        let Some(o) = self.output.as_object_mut() else {
            return;
        };
        let g = o
            .entry("generic")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !g.is_array() {
            *g = Value::Array(Vec::new());
        }
        if let Value::Array(a) = g {
            a.push(item);
        }
    }
}
