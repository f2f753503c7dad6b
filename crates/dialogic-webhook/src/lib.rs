//! # dialogic-webhook
//!
//! The outbound webhook client and the webhook protocol, for Dialogic's pre-message,
//! post-message, log and dialog webhooks, plus the receiver-side verification helpers.
//!
//! Must never: touch the database; follow a redirect; reach a loopback, private, link-local or
//! otherwise non-public address unless the options allow it; let a call outlive its timeout;
//! read more than the body cap; put a secret or a URL's credentials in an error or a log line.
//!
//! Modules:
//! - [`client`]: [`Client`], [`ClientOptions`]; `post` with an end-to-end deadline, capped
//!   streamed body, no redirects, no proxy, OAuth2 token cache.
//! - [`guard`]: the SSRF guard (address classes, URL check, guarding DNS resolver).
//! - [`headers`]: the header set of one call and its precedence.
//! - `oauth` (private): OAuth2 client-credentials token requests and cache.
//! - [`signing`]: `sign_jwt` (Watson's `Authorization` JWT) and `sign_standard`
//!   (Standard Webhooks `webhook-signature`).
//! - [`verify`]: receiver side: `verify_jwt`, `verify_signature`.
//! - [`watson`]: pure pre/post-message rules: envelopes, applying replies, Watson's 422 errors.
//! - [`secret`], [`target`], [`error`]: the contract types.

pub mod client;
pub mod error;
pub mod guard;
pub mod headers;
mod oauth;
pub mod secret;
pub mod signing;
pub mod target;
pub mod verify;
pub mod watson;

pub use client::{Client, ClientOptions};
pub use error::{CallError, VerifyError, WebhookError};
pub use headers::USER_AGENT_VALUE;
pub use secret::Secret;
pub use signing::{sign_jwt, sign_standard, Claims};
pub use target::{new_webhook_id, Auth, OutboundRequest, Reply, Target};
pub use verify::{verify_jwt, verify_signature, SignatureParts, DEFAULT_TOLERANCE};
pub use watson::{HookFailure, PreOutcome};
