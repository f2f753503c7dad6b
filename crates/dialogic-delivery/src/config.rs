//! The worker's configuration and its validation.

use std::time::Duration;

use crate::error::DeliveryError;
use crate::retry::Policy;

/// How the delivery worker behaves. `Default` is the production setting; tests shrink the
/// schedule to milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    /// Wait after the 1st, 2nd, ... failed attempt; a failure after the last one is final.
    pub retry_schedule: Vec<Duration>,
    /// How long a claimed delivery is reserved for this worker. Must exceed every webhook
    /// timeout, so that a lease never runs out while its POST is still in flight (another
    /// worker would then send the same attempt concurrently).
    pub lease: Duration,
    /// Deliveries in flight at once (per worker).
    pub concurrency: usize,
    /// How often the background loop looks for due deliveries without being notified.
    pub poll_interval: Duration,
    /// Relative jitter on every scheduled wait (0.2 = +/-20%).
    pub jitter: f64,
    /// Upper bound for a receiver's `Retry-After`.
    pub max_retry_after: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        let h = |n: u64| Duration::from_secs(n * 3600);
        WorkerConfig {
            retry_schedule: vec![
                Duration::from_secs(5),
                Duration::from_secs(5 * 60),
                Duration::from_secs(30 * 60),
                h(2),
                h(5),
                h(10),
                h(10),
            ],
            lease: Duration::from_secs(60),
            concurrency: 32,
            poll_interval: Duration::from_secs(1),
            jitter: 0.2,
            max_retry_after: h(1),
        }
    }
}

/// The smallest scheduled wait accepted: a zero wait would let `run_once(now)` claim the same
/// delivery again within one run.
pub const MIN_RETRY_WAIT: Duration = Duration::from_millis(1);

impl WorkerConfig {
    /// Check the config against itself and against the largest webhook timeout in use.
    /// Reports every problem at once.
    pub fn validate(&self, max_webhook_timeout: Duration) -> Result<(), DeliveryError> {
        let mut problems = Vec::new();
        if self.lease <= max_webhook_timeout {
            problems.push(format!(
                "delivery lease ({}) must be longer than the largest log webhook timeout ({})",
                fmt_duration(self.lease),
                fmt_duration(max_webhook_timeout)
            ));
        }
        if self.concurrency == 0 {
            problems.push("delivery concurrency must be at least 1".to_string());
        }
        if self.concurrency > u32::MAX as usize {
            problems.push("delivery concurrency is too large".to_string());
        }
        if self.retry_schedule.iter().any(|d| *d < MIN_RETRY_WAIT) {
            problems.push("every retry_schedule entry must be at least 1ms".to_string());
        }
        if !(self.jitter.is_finite() && (0.0..1.0).contains(&self.jitter)) {
            problems.push(format!(
                "delivery jitter must be in [0, 1), got {}",
                self.jitter
            ));
        }
        if self.poll_interval.is_zero() {
            problems.push("delivery poll_interval must be more than zero".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(DeliveryError::Config(problems))
        }
    }

    /// The retry policy part of this config.
    pub fn policy(&self) -> Policy {
        Policy {
            schedule: self.retry_schedule.clone(),
            jitter: self.jitter,
            max_retry_after: self.max_retry_after,
        }
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_documented_one_and_valid() {
        let c = WorkerConfig::default();
        let secs: Vec<u64> = c.retry_schedule.iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, [5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(c.lease, Duration::from_secs(60));
        assert_eq!(c.concurrency, 32);
        assert_eq!(c.max_retry_after, Duration::from_secs(3600));
        c.validate(Duration::from_secs(30)).unwrap();
    }

    #[test]
    fn lease_must_exceed_the_webhook_timeout() {
        let c = WorkerConfig::default();
        let err = c.validate(Duration::from_secs(60)).unwrap_err();
        let DeliveryError::Config(p) = err else {
            panic!("expected a config error")
        };
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("lease (60s)"), "{}", p[0]);
    }

    #[test]
    fn every_problem_is_reported() {
        let c = WorkerConfig {
            retry_schedule: vec![Duration::ZERO],
            lease: Duration::from_millis(500),
            concurrency: 0,
            poll_interval: Duration::ZERO,
            jitter: 1.5,
            max_retry_after: Duration::ZERO,
        };
        let DeliveryError::Config(p) = c.validate(Duration::from_secs(1)).unwrap_err() else {
            panic!("expected a config error")
        };
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(p[0].contains("500ms"));
    }
}
