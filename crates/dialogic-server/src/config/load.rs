//! Layering: defaults -> TOML file -> `DIALOGIC_*` environment (`__` separates levels).

use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;

use super::Config;
use crate::error::ServerError;

/// The sections an environment variable may address (others, like test settings, are ignored).
const SECTIONS: &[&str] = &[
    "server",
    "storage",
    "nlu",
    "webhooks",
    "delivery",
    "assistants",
];

/// A loaded configuration and the directory its relative paths start from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub base_dir: PathBuf,
}

/// Load `file` (or the demo defaults when None) and apply `DIALOGIC_*` variables from `env`.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<LoadedConfig, ServerError> {
    let (figment, base_dir) = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ServerError::ReadFile {
                path: path.display().to_string(),
                source,
            })?;
            let base = path
                .parent()
                .map(Path::to_path_buf)
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| PathBuf::from("."));
            (
                Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(&text)),
                base,
            )
        }
        None => (
            Figment::from(Serialized::defaults(Config::demo())),
            PathBuf::from("."),
        ),
    };
    let config = apply_env(figment, env)
        .extract::<Config>()
        .map_err(|e| ServerError::Config(Box::new(e)))?;
    Ok(LoadedConfig { config, base_dir })
}

/// Parse a TOML document (defaults applied, no environment), e.g. for tests.
pub fn load_str(toml_text: &str, base_dir: &Path) -> Result<LoadedConfig, ServerError> {
    let config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(toml_text))
        .extract::<Config>()
        .map_err(|e| ServerError::Config(Box::new(e)))?;
    Ok(LoadedConfig {
        config,
        base_dir: base_dir.to_path_buf(),
    })
}

fn apply_env(mut figment: Figment, env: impl IntoIterator<Item = (String, String)>) -> Figment {
    for (key, value) in env {
        let Some(rest) = key.strip_prefix("DIALOGIC_") else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if !path
            .first()
            .is_some_and(|first| SECTIONS.contains(&first.as_str()))
        {
            continue;
        }
        let parsed: figment::value::Value = value
            .parse()
            .unwrap_or_else(|_| figment::value::Value::from(value.clone()));
        figment = figment.merge(Serialized::default(&path.join("."), parsed));
    }
    figment
}
