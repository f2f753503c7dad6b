//! # dialogic-webhook
//!
//! The outbound webhook client and the webhook protocol: timeouts, no redirects, response
//! body cap, SSRF guard; JWT and Standard Webhooks signing and verification; Watson's
//! pre/post-message merge rules.
//!
//! Must never: touch the database.
//!
//! (Contract stub written by the integrator; the webhook helper replaces the bodies and splits
//! it into modules: `client`, `guard`, `auth`, `signing`, `verify`, `watson`, ...)

use std::time::Duration;

use bytes::Bytes;

/// A secret string whose `Debug`/`Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself: only for signing/sending, never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How a call authenticates.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    None,
    /// Watson's "Secret": `Authorization: <HS256 JWT>` (bare, no "Bearer"), and the Standard
    /// Webhooks `webhook-signature` with the same secret.
    Jwt(Secret),
    Basic { username: String, password: Secret },
    Bearer(Secret),
    ApiKey { header: String, key: Secret },
    OAuth2 {
        token_url: String,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    },
}

/// Where and how to call.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub url: String,
    pub auth: Auth,
    /// The user's custom headers (a custom Authorization replaces the JWT).
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Watson requires https; true for local development.
    pub allow_http: bool,
    /// SSRF guard: refuse loopback/private/link-local destinations unless true.
    pub allow_private_addresses: bool,
    /// Response body cap (default 4,000,000 bytes).
    pub max_response_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            allow_http: false,
            allow_private_addresses: false,
            max_response_bytes: 4_000_000,
        }
    }
}

/// One outbound POST.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// `webhook-id` header: unique per call, stable across retries of the same event.
    pub webhook_id: String,
    /// The exact JSON body bytes (signed as-is).
    pub body: Bytes,
    /// Extra headers set by the caller (e.g. `webhook-sequence`).
    pub extra_headers: Vec<(String, String)>,
}

/// A received reply (any status).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub latency: Duration,
}

/// Why a call got no reply. Display strings never contain secrets.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("timed out")]
    Timeout,
    #[error("response body over the size limit")]
    TooLarge,
    #[error("destination refused: {0}")]
    Blocked(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("{0}")]
    Other(String),
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("could not build the HTTP client: {0}")]
    Build(String),
}

/// The shared outbound client (cheap to clone).
#[derive(Debug, Clone)]
pub struct Client {
    options: ClientOptions,
}

impl Client {
    pub fn new(options: ClientOptions) -> Result<Client, WebhookError> {
        Ok(Client { options })
    }
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }
    /// POST `request.body` to `target` with auth, signature and standard headers; bounded by
    /// `target.timeout` end to end (connect + headers + body), no redirects, body capped.
    pub async fn post(&self, target: &Target, request: &OutboundRequest) -> Result<Reply, CallError> {
        let _ = (target, request);
        Err(CallError::Other("not implemented yet".into()))
    }
}
