//! # dialogic-delivery
//!
//! The log-webhook delivery worker: claims due outbox rows with a lease, POSTs them, records
//! every attempt, retries on a schedule, dead-letters at the end.
//!
//! Delivery is at least once and in order per session: the store hands out only a session's
//! lowest pending event, the `webhook-id` header is the delivery id (the log_id, stable across
//! attempts, so receivers dedupe), and `webhook-sequence` carries the event's position in its
//! session. The policy choices are listed in this crate's README.md.
//!
//! Must never: hold a database lock across an HTTP call (a claim is a lease, written and
//! committed before the POST); send an attempt whose lease could run out mid-flight; lose an
//! event (a failure to record an attempt leaves the lease to expire, and the event is sent
//! again); panic on anything a receiver answers.
//!
//! Modules:
//! - [`retry`] — the pure retry policy (schedule, jitter, slow-down, `Retry-After`).
//! - [`attempt`] — a reply or a call error as a stored attempt and a verdict.
//! - [`config`] — [`WorkerConfig`], its defaults and validation.
//! - [`worker`] — [`Worker`] (`run_once`, `spawn`, `notify`) and [`TargetResolver`].
//! - [`error`] — [`DeliveryError`].

pub mod attempt;
pub mod config;
pub mod error;
pub mod retry;
pub mod worker;

pub use config::WorkerConfig;
pub use error::DeliveryError;
pub use worker::{RunSummary, TargetResolver, Worker, SEQUENCE_HEADER};
