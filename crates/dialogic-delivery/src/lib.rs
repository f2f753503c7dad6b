//! # dialogic-delivery
//!
//! The log-webhook delivery worker: claims due outbox rows with a lease, POSTs them, records
//! every attempt, retries on a schedule, dead-letters at the end.
