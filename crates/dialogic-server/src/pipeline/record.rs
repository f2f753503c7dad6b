//! Records of the webhook calls of one message (pre, post, dialog), committed with the turn.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dialogic_store::{Store, WebhookCallRecord};
use dialogic_webhook::{Auth, Target};
use serde_json::Value;

use super::context::strip_private_context;

/// Bodies are capped at this many bytes in the records.
pub const BODY_CAP: usize = 20 * 1024;

/// Collects a message's call records.
#[derive(Debug, Default)]
pub struct CallLog {
    pub records: Vec<WebhookCallRecord>,
}

/// What one call did, for the record.
pub struct CallFacts<'a> {
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: &'static str,
    pub target: &'a Target,
    pub request: &'a Value,
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub response: Option<&'a [u8]>,
}

impl CallLog {
    pub fn add(
        &mut self,
        assistant: &str,
        environment: &str,
        session: Option<&str>,
        f: CallFacts<'_>,
    ) {
        let secrets = secrets_of(f.target);
        let mut request = f.request.clone();
        redact_private(&mut request);
        let request_body = cap(&redact(&request.to_string(), &secrets));
        let response_body = f
            .response
            .map(|b| cap(&redact(&String::from_utf8_lossy(b), &secrets)));
        self.records.push(WebhookCallRecord {
            id: f.id,
            at: f.at,
            assistant_id: assistant.to_owned(),
            environment_id: environment.to_owned(),
            session_id: session.map(str::to_owned),
            kind: f.kind.to_owned(),
            url: redact_url(&f.target.url),
            status_code: f.status.map(i32::from),
            latency_ms: f.latency_ms,
            error: f.error,
            request_body,
            response_body,
        });
    }

    /// Store the records in the background: the reply never waits for them.
    pub fn spawn_store(self, store: Arc<dyn Store>) {
        if self.records.is_empty() {
            return;
        }
        tokio::spawn(async move {
            for r in &self.records {
                if let Err(e) = store.record_webhook_call(r).await {
                    tracing::warn!(error = %e, call_id = %r.id, "could not record a webhook call");
                }
            }
        });
    }
}

fn secrets_of(t: &Target) -> Vec<String> {
    let mut s: Vec<String> = match &t.auth {
        Auth::None => vec![],
        Auth::Jwt(x) | Auth::Bearer(x) => vec![x.expose().to_owned()],
        Auth::Basic { password, .. } => vec![password.expose().to_owned()],
        Auth::ApiKey { key, .. } => vec![key.expose().to_owned()],
        Auth::OAuth2 { client_secret, .. } => vec![client_secret.expose().to_owned()],
    };
    s.extend(
        t.headers
            .iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                k.contains("auth")
                    || k.contains("key")
                    || k.contains("token")
                    || k.contains("secret")
            })
            .map(|(_, v)| v.clone()),
    );
    s.retain(|x| x.len() >= 4);
    s
}

fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

fn redact_private(v: &mut Value) {
    for key in ["context", "payload"] {
        if let Some(c) = v.get_mut(key) {
            strip_private_context(c);
            if let Some(inner) = c.get_mut("context") {
                strip_private_context(inner);
            }
        }
    }
}

fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// Cut to at most [`BODY_CAP`] bytes on a character boundary.
pub fn cap(s: &str) -> String {
    if s.len() <= BODY_CAP {
        return s.to_owned();
    }
    let mut end = BODY_CAP;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
