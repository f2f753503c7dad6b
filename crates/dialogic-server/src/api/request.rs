//! Reading requests: query parameters, `version`, the body (with the size limit), API keys,
//! `X-Watson-Metadata`, and resolving the assistant/environment of a path.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use serde_json::Value;

use crate::envelope::ApiError;
use crate::registry::Environment;
use crate::schema::FieldError;
use crate::state::AppState;

/// Query parameters (last value wins), without axum's plain-text rejections.
pub fn query_map(raw: Option<&str>) -> HashMap<String, String> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

/// `?version=YYYY-MM-DD` is required on every v2 call.
pub fn require_version(q: &HashMap<String, String>) -> Result<String, ApiError> {
    match q.get("version") {
        None => Err(ApiError::bad_request(
            "Missing required query parameter 'version' (a date as YYYY-MM-DD, e.g. version=2024-08-25)",
        )),
        Some(v) if chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok() && v.len() == 10 => {
            Ok(v.clone())
        }
        Some(v) => Err(ApiError::bad_request(format!(
            "Invalid value for query parameter 'version': {v:?} is not a date as YYYY-MM-DD"
        ))),
    }
}

/// The assistant/environment of a path, or 404 `Resource not found`.
pub fn resolve(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<Arc<Environment>, ApiError> {
    let assistant = params.get("assistant_id").map(String::as_str).unwrap_or("");
    let env = params.get("environment_id").map(String::as_str);
    state
        .registry
        .resolve(assistant, env)
        .ok_or_else(ApiError::not_found)
}

/// Read the body (up to `max_body` bytes; 413 above) and parse it as JSON. An empty body is
/// `None`.
pub async fn json_body(body: Body, max_body: usize) -> Result<Option<Value>, ApiError> {
    let bytes = axum::body::to_bytes(body, max_body).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request Entity Too Large: the body exceeds {max_body} bytes"),
        )
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        ApiError::invalid_body(vec![FieldError {
            message: format!("the body is not valid JSON: {e}"),
            path: "/".into(),
        }])
    })
}

/// The key of `Basic base64(apikey:<key>)` or `Bearer <key>`.
pub fn api_key_from_header(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, key) = text.split_once(':')?;
        if user == "apikey" {
            return Some(key.to_owned());
        }
    }
    None
}

/// `X-Watson-Metadata: customer_id=<id>` (the first value wins).
pub fn customer_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("x-watson-metadata")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k.trim() == "customer_id")
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_from_both_schemes() {
        assert_eq!(api_key_from_header("Bearer k1").as_deref(), Some("k1"));
        let basic = base64::engine::general_purpose::STANDARD.encode("apikey:k2");
        assert_eq!(
            api_key_from_header(&format!("Basic {basic}")).as_deref(),
            Some("k2")
        );
        let other = base64::engine::general_purpose::STANDARD.encode("bob:k2");
        assert_eq!(api_key_from_header(&format!("Basic {other}")), None);
    }

    #[test]
    fn versions() {
        let q = |v: &str| HashMap::from([("version".to_owned(), v.to_owned())]);
        assert!(require_version(&q("2024-08-25")).is_ok());
        assert!(require_version(&q("2024-8-25")).is_err());
        assert!(require_version(&q("yesterday")).is_err());
        assert!(require_version(&HashMap::new()).is_err());
    }
}
