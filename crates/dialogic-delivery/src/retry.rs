//! The retry policy, as a pure function: given which attempt just failed and how, say when to
//! try again or that the delivery is dead. No clock, no randomness of its own (the caller passes
//! a fraction in `[0, 1)`), so every branch is tested exactly.
//!
//! The rules (also in the crate README):
//! - `schedule[n - 1]` is the wait after the n-th failed attempt; a failure after the last entry
//!   is final (dead). The default schedule has 7 entries, so a delivery gets 8 attempts over
//!   about 33 hours.
//! - The wait is jittered by +/- `jitter` (0.2 = +/-20%) so that a receiver coming back from an
//!   outage is not hit by every queued event at the same instant.
//! - After a timeout or a 429 the wait is multiplied by [`SLOW_DOWN_FACTOR`] (2): both say the
//!   receiver is overloaded, and hitting it again at the normal pace makes that worse.
//! - `Retry-After` (seconds or HTTP date) is honoured as a lower bound: the wait is
//!   `max(jittered schedule, min(retry_after, max_retry_after))`. A receiver can slow us down,
//!   up to the clamp, but never speed us up past our own schedule (a `Retry-After: 0` loop would
//!   otherwise burn the whole schedule in a second).
//! - Permanent failures are dead at once, whatever the schedule says.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The factor applied to the scheduled wait after a timeout or a 429.
pub const SLOW_DOWN_FACTOR: u32 = 2;

/// How an attempt failed, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Connection refused/reset, DNS failure, 408, 5xx, an oversized reply, no target configured:
    /// retry on the normal schedule.
    Transient,
    /// The request timed out: retry, waiting [`SLOW_DOWN_FACTOR`] times longer.
    Timeout,
    /// 429 Too Many Requests: retry, waiting [`SLOW_DOWN_FACTOR`] times longer.
    Throttled,
    /// Any other 4xx, or a destination the SSRF guard refuses: never retried.
    Permanent,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this long.
    Retry(Duration),
    /// Give up: the delivery is dead-lettered (it can still be replayed by hand).
    Dead,
}

/// The knobs of the policy (a view of the worker config).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Wait after the 1st, 2nd, ... failed attempt.
    pub schedule: Vec<Duration>,
    /// Relative jitter, e.g. 0.2 for +/-20%. Clamped to `[0, 1)` when applied.
    pub jitter: f64,
    /// Upper bound for a receiver's `Retry-After`.
    pub max_retry_after: Duration,
}

impl Policy {
    /// The decision after failed attempt number `attempt` (1 for the first attempt).
    ///
    /// `rng_fraction` is a uniform number in `[0, 1)`: 0 gives the shortest wait
    /// (`-jitter`), 0.5 the scheduled one, values near 1 the longest (`+jitter`).
    pub fn next_delay(
        &self,
        attempt: u32,
        kind: FailureKind,
        retry_after: Option<Duration>,
        rng_fraction: f64,
    ) -> Decision {
        next_delay(self, attempt, kind, retry_after, rng_fraction)
    }
}

/// See [`Policy::next_delay`].
pub fn next_delay(
    policy: &Policy,
    attempt: u32,
    kind: FailureKind,
    retry_after: Option<Duration>,
    rng_fraction: f64,
) -> Decision {
    if kind == FailureKind::Permanent || attempt == 0 {
        return Decision::Dead;
    }
    let Some(base) = usize::try_from(attempt - 1)
        .ok()
        .and_then(|i| policy.schedule.get(i))
        .copied()
    else {
        return Decision::Dead;
    };
    let base = match kind {
        FailureKind::Timeout | FailureKind::Throttled => base.saturating_mul(SLOW_DOWN_FACTOR),
        FailureKind::Transient | FailureKind::Permanent => base,
    };
    let jittered = apply_jitter(base, policy.jitter, rng_fraction);
    let wait = match retry_after {
        Some(asked) => jittered.max(asked.min(policy.max_retry_after)),
        None => jittered,
    };
    Decision::Retry(wait)
}

/// `base * (1 + jitter * (2f - 1))`, with `f` and `jitter` clamped to sane ranges so that no
/// input can produce a negative, NaN or overflowing duration.
pub fn apply_jitter(base: Duration, jitter: f64, rng_fraction: f64) -> Duration {
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 0.99)
    } else {
        0.0
    };
    let f = if rng_fraction.is_finite() {
        rng_fraction.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let factor = 1.0 + jitter * (2.0 * f - 1.0);
    Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base)
}

/// Parse a `Retry-After` header value: delay-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, also the obsolete RFC 850 and asctime forms), relative to
/// `now`. A date in the past means "now" (zero). Anything unparsable is ignored (None).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurd values instead of failing: the clamp brings them down anyway.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let date = parse_http_date(value)?;
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    // IMF-fixdate is a subset of RFC 2822 (chrono accepts the "GMT" zone).
    if let Ok(d) = DateTime::parse_from_rfc2822(value) {
        return Some(d.with_timezone(&Utc));
    }
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; asctime: "Sun Nov  6 08:49:37 1994".
    let naive = chrono::NaiveDateTime::parse_from_str(value, "%A, %d-%b-%y %H:%M:%S GMT")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(value, "%a %b %e %H:%M:%S %Y"))
        .ok()?;
    Some(naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            schedule: vec![
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(1800),
            ],
            jitter: 0.2,
            max_retry_after: Duration::from_secs(3600),
        }
    }

    #[test]
    fn schedule_is_followed_then_dead() {
        let p = policy();
        let t = FailureKind::Transient;
        assert_eq!(
            p.next_delay(1, t, None, 0.5),
            Decision::Retry(Duration::from_secs(5))
        );
        assert_eq!(
            p.next_delay(2, t, None, 0.5),
            Decision::Retry(Duration::from_secs(300))
        );
        assert_eq!(
            p.next_delay(3, t, None, 0.5),
            Decision::Retry(Duration::from_secs(1800))
        );
        assert_eq!(p.next_delay(4, t, None, 0.5), Decision::Dead);
        assert_eq!(p.next_delay(u32::MAX, t, None, 0.5), Decision::Dead);
        assert_eq!(p.next_delay(0, t, None, 0.5), Decision::Dead);
    }

    #[test]
    fn jitter_bounds() {
        let p = policy();
        let Decision::Retry(lo) = p.next_delay(2, FailureKind::Transient, None, 0.0) else {
            panic!("expected retry")
        };
        let Decision::Retry(hi) = p.next_delay(2, FailureKind::Transient, None, 0.999_999) else {
            panic!("expected retry")
        };
        assert_eq!(lo, Duration::from_secs(240));
        assert!(hi > Duration::from_secs(359) && hi <= Duration::from_secs(360));
        for i in 0..100 {
            let f = f64::from(i) / 100.0;
            let Decision::Retry(d) = p.next_delay(2, FailureKind::Transient, None, f) else {
                panic!("expected retry")
            };
            assert!(d >= Duration::from_secs(240) && d <= Duration::from_secs(360));
        }
    }

    #[test]
    fn nonsense_fractions_and_jitter_never_panic() {
        let base = Duration::from_secs(10);
        assert_eq!(apply_jitter(base, f64::NAN, 0.3), base);
        assert_eq!(apply_jitter(base, 0.2, f64::NAN), base);
        assert_eq!(apply_jitter(base, 5.0, 0.0), Duration::from_secs_f64(0.1));
        assert_eq!(apply_jitter(base, -1.0, 0.9), base);
        assert_eq!(apply_jitter(Duration::MAX, 0.2, 1.0), Duration::MAX);
    }

    #[test]
    fn timeout_and_429_wait_longer() {
        let p = policy();
        for kind in [FailureKind::Timeout, FailureKind::Throttled] {
            assert_eq!(
                p.next_delay(1, kind, None, 0.5),
                Decision::Retry(Duration::from_secs(10))
            );
        }
    }

    #[test]
    fn permanent_is_dead_at_once() {
        assert_eq!(
            policy().next_delay(1, FailureKind::Permanent, None, 0.5),
            Decision::Dead
        );
    }

    #[test]
    fn retry_after_is_a_clamped_lower_bound() {
        let p = policy();
        let t = FailureKind::Throttled;
        // Longer than the schedule: honoured.
        assert_eq!(
            p.next_delay(1, t, Some(Duration::from_secs(120)), 0.5),
            Decision::Retry(Duration::from_secs(120))
        );
        // Shorter than the schedule: our schedule wins.
        assert_eq!(
            p.next_delay(1, t, Some(Duration::from_secs(1)), 0.5),
            Decision::Retry(Duration::from_secs(10))
        );
        // Absurd: clamped.
        assert_eq!(
            p.next_delay(1, t, Some(Duration::from_secs(86_400 * 365)), 0.5),
            Decision::Retry(Duration::from_secs(3600))
        );
        // Never revives a dead delivery.
        assert_eq!(
            p.next_delay(9, t, Some(Duration::from_secs(1)), 0.5),
            Decision::Dead
        );
    }

    #[test]
    fn retry_after_parsing() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:30 2015", now),
            Some(Duration::from_secs(30))
        );
        // In the past: zero.
        assert_eq!(
            parse_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("1.5", now), None);
    }
}
