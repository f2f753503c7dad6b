//! Turning the result of one POST into what is stored (the [`Attempt`] record) and what the
//! retry policy needs (delivered, or how it failed and whether the receiver asked us to wait).

use std::time::Duration;

use chrono::{DateTime, Utc};
use dialogic_store::Attempt;
use dialogic_webhook::{CallError, Reply};

use crate::retry::{parse_retry_after, FailureKind};

/// How much of a response body is kept with the attempt.
pub const MAX_STORED_BODY: usize = 20 * 1024;

/// The error recorded when an assistant/environment has no log webhook any more.
pub const NO_TARGET_ERROR: &str = "no log webhook is configured for this assistant/environment";

/// What one attempt amounted to.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Delivered,
    Failed {
        kind: FailureKind,
        /// The receiver's `Retry-After`, if it sent a usable one on a retryable status.
        retry_after: Option<Duration>,
    },
}

/// The policy's view of an HTTP status.
pub fn classify_status(status: u16) -> Option<FailureKind> {
    match status {
        200..=299 => None,
        408 => Some(FailureKind::Transient),
        429 => Some(FailureKind::Throttled),
        // Redirects are never followed (a receiver that moved must be reconfigured) and every
        // other 4xx says the request itself is unacceptable: repeating it cannot help.
        300..=499 => Some(FailureKind::Permanent),
        // 5xx, and anything outside the registry (1xx as a final answer, 6xx...): the receiver
        // is unwell, try again later.
        _ => Some(FailureKind::Transient),
    }
}

/// The policy's view of a call that got no reply.
pub fn classify_error(error: &CallError) -> FailureKind {
    match error {
        CallError::Timeout => FailureKind::Timeout,
        // The SSRF guard refused the destination: a policy decision about the URL, identical on
        // every try. Dead at once; replay it after fixing the configuration.
        CallError::Blocked(_) => FailureKind::Permanent,
        // The reply was bigger than the cap, so we never saw whether it was a 2xx. At least
        // once means we may not assume so; an oversized error page from a failing proxy is the
        // usual cause, so treat it like a 5xx.
        CallError::TooLarge => FailureKind::Transient,
        CallError::Connect(_) | CallError::Other(_) => FailureKind::Transient,
    }
}

/// The verdict for a reply; `now` anchors an HTTP-date `Retry-After`.
pub fn judge_reply(reply: &Reply, now: DateTime<Utc>) -> Verdict {
    match classify_status(reply.status) {
        None => Verdict::Delivered,
        Some(kind) => {
            let retry_after = if kind == FailureKind::Permanent {
                None
            } else {
                reply
                    .headers
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, now))
            };
            Verdict::Failed { kind, retry_after }
        }
    }
}

/// The stored record of an attempt that got a reply.
pub fn reply_record(delivery_id: &str, at: DateTime<Utc>, reply: &Reply) -> Attempt {
    Attempt {
        delivery_id: delivery_id.to_string(),
        at,
        status_code: Some(i32::from(reply.status)),
        latency_ms: millis(reply.latency),
        response_body: stored_body(&reply.body),
        error: None,
    }
}

/// The stored record of an attempt that got no reply (or was not made).
pub fn error_record(
    delivery_id: &str,
    at: DateTime<Utc>,
    latency: Duration,
    error: &str,
) -> Attempt {
    Attempt {
        delivery_id: delivery_id.to_string(),
        at,
        status_code: None,
        latency_ms: millis(latency),
        response_body: None,
        error: Some(error.to_string()),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The first [`MAX_STORED_BODY`] bytes of a body as text: cut on a character boundary,
/// invalid UTF-8 replaced, NUL replaced (PostgreSQL text cannot hold it). None when empty.
pub fn stored_body(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let mut end = body.len().min(MAX_STORED_BODY);
    // Do not split a UTF-8 sequence: back off over continuation bytes (at most 3).
    if end < body.len() {
        let mut back = 0;
        while back < 3 && end > 0 && (body[end] & 0b1100_0000) == 0b1000_0000 {
            end -= 1;
            back += 1;
        }
    }
    let text = String::from_utf8_lossy(&body[..end]);
    Some(if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text.into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn reply(status: u16, retry_after: Option<&str>) -> Reply {
        let mut headers = http::HeaderMap::new();
        if let Some(v) = retry_after {
            headers.insert(http::header::RETRY_AFTER, v.parse().unwrap());
        }
        Reply {
            status,
            headers,
            body: Bytes::from_static(b"ok"),
            latency: Duration::from_millis(12),
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(classify_status(200), None);
        assert_eq!(classify_status(204), None);
        assert_eq!(classify_status(299), None);
        assert_eq!(classify_status(301), Some(FailureKind::Permanent));
        assert_eq!(classify_status(400), Some(FailureKind::Permanent));
        assert_eq!(classify_status(401), Some(FailureKind::Permanent));
        assert_eq!(classify_status(404), Some(FailureKind::Permanent));
        assert_eq!(classify_status(408), Some(FailureKind::Transient));
        assert_eq!(classify_status(429), Some(FailureKind::Throttled));
        assert_eq!(classify_status(500), Some(FailureKind::Transient));
        assert_eq!(classify_status(503), Some(FailureKind::Transient));
        assert_eq!(classify_status(599), Some(FailureKind::Transient));
        assert_eq!(classify_status(100), Some(FailureKind::Transient));
    }

    #[test]
    fn errors() {
        assert_eq!(classify_error(&CallError::Timeout), FailureKind::Timeout);
        assert_eq!(
            classify_error(&CallError::Blocked("loopback".into())),
            FailureKind::Permanent
        );
        assert_eq!(classify_error(&CallError::TooLarge), FailureKind::Transient);
        assert_eq!(
            classify_error(&CallError::Connect("refused".into())),
            FailureKind::Transient
        );
    }

    #[test]
    fn retry_after_only_on_retryable_statuses() {
        let now = Utc::now();
        assert_eq!(
            judge_reply(&reply(503, Some("7")), now),
            Verdict::Failed {
                kind: FailureKind::Transient,
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            judge_reply(&reply(404, Some("7")), now),
            Verdict::Failed {
                kind: FailureKind::Permanent,
                retry_after: None
            }
        );
        assert_eq!(
            judge_reply(&reply(429, Some("later")), now),
            Verdict::Failed {
                kind: FailureKind::Throttled,
                retry_after: None
            }
        );
        assert_eq!(judge_reply(&reply(200, Some("7")), now), Verdict::Delivered);
    }

    #[test]
    fn records() {
        let at = Utc::now();
        let r = reply_record("d1", at, &reply(500, None));
        assert_eq!(r.status_code, Some(500));
        assert_eq!(r.latency_ms, 12);
        assert_eq!(r.response_body.as_deref(), Some("ok"));
        assert_eq!(r.error, None);
        let e = error_record("d1", at, Duration::from_secs(2), "timed out");
        assert_eq!(e.status_code, None);
        assert_eq!(e.latency_ms, 2000);
        assert_eq!(e.error.as_deref(), Some("timed out"));
    }

    #[test]
    fn body_is_capped_on_a_char_boundary() {
        assert_eq!(stored_body(b""), None);
        let big = "é".repeat(MAX_STORED_BODY); // 2 bytes each
        let kept = stored_body(big.as_bytes()).unwrap();
        assert_eq!(kept.len(), MAX_STORED_BODY);
        assert!(kept.chars().all(|c| c == 'é'));
        let odd = format!("a{big}");
        let kept = stored_body(odd.as_bytes()).unwrap();
        assert_eq!(kept.len(), MAX_STORED_BODY - 1);
        assert!(!kept.contains('\u{FFFD}'));
        assert_eq!(
            stored_body(b"a\0b\xff").unwrap(),
            "a\u{FFFD}b\u{FFFD}".to_string()
        );
    }
}
