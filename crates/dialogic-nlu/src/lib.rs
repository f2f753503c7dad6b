//! # dialogic-nlu
//!
//! Everything between the user's text and `#intent` / `@entity`: an intent classifier trained
//! from the skill's examples when the skill loads, dictionary / pattern / fuzzy / contextual
//! entities, and English system entities (`@sys-number`, `@sys-currency`, `@sys-percentage`,
//! `@sys-date`, `@sys-time`), answered in Watson's runtime shapes.
//!
//! Must never: do I/O at classification time, download anything, panic or hang on any input.
//!
//! Modules:
//! - [`text`]: normalisation (case, accents, punctuation) with character offsets, tokens, stemming.
//! - [`features`]: hashed word 1-2 gram and char n-gram TF-IDF features.
//! - [`lexicon`]: a small built-in English concept lexicon (the fast model's prior knowledge).
//! - [`classifier`]: softmax logistic regression trained by SGD.
//! - [`intents`]: the fast intent model and its out-of-scope calibration.
//! - [`entities`]: dictionary (synonyms, fuzzy), pattern and contextual entities.
//! - [`system`]: system entities (numbers, currency, percentages, dates, times).
//! - [`eval`]: accuracy evaluation on a test file (`dialogic nlu eval`).

pub mod classifier;
pub mod entities;
pub mod eval;
pub mod features;
pub mod intents;
pub mod lexicon;
pub mod system;
pub mod text;

use serde_json::{json, Value};

use crate::entities::EntityRecognizer;
use crate::intents::{Example, IntentConfig, IntentModel};
use crate::system::SystemEntities;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum NluError {
    /// The workspace or test data cannot be used.
    #[error("invalid training data: {0}")]
    Invalid(String),
    /// A model directory could not be used.
    #[error("model unavailable: {0}")]
    ModelUnavailable(String),
}

/// Which model to use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ModelChoice {
    /// Pure-Rust lexical model, nothing to install.
    #[default]
    Fast,
    /// Sentence encoder loaded from a local directory (`model.safetensors` + `tokenizer.json`).
    Encoder {
        /// Directory holding the encoder files.
        model_dir: std::path::PathBuf,
    },
}

/// Training options.
#[derive(Debug, Clone, Default)]
pub struct NluOptions {
    /// Which model.
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

/// A trained model for one skill. Immutable after training: share it across threads.
#[derive(Debug)]
pub struct Nlu {
    model_name: String,
    intents: Option<IntentModel>,
    entities: EntityRecognizer,
    system: SystemEntities,
}

/// Intent names and training examples of a workspace (counterexamples get class `names.len()`).
fn training_examples(
    workspace: &Value,
    entities: &EntityRecognizer,
    config: &IntentConfig,
) -> Result<(Vec<String>, Vec<Example>), NluError> {
    let mut names = Vec::new();
    let mut examples = Vec::new();
    let intents = match workspace.get("intents") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(NluError::Invalid("`intents` is not an array".into())),
    };
    for it in intents {
        let Some(name) = it.get("intent").and_then(Value::as_str) else {
            return Err(NluError::Invalid("an intent has no `intent` name".into()));
        };
        let class = names.len();
        names.push(name.to_string());
        if config.name_examples {
            let text = intents::name_as_text(name);
            examples.push(Example {
                extra: entities.feature_tokens(&text),
                text,
                class,
            });
        }
        for ex in it
            .get("examples")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if let Some(text) = ex.get("text").and_then(Value::as_str) {
                examples.push(Example {
                    text: text.to_string(),
                    class,
                    extra: entities.feature_tokens(text),
                });
            }
        }
    }
    let irrelevant = names.len();
    for ce in workspace
        .get("counterexamples")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        if let Some(text) = ce.get("text").and_then(Value::as_str) {
            examples.push(Example {
                text: text.to_string(),
                class: irrelevant,
                extra: entities.feature_tokens(text),
            });
        }
    }
    Ok((names, examples))
}

impl Nlu {
    /// Train from a workspace JSON (intents, entities, counterexamples, system_settings, language).
    pub fn train(workspace: &Value, options: &NluOptions) -> Result<Nlu, NluError> {
        Nlu::train_with(workspace, options, &IntentConfig::default())
    }

    /// Train with an explicit intent-model configuration (for benchmarks and ablations).
    pub fn train_with(
        workspace: &Value,
        options: &NluOptions,
        config: &IntentConfig,
    ) -> Result<Nlu, NluError> {
        if !workspace.is_object() {
            return Err(NluError::Invalid(
                "the workspace is not a JSON object".into(),
            ));
        }
        if let ModelChoice::Encoder { model_dir } = &options.model {
            return Err(NluError::ModelUnavailable(format!(
                "the encoder model is not built into this version (model_dir {})",
                model_dir.display()
            )));
        }
        let language = workspace
            .get("language")
            .and_then(Value::as_str)
            .unwrap_or("en")
            .to_string();
        let entities = EntityRecognizer::from_workspace(workspace, &language)?;
        let system = SystemEntities::from_workspace(workspace, &language);
        let (names, examples) = training_examples(workspace, &entities, config)?;
        let intents =
            (!names.is_empty()).then(|| IntentModel::train(names, examples, &language, config));
        Ok(Nlu {
            model_name: "fast".into(),
            intents,
            entities,
            system,
        })
    }

    /// "fast" or "encoder(...)", for the start-up log.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// Intents only, as `(name, confidence)` sorted by confidence, at most 10.
    pub fn classify(&self, text: &str) -> Vec<(&str, f32)> {
        let Some(model) = &self.intents else {
            return Vec::new();
        };
        let extra = self.entities.feature_tokens(text);
        let conf = model.confidences(text, &extra);
        let mut ranked: Vec<(&str, f32)> =
            model.names().iter().map(String::as_str).zip(conf).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(10);
        ranked
    }

    /// Intents and entities of one input.
    pub fn analyze(&self, text: &str, ctx: &AnalyzeContext<'_>) -> Analysis {
        let intents = self
            .classify(text)
            .into_iter()
            .map(|(name, c)| json!({"intent": name, "confidence": round4(c)}))
            .collect();
        let mut entities = self.entities.recognize(text);
        entities.extend(self.system.recognize(text, ctx));
        entities::sort_and_resolve(&mut entities);
        Analysis {
            intents,
            entities: entities.into_iter().map(|e| e.to_json()).collect(),
        }
    }

    /// Approximate heap bytes held by the trained model.
    pub fn memory_bytes(&self) -> usize {
        self.intents.as_ref().map_or(0, IntentModel::memory_bytes) + self.entities.memory_bytes()
    }
}

/// Confidences are reported with 4 decimals, as Watson does in practice.
fn round4(x: f32) -> f64 {
    (f64::from(x) * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn nlu_is_send_and_sync() {
        assert_send_sync::<Nlu>();
    }

    #[test]
    fn empty_workspace_trains_and_answers_nothing() {
        let nlu = Nlu::train(&json!({"language": "en"}), &NluOptions::default())
            .expect("an empty workspace trains");
        let a = nlu.analyze(
            "hello",
            &AnalyzeContext {
                timezone: None,
                reference_time: chrono::Utc::now(),
            },
        );
        assert!(a.intents.is_empty());
        assert!(a.entities.is_empty());
    }

    #[test]
    fn rejects_non_object_workspace() {
        assert!(Nlu::train(&json!([1, 2]), &NluOptions::default()).is_err());
    }
}
