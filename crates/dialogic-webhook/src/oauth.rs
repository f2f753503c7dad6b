//! OAuth 2.0 client-credentials tokens: the request, the response and a per-configuration
//! cache (single-flight: concurrent calls wait for one fetch instead of each fetching).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// Lifetime assumed when the token endpoint does not say (`expires_in` absent).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Never trust a token longer than this (keeps the expiry arithmetic in range).
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Refresh this long before the token endpoint's expiry, so a token never expires in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// Identifies one OAuth2 configuration (the client secret only as a hash).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey {
    token_url: String,
    client_id: String,
    scope: Option<String>,
    secret_hash: [u8; 32],
}

impl TokenKey {
    pub(crate) fn new(
        token_url: &str,
        client_id: &str,
        client_secret: &Secret,
        scope: Option<&str>,
    ) -> Self {
        TokenKey {
            token_url: token_url.to_owned(),
            client_id: client_id.to_owned(),
            scope: scope.map(str::to_owned),
            secret_hash: Sha256::digest(client_secret.expose().as_bytes()).into(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct CachedToken {
    pub(crate) access_token: Secret,
    pub(crate) expires_at: Instant,
}

pub(crate) type Slot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// Tokens by configuration.
#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<TokenKey, Slot>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenCache")
    }
}

impl TokenCache {
    /// The slot for one configuration (created empty on first use).
    pub(crate) fn slot(&self, key: &TokenKey) -> Slot {
        let mut slots = match self.slots.lock() {
            Ok(slots) => slots,
            // A panic elsewhere while holding the map cannot leave it inconsistent (single
            // insert), so keep using it.
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.entry(key.clone()).or_default().clone()
    }
}

/// The `application/x-www-form-urlencoded` body of a client-credentials token request.
pub(crate) fn token_request_body(scope: Option<&str>) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if let Some(scope) = scope.filter(|s| !s.is_empty()) {
        form.append_pair("scope", scope);
    }
    form.finish()
}

/// `Basic base64(urlencode(client_id):urlencode(client_secret))` (RFC 6749 §2.3.1).
pub(crate) fn client_authorization(client_id: &str, client_secret: &Secret) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(client_secret.expose()));
    format!("Basic {}", STANDARD.encode(pair))
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// Parse a token endpoint's JSON reply. `None` if it carries no usable token.
pub(crate) fn parse_token_response(body: &[u8], now: Instant) -> Option<CachedToken> {
    let parsed: TokenResponse = serde_json::from_slice(body).ok()?;
    if parsed.access_token.is_empty() {
        return None;
    }
    // Some servers send `expires_in` as a string.
    let seconds = match parsed.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let lifetime = seconds
        .map_or(DEFAULT_LIFETIME, Duration::from_secs)
        .min(MAX_LIFETIME);
    let margin = EXPIRY_MARGIN.min(lifetime / 2);
    Some(CachedToken {
        access_token: Secret::new(parsed.access_token),
        expires_at: now + (lifetime - margin),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_token_responses() {
        let now = Instant::now();
        let t = parse_token_response(
            br#"{"access_token":"abc","token_type":"bearer","expires_in":3600}"#,
            now,
        )
        .unwrap();
        assert_eq!(t.access_token.expose(), "abc");
        assert_eq!(t.expires_at - now, Duration::from_secs(3570));
        let t = parse_token_response(br#"{"access_token":"abc","expires_in":"10"}"#, now).unwrap();
        assert_eq!(t.expires_at - now, Duration::from_secs(5));
        let t = parse_token_response(br#"{"access_token":"abc"}"#, now).unwrap();
        assert_eq!(t.expires_at - now, Duration::from_secs(3570));
        let t = parse_token_response(
            br#"{"access_token":"abc","expires_in":18446744073709551615}"#,
            now,
        )
        .unwrap();
        assert_eq!(t.expires_at - now, Duration::from_secs(24 * 3600 - 30));
        assert!(parse_token_response(br#"{"access_token":""}"#, now).is_none());
        assert!(parse_token_response(b"not json", now).is_none());
    }

    #[test]
    fn builds_requests() {
        assert_eq!(token_request_body(None), "grant_type=client_credentials");
        assert_eq!(
            token_request_body(Some("a b")),
            "grant_type=client_credentials&scope=a+b"
        );
        assert_eq!(
            client_authorization("id", &Secret::new("s:x")),
            format!("Basic {}", STANDARD.encode("id:s%3Ax"))
        );
    }
}
