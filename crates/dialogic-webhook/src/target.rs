//! What one call is: where it goes ([`Target`], [`Auth`]), what it carries
//! ([`OutboundRequest`]) and what came back ([`Reply`]).

use std::time::Duration;

use bytes::Bytes;

use crate::secret::Secret;

/// How a call authenticates.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    None,
    /// Watson's "Secret": `Authorization: <HS256 JWT>` (bare, no "Bearer"), and the Standard
    /// Webhooks `webhook-signature` with the same secret. A custom `Authorization` header in
    /// [`Target::headers`] replaces the JWT (Watson classic rule).
    Jwt(Secret),
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        username: String,
        password: Secret,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// A header named `header` carrying `key`.
    ApiKey {
        header: String,
        key: Secret,
    },
    /// OAuth 2.0 client-credentials grant: a token is fetched from `token_url` (client id and
    /// secret sent as HTTP Basic), cached until it expires, refreshed once on a 401, and sent as
    /// `Authorization: Bearer <access_token>`.
    OAuth2 {
        token_url: String,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    },
}

impl Auth {
    /// The secret that signs `webhook-signature`, if this mode has one.
    pub fn signing_secret(&self) -> Option<&Secret> {
        match self {
            Auth::Jwt(secret) if !secret.is_empty() => Some(secret),
            _ => None,
        }
    }
}

/// Where and how to call.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub url: String,
    pub auth: Auth,
    /// The user's custom headers (a custom Authorization replaces the JWT; with Basic, Bearer,
    /// API key and OAuth2 auth it is ignored, as in Watson's new experience, where "Edit authentication" owns it).
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
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

impl OutboundRequest {
    /// A request with a fresh random `webhook-id` (`msg_<uuid>`) and no extra headers.
    pub fn new(body: impl Into<Bytes>) -> Self {
        OutboundRequest {
            webhook_id: new_webhook_id(),
            body: body.into(),
            extra_headers: Vec::new(),
        }
    }
}

/// A fresh `webhook-id` value: `msg_` followed by a random UUID (simple form).
pub fn new_webhook_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

/// A received reply (any status).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub latency: Duration,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}
