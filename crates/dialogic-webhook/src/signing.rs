//! Signing outbound calls: Watson's JWT (`Authorization`) and the Standard Webhooks
//! `webhook-signature`.
//!
//! Both use the same secret. The JWT is HS256 keyed with the secret's UTF-8 bytes (what
//! `jsonwebtoken.verify(token, secret)` in IBM's Node samples expects). The Standard Webhooks
//! signature is HMAC-SHA256 over `"{id}.{timestamp}.{body}"`, keyed with [`signing_key`]: the
//! secret's UTF-8 bytes, except that a secret in the Standard Webhooks form `whsec_<base64>`
//! is keyed with the decoded bytes, so the official Standard Webhooks libraries verify it as-is.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Lifetime of a signed JWT (the `exp` claim is `iat` plus this many seconds).
pub const JWT_LIFETIME_SECS: i64 = 300;

/// The claims of the JWT Dialogic sends: nothing a receiver would have to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds (`iat + 300`).
    pub exp: i64,
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC is defined for keys of any length, so `new_from_slice` cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// A compact HS256 JWT `{"iat": issued_at, "exp": issued_at + 300}` signed with the secret's
/// UTF-8 bytes. Sent bare (no `Bearer `) in `Authorization`, as Watson does.
pub fn sign_jwt(secret: &str, issued_at: i64) -> String {
    const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
    let claims = format!(
        r#"{{"iat":{issued_at},"exp":{}}}"#,
        issued_at.saturating_add(JWT_LIFETIME_SECS)
    );
    let mut token = URL_SAFE_NO_PAD.encode(HEADER);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let signature = hmac_sha256(secret.as_bytes(), &[token.as_bytes()]);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}

/// The HMAC key for the Standard Webhooks signature (see the module docs).
pub fn signing_key(secret: &str) -> Vec<u8> {
    if let Some(encoded) = secret.strip_prefix("whsec_") {
        if let Ok(decoded) = STANDARD.decode(encoded) {
            if !decoded.is_empty() {
                return decoded;
            }
        }
    }
    secret.as_bytes().to_vec()
}

/// The raw HMAC-SHA256 over `"{id}.{timestamp}.{body}"`.
pub(crate) fn standard_mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    hmac_sha256(
        key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    )
}

/// The Standard Webhooks `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
pub fn sign_standard(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = standard_mac(&signing_key(secret), id, &timestamp.to_string(), body);
    format!("v1,{}", STANDARD.encode(mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_has_the_documented_shape() {
        let token = sign_jwt("purple unicorn", 1_700_000_000);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = URL_SAFE_NO_PAD.decode(parts[0]).unwrap();
        assert_eq!(header, br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(
            claims,
            Claims {
                iat: 1_700_000_000,
                exp: 1_700_000_300
            }
        );
    }

    #[test]
    fn standard_signature_matches_the_standard_webhooks_test_vector() {
        // Test vector from the Standard Webhooks reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let sig = sign_standard(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn plain_secret_keys_with_its_utf8_bytes() {
        assert_eq!(signing_key("purple unicorn"), b"purple unicorn".to_vec());
        // Not valid base64 after the prefix: used as-is.
        assert_eq!(signing_key("whsec_!!"), b"whsec_!!".to_vec());
        let a = sign_standard("purple unicorn", "msg_1", 1, b"{}");
        let b = sign_standard("another secret", "msg_1", 1, b"{}");
        assert_ne!(a, b);
        assert!(a.starts_with("v1,"));
    }
}
