//! The configured assistants and environments, with their compiled skills, trained NLU and
//! resolved webhook targets. Built once at start; every problem is reported at once.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dialogic_dialog::Skill;
use dialogic_nlu::{ModelChoice, Nlu, NluOptions};
use dialogic_webhook::{Auth, Target};

use crate::config::{
    AssistantConfig, AuthConfig, Config, ConfigSecret, DialogHookConfig, EnvironmentConfig,
    HookConfig, LogHookConfig, OnError, Problem, WebhooksConfig, BUILTIN_DEMO_SKILL,
};

/// The bundled demo skill (a real Watson dialog-skill export).
pub const DEMO_SKILL_JSON: &str = include_str!("../assets/demo-skill.json");

/// A pre- or post-message hook, ready to call.
#[derive(Debug, Clone)]
pub struct HookTarget {
    pub target: Target,
    pub on_error: OnError,
}

/// The log webhook of an environment.
#[derive(Debug, Clone)]
pub struct LogTarget {
    pub target: Target,
    pub subscribe: Vec<String>,
}

/// Overrides for dialog (`main_webhook`) calls.
#[derive(Debug, Clone, Default)]
pub struct DialogOverrides {
    pub url: Option<String>,
    pub secret: Option<ConfigSecret>,
    pub headers: Vec<(String, String)>,
}

/// One environment of an assistant: what serves `/v2/assistants/{a}/environments/{e}/...`.
#[derive(Debug)]
pub struct Environment {
    pub assistant_id: String,
    pub id: String,
    pub name: String,
    /// "draft", "live" or "environment" (Watson's Environment.environment).
    pub kind: &'static str,
    pub skill_ref: String,
    pub skill: Arc<Skill>,
    pub nlu: Arc<Nlu>,
    pub skill_id: String,
    pub session_timeout: Duration,
    pub pre_message: Option<HookTarget>,
    pub post_message: Option<HookTarget>,
    pub log: Option<LogTarget>,
    pub dialog: DialogOverrides,
}

impl Environment {
    /// The Log record's `snapshot`: "draft"/"live" from the environment's name.
    pub fn snapshot(&self) -> &str {
        match self.kind {
            "draft" => "draft",
            "live" => "live",
            _ => &self.name,
        }
    }
    pub fn logs_subscribed(&self) -> Option<&LogTarget> {
        self.log
            .as_ref()
            .filter(|l| l.subscribe.iter().any(|s| s == "message_logged"))
    }
}

#[derive(Debug)]
pub struct Assistant {
    pub id: String,
    pub name: String,
    pub session_timeout: Duration,
    /// In listing order: draft, live, then the configured ones.
    pub environments: Vec<Arc<Environment>>,
}

impl Assistant {
    pub fn environment(&self, id: &str) -> Option<&Arc<Environment>> {
        self.environments.iter().find(|e| e.id == id)
    }
}

/// A compiled skill and its trained NLU.
type Compiled = (Arc<Skill>, Arc<Nlu>);

/// Every assistant, by id.
#[derive(Debug, Default)]
pub struct Registry {
    assistants: BTreeMap<String, Arc<Assistant>>,
}

/// Which environment serves the paths without `/environments/{env}`.
pub const DEFAULT_ENVIRONMENT: &str = "live";

impl Registry {
    pub fn assistant(&self, id: &str) -> Option<&Arc<Assistant>> {
        self.assistants.get(id)
    }
    pub fn assistants(&self) -> impl Iterator<Item = &Arc<Assistant>> {
        self.assistants.values()
    }
    /// `/v2/assistants/{id}/...` without an environment: the assistant's `live` environment,
    /// or, as in Watson's new experience where that segment holds an environment id, the one
    /// environment with that id (when it is unique across assistants).
    pub fn resolve(&self, id: &str, env: Option<&str>) -> Option<Arc<Environment>> {
        if let Some(a) = self.assistants.get(id) {
            return a.environment(env.unwrap_or(DEFAULT_ENVIRONMENT)).cloned();
        }
        if env.is_some() {
            return None;
        }
        let mut found = self
            .assistants
            .values()
            .flat_map(|a| a.environments.iter())
            .filter(|e| e.id == id);
        match (found.next(), found.next()) {
            (Some(e), None) => Some(e.clone()),
            _ => None,
        }
    }
    /// The log webhook target of an environment (for the delivery worker).
    pub fn log_target(&self, assistant_id: &str, environment_id: &str) -> Option<Target> {
        self.assistants
            .get(assistant_id)?
            .environment(environment_id)?
            .log
            .as_ref()
            .map(|l| l.target.clone())
    }

    /// Compile every skill (once per distinct file), train the NLU, resolve every webhook.
    pub fn build(config: &Config, base_dir: &Path, train: bool) -> Result<Registry, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut cache: HashMap<String, Option<Compiled>> = HashMap::new();
        let nlu_options = if train {
            config.nlu.options().unwrap_or_else(|e| {
                problems.push(Problem::new("nlu.model", e.to_string()));
                NluOptions::default()
            })
        } else {
            NluOptions::default()
        };
        let mut registry = Registry::default();
        for a in &config.assistants {
            let mut envs: Vec<Arc<Environment>> = Vec::new();
            let mut ids: Vec<(String, Option<&EnvironmentConfig>)> = vec![
                (
                    "draft".into(),
                    a.environments.iter().find(|e| e.id == "draft"),
                ),
                (
                    "live".into(),
                    a.environments.iter().find(|e| e.id == "live"),
                ),
            ];
            ids.extend(
                a.environments
                    .iter()
                    .filter(|e| e.id != "draft" && e.id != "live")
                    .map(|e| (e.id.clone(), Some(e))),
            );
            for (env_id, env_cfg) in ids {
                let skill_ref = env_cfg
                    .and_then(|e| e.skill.clone())
                    .unwrap_or_else(|| a.skill.clone());
                let loaded = cache
                    .entry(skill_ref.clone())
                    .or_insert_with(|| {
                        load_skill(
                            &skill_ref,
                            base_dir,
                            &nlu_options,
                            a,
                            &env_id,
                            &mut problems,
                        )
                    })
                    .clone();
                let Some((skill, nlu)) = loaded else {
                    continue;
                };
                let webhooks = merged_webhooks(&a.webhooks, env_cfg.map(|e| &e.webhooks));
                let kind = match env_id.as_str() {
                    "draft" => "draft",
                    "live" => "live",
                    _ => "environment",
                };
                let name = env_cfg
                    .and_then(|e| e.name.clone())
                    .unwrap_or_else(|| env_id.clone());
                let skill_id = skill
                    .workspace()
                    .get("workspace_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{}-{}", a.id, skill_slug(&skill_ref)));
                envs.push(Arc::new(Environment {
                    assistant_id: a.id.clone(),
                    id: env_id.clone(),
                    name,
                    kind,
                    skill_ref,
                    skill,
                    nlu,
                    skill_id,
                    session_timeout: env_cfg
                        .and_then(|e| e.session_timeout)
                        .unwrap_or(a.session_timeout)
                        .0,
                    pre_message: webhooks.pre_message.as_ref().map(hook_target),
                    post_message: webhooks.post_message.as_ref().map(hook_target),
                    log: webhooks.log.as_ref().map(log_target),
                    dialog: dialog_overrides(webhooks.dialog.as_ref()),
                }));
            }
            registry.assistants.insert(
                a.id.clone(),
                Arc::new(Assistant {
                    id: a.id.clone(),
                    name: a.name.clone().unwrap_or_else(|| a.id.clone()),
                    session_timeout: a.session_timeout.0,
                    environments: envs,
                }),
            );
        }
        if problems.is_empty() {
            Ok(registry)
        } else {
            Err(problems)
        }
    }
}

fn skill_slug(skill_ref: &str) -> String {
    Path::new(skill_ref)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "skill".into())
}

/// The path a skill reference points to (relative to the config file).
pub fn skill_path(skill_ref: &str, base_dir: &Path) -> PathBuf {
    let p = Path::new(skill_ref);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

fn load_skill(
    skill_ref: &str,
    base_dir: &Path,
    nlu_options: &NluOptions,
    a: &AssistantConfig,
    env_id: &str,
    problems: &mut Vec<Problem>,
) -> Option<Compiled> {
    let at = format!(
        "assistant {}, environment {env_id}, skill {skill_ref}",
        a.id
    );
    let bytes: Vec<u8> = if skill_ref == BUILTIN_DEMO_SKILL {
        DEMO_SKILL_JSON.as_bytes().to_vec()
    } else {
        match std::fs::read(skill_path(skill_ref, base_dir)) {
            Ok(b) => b,
            Err(e) => {
                problems.push(Problem::new(at, format!("cannot read the skill file: {e}")));
                return None;
            }
        }
    };
    let skill = match Skill::from_json(&bytes) {
        Ok(s) => s,
        Err(e) => {
            problems.extend(
                e.problems
                    .iter()
                    .map(|p| Problem::new(at.clone(), p.to_string())),
            );
            return None;
        }
    };
    if nlu_options.vectors_dir.is_some() || nlu_options.model != ModelChoice::Fast {
        // Said before the work, not after: without a cache this is tens of seconds, not milliseconds.
        tracing::info!(
            assistant = %a.id,
            "training the NLU with the encoder's files; the first start embeds the training data \
             (and builds the distilled vector table) and can take a minute, later starts read \
             them from the cache"
        );
    }
    let nlu = match Nlu::train(skill.workspace(), nlu_options) {
        Ok(n) => n,
        Err(e) => {
            problems.push(Problem::new(at, format!("NLU training failed: {e}")));
            return None;
        }
    };
    tracing::info!(
        assistant = %a.id,
        skill = %skill_ref,
        model = %nlu.model_name(),
        model_mib = nlu.memory_bytes() as f64 / 1048576.0,
        shared_mib = nlu.shared_memory_bytes() as f64 / 1048576.0,
        "skill loaded"
    );
    Some((Arc::new(skill), Arc::new(nlu)))
}

fn merged_webhooks(assistant: &WebhooksConfig, env: Option<&WebhooksConfig>) -> WebhooksConfig {
    let Some(env) = env else {
        return assistant.clone();
    };
    WebhooksConfig {
        pre_message: env
            .pre_message
            .clone()
            .or_else(|| assistant.pre_message.clone()),
        post_message: env
            .post_message
            .clone()
            .or_else(|| assistant.post_message.clone()),
        log: env.log.clone().or_else(|| assistant.log.clone()),
        dialog: env.dialog.clone().or_else(|| assistant.dialog.clone()),
    }
}

/// The webhook client's auth for a secret and/or an explicit auth table.
pub fn auth_for(secret: Option<&ConfigSecret>, auth: Option<&AuthConfig>) -> Auth {
    match (auth, secret) {
        (Some(AuthConfig::Basic { username, password }), _) => Auth::Basic {
            username: username.clone(),
            password: password.to_secret(),
        },
        (Some(AuthConfig::Bearer { token }), _) => Auth::Bearer(token.to_secret()),
        (Some(AuthConfig::ApiKey { header, key }), _) => Auth::ApiKey {
            header: header.clone(),
            key: key.to_secret(),
        },
        (
            Some(AuthConfig::Oauth2 {
                token_url,
                client_id,
                client_secret,
                scope,
            }),
            _,
        ) => Auth::OAuth2 {
            token_url: token_url.clone(),
            client_id: client_id.clone(),
            client_secret: client_secret.to_secret(),
            scope: scope.clone(),
        },
        (_, Some(s)) => Auth::Jwt(s.to_secret()),
        _ => Auth::None,
    }
}

fn hook_target(h: &HookConfig) -> HookTarget {
    HookTarget {
        target: Target {
            url: h.url.clone(),
            auth: auth_for(h.secret.as_ref(), h.auth.as_ref()),
            headers: h
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: h.timeout.0,
        },
        on_error: h.on_error,
    }
}

fn log_target(h: &LogHookConfig) -> LogTarget {
    LogTarget {
        target: Target {
            url: h.url.clone(),
            auth: auth_for(h.secret.as_ref(), h.auth.as_ref()),
            headers: h
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: h.timeout.0,
        },
        subscribe: h.subscribe.clone(),
    }
}

fn dialog_overrides(d: Option<&DialogHookConfig>) -> DialogOverrides {
    d.map(|d| DialogOverrides {
        url: d.url.clone(),
        secret: d.secret.clone(),
        headers: d
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
    .unwrap_or_default()
}
