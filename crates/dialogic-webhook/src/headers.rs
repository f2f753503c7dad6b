//! The header set of one call: standard headers, authentication, the user's headers and the
//! Standard Webhooks signature, in Watson's precedence.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};

use crate::error::CallError;
use crate::signing::{sign_jwt, sign_standard};
use crate::target::{Auth, OutboundRequest, Target};

/// `dialogic/<crate version>`.
pub const USER_AGENT_VALUE: &str = concat!("dialogic/", env!("CARGO_PKG_VERSION"));

const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// Headers a user or caller may not set: they describe the body, the connection or the
/// signature, and a wrong value would break the call or its verification.
fn is_reserved(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "content-type"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "host"
            | "keep-alive"
            | "te"
            | "trailer"
            | "upgrade"
            | "webhook-id"
            | "webhook-timestamp"
            | "webhook-signature"
    )
}

fn header_name(name: &str) -> Result<HeaderName, CallError> {
    HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| CallError::Other("invalid header name in the webhook configuration".into()))
}

fn header_value(name: &HeaderName, value: &str) -> Result<HeaderValue, CallError> {
    HeaderValue::from_str(value)
        .map_err(|_| CallError::Other(format!("invalid value for header {name}")))
}

fn secret_value(name: &HeaderName, value: &str) -> Result<HeaderValue, CallError> {
    let mut value = header_value(name, value)?;
    value.set_sensitive(true);
    Ok(value)
}

/// Build every header of one call.
///
/// Precedence: the user's headers (minus reserved ones; minus `Authorization` when an explicit
/// auth mode other than the JWT owns it), then the caller's extra headers, then
/// `Content-Type`/`User-Agent` (the user may replace the User-Agent), then authentication (a
/// user `Authorization` wins over the JWT), then `webhook-id`/`-timestamp`/`-signature`.
/// `bearer` is the OAuth2 access token for [`Auth::OAuth2`].
pub(crate) fn build(
    target: &Target,
    request: &OutboundRequest,
    timestamp: i64,
    bearer: Option<&str>,
) -> Result<HeaderMap, CallError> {
    let mut headers = HeaderMap::new();
    let auth_owns_authorization = matches!(
        target.auth,
        Auth::Basic { .. } | Auth::Bearer(_) | Auth::ApiKey { .. } | Auth::OAuth2 { .. }
    );
    let api_key_header = match &target.auth {
        Auth::ApiKey { header, .. } => Some(header_name(header)?),
        _ => None,
    };
    for (name, value) in &target.headers {
        let name = header_name(name)?;
        if is_reserved(&name)
            || (auth_owns_authorization && name == AUTHORIZATION)
            || api_key_header.as_ref() == Some(&name)
        {
            continue;
        }
        let value = secret_value(&name, value)?;
        headers.insert(name, value);
    }
    for (name, value) in &request.extra_headers {
        let name = header_name(name)?;
        if is_reserved(&name) {
            continue;
        }
        let value = header_value(&name, value)?;
        headers.insert(name, value);
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    }
    match &target.auth {
        Auth::None => {}
        Auth::Jwt(secret) => {
            if !headers.contains_key(AUTHORIZATION) && !secret.is_empty() {
                let token = sign_jwt(secret.expose(), timestamp);
                headers.insert(AUTHORIZATION, secret_value(&AUTHORIZATION, &token)?);
            }
        }
        Auth::Basic { username, password } => {
            let credentials = STANDARD.encode(format!("{username}:{}", password.expose()));
            headers.insert(
                AUTHORIZATION,
                secret_value(&AUTHORIZATION, &format!("Basic {credentials}"))?,
            );
        }
        Auth::Bearer(token) => {
            headers.insert(
                AUTHORIZATION,
                secret_value(&AUTHORIZATION, &format!("Bearer {}", token.expose()))?,
            );
        }
        Auth::ApiKey { key, .. } => {
            if let Some(name) = api_key_header {
                let value = secret_value(&name, key.expose())?;
                headers.insert(name, value);
            }
        }
        Auth::OAuth2 { .. } => {
            if let Some(token) = bearer {
                headers.insert(
                    AUTHORIZATION,
                    secret_value(&AUTHORIZATION, &format!("Bearer {token}"))?,
                );
            }
        }
    }
    headers.insert(WEBHOOK_ID, header_value(&WEBHOOK_ID, &request.webhook_id)?);
    headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(timestamp));
    if let Some(secret) = target.auth.signing_secret() {
        let signature = sign_standard(
            secret.expose(),
            &request.webhook_id,
            timestamp,
            &request.body,
        );
        headers.insert(
            WEBHOOK_SIGNATURE,
            header_value(&WEBHOOK_SIGNATURE, &signature)?,
        );
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::secret::Secret;

    fn target(auth: Auth, headers: &[(&str, &str)]) -> Target {
        Target {
            url: "https://example.com/hook".into(),
            auth,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timeout: Duration::from_secs(8),
        }
    }

    fn request() -> OutboundRequest {
        OutboundRequest {
            webhook_id: "msg_1".into(),
            body: bytes::Bytes::from_static(b"{}"),
            extra_headers: vec![("webhook-sequence".into(), "7".into())],
        }
    }

    #[test]
    fn standard_headers_always_present() {
        let h = build(
            &target(Auth::None, &[("X-Tenant", "acme")]),
            &request(),
            1000,
            None,
        )
        .unwrap();
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["user-agent"], USER_AGENT_VALUE);
        assert_eq!(h["webhook-id"], "msg_1");
        assert_eq!(h["webhook-timestamp"], "1000");
        assert_eq!(h["webhook-sequence"], "7");
        assert_eq!(h["x-tenant"], "acme");
        assert!(!h.contains_key("webhook-signature"));
        assert!(!h.contains_key("authorization"));
    }

    #[test]
    fn user_cannot_break_the_body_or_signature_headers() {
        let t = target(
            Auth::Jwt(Secret::new("s")),
            &[
                ("Content-Type", "text/plain"),
                ("webhook-id", "forged"),
                ("User-Agent", "mine"),
            ],
        );
        let h = build(&t, &request(), 1000, None).unwrap();
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["webhook-id"], "msg_1");
        assert_eq!(h["user-agent"], "mine");
        assert_eq!(
            h["webhook-signature"],
            sign_standard("s", "msg_1", 1000, b"{}").as_str()
        );
    }

    #[test]
    fn custom_authorization_wins_over_jwt_but_not_over_explicit_auth() {
        let h = build(
            &target(Auth::Jwt(Secret::new("s")), &[("Authorization", "mine")]),
            &request(),
            1,
            None,
        )
        .unwrap();
        assert_eq!(h["authorization"], "mine");
        // The signature still uses the secret.
        assert!(h.contains_key("webhook-signature"));
        let h = build(
            &target(Auth::Bearer(Secret::new("t")), &[("Authorization", "mine")]),
            &request(),
            1,
            None,
        )
        .unwrap();
        assert_eq!(h["authorization"], "Bearer t");
        let h = build(
            &target(
                Auth::ApiKey {
                    header: "X-Api-Key".into(),
                    key: Secret::new("k"),
                },
                &[("x-api-key", "mine")],
            ),
            &request(),
            1,
            None,
        )
        .unwrap();
        assert_eq!(h["x-api-key"], "k");
    }

    #[test]
    fn bad_header_values_do_not_leak() {
        let err = build(
            &target(Auth::None, &[("X-Key", "bad\nsecret")]),
            &request(),
            1,
            None,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("secret"));
        assert!(err.to_string().contains("x-key"));
    }
}
