//! # dialogic-nlu
//!
//! Everything between the user's text and `#intent` / `@entity`: an intent classifier trained
//! from the skill's examples at load, dictionary/pattern/fuzzy entities, system entities.
//!
//! Must never: do I/O at classification time, download anything.
//!
//! (Contract stub written by the integrator; the NLU helper replaces the bodies.)

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum NluError {
    #[error("invalid training data: {0}")]
    Invalid(String),
}

/// Which model to use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ModelChoice {
    #[default]
    Fast,
    Encoder { model_dir: std::path::PathBuf },
}

#[derive(Debug, Clone, Default)]
pub struct NluOptions {
    pub model: ModelChoice,
}

/// Per-message context for recognition.
#[derive(Debug, Clone)]
pub struct AnalyzeContext<'a> {
    /// IANA timezone (`context.global.system.timezone`), None = UTC.
    pub timezone: Option<&'a str>,
    /// `context.global.system.reference_time` or the clock.
    pub reference_time: chrono::DateTime<chrono::Utc>,
}

/// Recognition result in Watson's runtime shapes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    /// `[{"intent","confidence"}]`, sorted desc, at most 10 (the server trims to the top one
    /// unless `alternate_intents`).
    pub intents: Vec<Value>,
    /// `[{"entity","location","value","confidence",...}]` in input order.
    pub entities: Vec<Value>,
}

/// A trained model for one skill.
#[derive(Debug)]
pub struct Nlu {
    model_name: String,
}

impl Nlu {
    /// Train from a workspace JSON (intents, entities, counterexamples, system_settings, language).
    pub fn train(_workspace: &Value, _options: &NluOptions) -> Result<Nlu, NluError> {
        Ok(Nlu { model_name: "fast".into() })
    }
    /// "fast" or "encoder(...)", for the start-up log.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }
    pub fn analyze(&self, _text: &str, _ctx: &AnalyzeContext<'_>) -> Analysis {
        Analysis::default()
    }
}
