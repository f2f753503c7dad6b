//! The workspace (dialog-skill export) as it is written on disk: a lenient serde model.
//!
//! Only the fields the runtime needs are typed; everything that real exports vary on
//! (`output`, `context`, `actions`, `next_step`) stays a [`Value`] and is interpreted by
//! `compile`. Unknown keys are ignored (exports carry `created`, `updated`, `counts`...).

use serde::Deserialize;
use serde_json::Value;

/// The top level of a workspace export (only what the dialog engine reads).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawWorkspace {
    pub name: Option<String>,
    pub language: Option<String>,
    /// Kept raw so one malformed node is reported by id instead of failing the whole parse.
    pub dialog_nodes: Vec<Value>,
    pub entities: Vec<RawEntity>,
    pub webhooks: Vec<RawWebhook>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawEntity {
    pub entity: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawWebhook {
    pub name: Option<String>,
    pub url: Option<String>,
    pub headers: Vec<RawHeader>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawHeader {
    pub name: String,
    pub value: Option<String>,
}

/// One `dialog_nodes[]` entry.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct RawNode {
    pub dialog_node: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub title: Option<String>,
    pub parent: Option<String>,
    pub previous_sibling: Option<String>,
    pub conditions: Option<String>,
    pub output: Option<Value>,
    pub context: Option<Value>,
    pub next_step: Option<Value>,
    pub actions: Option<Value>,
    pub event_name: Option<String>,
    pub variable: Option<String>,
    pub digress_in: Option<String>,
    pub digress_out: Option<String>,
    pub digress_out_slots: Option<String>,
    pub disabled: Option<bool>,
}
