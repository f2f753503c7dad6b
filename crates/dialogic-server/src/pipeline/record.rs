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
    /// The exact body sent.
    pub request: &'a [u8],
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
        let request_body = cap(&redact(&without_private(f.request), &secrets));
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

/// The sent body as text, private context variables removed. Only a body that mentions
/// `private` is parsed and re-serialized; any other is recorded as sent.
fn without_private(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if !text.contains("private") {
        return text.into_owned();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            redact_private(&mut v);
            v.to_string()
        }
        Err(_) => text.into_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_without_private_variables_is_recorded_as_sent() {
        let sent = br#"{"payload":{"b":1,"a":{"x":[1,2]}},"event":{"name":"message_received"}}"#;
        assert_eq!(without_private(sent), String::from_utf8_lossy(sent));
    }

    #[test]
    fn private_variables_are_removed_from_the_recorded_body() {
        let sent = br#"{"payload":{"context":{"private":{"pin":"1234"},"skills":{"main skill":{"user_defined":{"$private":{"k":1},"ok":2}}}}}}"#;
        let recorded = without_private(sent);
        assert!(!recorded.contains("1234"), "{recorded}");
        assert!(!recorded.contains("$private"), "{recorded}");
        assert!(recorded.contains(r#""ok":2"#), "{recorded}");
    }

    #[test]
    fn a_body_that_is_not_json_is_kept_as_text() {
        assert_eq!(without_private(b"private, not json"), "private, not json");
    }
}
