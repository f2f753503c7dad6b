//! Receiver side: check that a call really came from Dialogic (or Watson).
//!
//! - [`verify_jwt`]: the `Authorization` JWT (HS256 over the secret's UTF-8 bytes; `exp` is
//!   checked with 60 s of leeway). Proves the sender knows the secret, not what it sent.
//! - [`verify_signature`]: the Standard Webhooks `webhook-signature` over
//!   `"{webhook-id}.{webhook-timestamp}.{raw body}"`, with a timestamp tolerance against
//!   replays. Proves the exact body. Verify the raw bytes, before any JSON parsing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::error::VerifyError;
use crate::signing::{signing_key, standard_mac, Claims};

/// The tolerance Standard Webhooks recommends between `webhook-timestamp` and the receiver's clock.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Verify the JWT of an `Authorization` header value (bare, as Watson sends it, or with a
/// `Bearer ` prefix) against `secret`, and return its claims.
pub fn verify_jwt(token: &str, secret: &str) -> Result<Claims, VerifyError> {
    let token = token.trim();
    let token = token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("bearer "))
        .unwrap_or(token);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 60;
    validation.set_required_spec_claims(&["exp"]);
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
    .map_err(VerifyError::Jwt)
}

/// Where the three signed values come from: an [`http::HeaderMap`] (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`) or a `(id, timestamp, signature)` tuple.
pub trait SignatureParts {
    fn parts(&self) -> Result<(&str, &str, &str), VerifyError>;
}

impl SignatureParts for http::HeaderMap {
    fn parts(&self) -> Result<(&str, &str, &str), VerifyError> {
        let get = |name: &'static str| {
            self.get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(VerifyError::MissingHeader(name))
        };
        Ok((
            get("webhook-id")?,
            get("webhook-timestamp")?,
            get("webhook-signature")?,
        ))
    }
}

impl SignatureParts for (&str, &str, &str) {
    fn parts(&self) -> Result<(&str, &str, &str), VerifyError> {
        Ok((self.0, self.1, self.2))
    }
}

/// Verify a Standard Webhooks signature over the raw `body`, with the timestamp within
/// `tolerance` of now. The signature header may list several space-separated `v1,<base64>`
/// signatures (during a secret rotation); one match is enough.
pub fn verify_signature(
    secret: &str,
    parts: &impl SignatureParts,
    body: &[u8],
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    verify_signature_at(secret, parts, body, tolerance, now)
}

/// [`verify_signature`] against a given clock (`now`, unix seconds).
pub fn verify_signature_at(
    secret: &str,
    parts: &impl SignatureParts,
    body: &[u8],
    tolerance: Duration,
    now: i64,
) -> Result<(), VerifyError> {
    let (id, timestamp, signatures) = parts.parts()?;
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if now.abs_diff(sent) > tolerance.unsigned_abs() {
        return Err(VerifyError::TimestampOutOfTolerance);
    }
    let expected = standard_mac(&signing_key(secret), id, timestamp.trim(), body);
    let matches = signatures.split_whitespace().any(|candidate| {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            return false;
        };
        match STANDARD.decode(encoded) {
            Ok(given) => constant_time_eq(&given, &expected),
            Err(_) => false,
        }
    });
    if matches {
        Ok(())
    } else {
        Err(VerifyError::SignatureMismatch)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{sign_jwt, sign_standard};

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn jwt_round_trip() {
        let iat = now();
        let token = sign_jwt("purple unicorn", iat);
        assert_eq!(
            verify_jwt(&token, "purple unicorn").unwrap(),
            Claims {
                iat,
                exp: iat + 300
            }
        );
        assert_eq!(
            verify_jwt(&format!("Bearer {token}"), "purple unicorn")
                .unwrap()
                .iat,
            iat
        );
        assert!(verify_jwt(&token, "another secret").is_err());
        assert!(verify_jwt("garbage", "purple unicorn").is_err());
        // Expired (beyond the 60 s leeway).
        let old = sign_jwt("purple unicorn", iat - 1000);
        assert!(verify_jwt(&old, "purple unicorn").is_err());
    }

    #[test]
    fn signature_round_trip() {
        let t = now();
        let sig = sign_standard("s3cret", "msg_1", t, br#"{"a":1}"#);
        let ts = t.to_string();
        verify_signature(
            "s3cret",
            &("msg_1", ts.as_str(), sig.as_str()),
            br#"{"a":1}"#,
            DEFAULT_TOLERANCE,
        )
        .unwrap();
        // Several signatures: any one may match.
        let both = format!("v1,AAAA {sig}");
        verify_signature(
            "s3cret",
            &("msg_1", ts.as_str(), both.as_str()),
            br#"{"a":1}"#,
            DEFAULT_TOLERANCE,
        )
        .unwrap();
        for (secret, id, body) in [
            ("other", "msg_1", &br#"{"a":1}"#[..]),
            ("s3cret", "msg_2", br#"{"a":1}"#),
            ("s3cret", "msg_1", br#"{"a": 1}"#),
        ] {
            assert!(matches!(
                verify_signature(
                    secret,
                    &(id, ts.as_str(), sig.as_str()),
                    body,
                    DEFAULT_TOLERANCE
                ),
                Err(VerifyError::SignatureMismatch)
            ));
        }
        let old = (t - 600).to_string();
        let old_sig = sign_standard("s3cret", "msg_1", t - 600, b"{}");
        assert!(matches!(
            verify_signature(
                "s3cret",
                &("msg_1", old.as_str(), old_sig.as_str()),
                b"{}",
                DEFAULT_TOLERANCE
            ),
            Err(VerifyError::TimestampOutOfTolerance)
        ));
        assert!(matches!(
            verify_signature(
                "s3cret",
                &("msg_1", "soon", sig.as_str()),
                b"{}",
                DEFAULT_TOLERANCE
            ),
            Err(VerifyError::BadTimestamp)
        ));
    }

    #[test]
    fn signature_from_headers() {
        let t = now();
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", "msg_9".parse().unwrap());
        headers.insert("webhook-timestamp", t.to_string().parse().unwrap());
        assert!(matches!(
            verify_signature("k", &headers, b"{}", DEFAULT_TOLERANCE),
            Err(VerifyError::MissingHeader("webhook-signature"))
        ));
        headers.insert(
            "webhook-signature",
            sign_standard("k", "msg_9", t, b"{}").parse().unwrap(),
        );
        verify_signature("k", &headers, b"{}", DEFAULT_TOLERANCE).unwrap();
    }
}
