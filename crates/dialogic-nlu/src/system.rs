//! System entities.

use serde_json::Value;

use crate::entities::EntityMatch;
use crate::AnalyzeContext;

/// Enabled system entities.
#[derive(Debug, Default)]
pub struct SystemEntities {}

impl SystemEntities {
    /// From workspace.
    pub fn from_workspace(_workspace: &Value, _language: &str) -> Self {
        SystemEntities {}
    }
    /// Recognise.
    pub fn recognize(&self, _text: &str, _ctx: &AnalyzeContext<'_>) -> Vec<EntityMatch> {
        Vec::new()
    }
}
