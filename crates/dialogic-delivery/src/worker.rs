//! The worker: claims due deliveries with a lease, POSTs each one, records the attempt and
//! applies the retry policy. [`Worker::run_once`] drives it from a test clock;
//! [`Worker::spawn`] runs it in the background on the system clock.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use dialogic_store::{AttemptOutcome, Delivery, Store};
use dialogic_webhook::{Client, OutboundRequest, Target};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::attempt::{self, Verdict, NO_TARGET_ERROR};
use crate::config::WorkerConfig;
use crate::error::DeliveryError;
use crate::retry::{Decision, FailureKind, Policy};

/// The shortest time between two claims of the background loop (see `run_loop`), unless
/// half the slots or more are free.
pub const CLAIM_WINDOW: Duration = Duration::from_millis(10);

/// The shortest time between two claims even with half the slots free: each claim is a write
/// transaction on the one writer the turns commit through.
pub const MIN_CLAIM_GAP: Duration = Duration::from_millis(2);

/// Whether the loop may claim now: a claim window has passed since the last claim, or half
/// the slots (or more) are free and [`MIN_CLAIM_GAP`] has passed. Without the second rule, the
/// window would cap delivery at `concurrency` events per window (3,200/s at 32) however fast
/// the receiver answers; with it, every claim still takes a batch of at least half the slots.
fn may_claim(last_claim: Option<Instant>, now: Instant, free: usize, concurrency: usize) -> bool {
    last_claim.is_none_or(|t| now >= t + claim_gap(free, concurrency))
}

/// The time to leave after the last claim: [`MIN_CLAIM_GAP`] with half the slots (or more)
/// free, else [`CLAIM_WINDOW`].
fn claim_gap(free: usize, concurrency: usize) -> Duration {
    if free.saturating_mul(2) >= concurrency.max(2) {
        MIN_CLAIM_GAP
    } else {
        CLAIM_WINDOW
    }
}

/// The header carrying a delivery's position in its session (1, 2, 3...).
pub const SEQUENCE_HEADER: &str = "webhook-sequence";

/// Where log webhooks go: the server answers from its configuration.
pub trait TargetResolver: Send + Sync + 'static {
    /// The log webhook target for an assistant/environment, None if it has none now.
    fn log_target(&self, assistant_id: &str, environment_id: &str) -> Option<Target>;
}

/// What one run (or one loop iteration) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Deliveries claimed (each got exactly one attempt).
    pub claimed: u64,
    /// Attempts answered with a 2xx.
    pub delivered: u64,
    /// Failed attempts rescheduled.
    pub retried: u64,
    /// Failed attempts that dead-lettered their delivery.
    pub dead: u64,
    /// Attempts whose result could not be recorded; the lease runs out and the delivery is
    /// tried again (at least once).
    pub unrecorded: u64,
}

impl RunSummary {
    fn add(&mut self, done: Done) {
        match done {
            Done::Delivered => self.delivered += 1,
            Done::Retried => self.retried += 1,
            Done::Dead => self.dead += 1,
            Done::Unrecorded => self.unrecorded += 1,
        }
    }
}

/// The log-webhook delivery worker. Cheap to clone: every clone drives the same worker.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    client: Client,
    resolver: Arc<dyn TargetResolver>,
    config: WorkerConfig,
    policy: Policy,
    notify: Notify,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("backend", &self.inner.store.backend())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Where attempt times come from: a test's virtual instant advanced by real elapsed time, or
/// the system clock.
#[derive(Clone, Copy)]
enum Clock {
    Virtual { start: DateTime<Utc>, at: Instant },
    System,
}

impl Clock {
    fn now(self) -> DateTime<Utc> {
        match self {
            Clock::Virtual { start, at } => {
                let elapsed =
                    chrono::Duration::from_std(at.elapsed()).unwrap_or(chrono::TimeDelta::MAX);
                start.checked_add_signed(elapsed).unwrap_or(start)
            }
            Clock::System => Utc::now(),
        }
    }
}

/// An attempt made, not yet recorded.
struct Finished {
    record: dialogic_store::Attempt,
    outcome: AttemptOutcome,
    done: Done,
}

/// How one delivery task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Delivered,
    Retried,
    Dead,
    Unrecorded,
}

impl Worker {
    /// A worker over `store`, sending with `client` to the targets `resolver` names.
    ///
    /// The config is expected to be validated already ([`WorkerConfig::validate`], done by the
    /// server's config check); out-of-range values are clamped here rather than trusted.
    pub fn new(
        store: Arc<dyn Store>,
        client: Client,
        resolver: Arc<dyn TargetResolver>,
        config: WorkerConfig,
    ) -> Self {
        let mut config = config;
        config.concurrency = config.concurrency.clamp(1, u32::MAX as usize);
        if config.poll_interval.is_zero() {
            config.poll_interval = Duration::from_millis(10);
        }
        let policy = config.policy();
        Worker {
            inner: Arc::new(Inner {
                store,
                client,
                resolver,
                config,
                policy,
                notify: Notify::new(),
            }),
        }
    }

    /// The config in force.
    pub fn config(&self) -> &WorkerConfig {
        &self.inner.config
    }

    /// Claim everything due at `now`, deliver concurrently (up to `concurrency`), record the
    /// attempts. A session whose event is delivered in this run has its next event claimed in
    /// the same run if that one is due at `now` too. Attempt times are `now` plus the real time
    /// elapsed since the call, so tests drive the schedule with a virtual clock.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<RunSummary, DeliveryError> {
        let clock = Clock::Virtual {
            start: now,
            at: Instant::now(),
        };
        let concurrency = self.inner.config.concurrency;
        let mut tasks: JoinSet<Done> = JoinSet::new();
        let mut summary = RunSummary::default();
        let mut seen: HashSet<String> = HashSet::new();
        let mut more = true;
        let mut failure: Option<DeliveryError> = None;
        let mut stop_claiming = false;
        loop {
            let free = concurrency.saturating_sub(tasks.len());
            if more && free > 0 && failure.is_none() && !stop_claiming {
                match self.claim(now, free).await {
                    Ok(batch) => {
                        if batch.len() < free {
                            more = false;
                        }
                        for delivery in batch {
                            summary.claimed += 1;
                            if !seen.insert(delivery.id.clone()) {
                                // Due again within this run: only possible with a wait below
                                // the store's time resolution. Send it (it is leased to us)
                                // but claim nothing more, so that the run always ends.
                                tracing::warn!(
                                    delivery_id = %delivery.id,
                                    "delivery due again within one run; claiming no more"
                                );
                                stop_claiming = true;
                            }
                            let inner = Arc::clone(&self.inner);
                            tasks.spawn(async move { inner.deliver(delivery, clock).await });
                        }
                    }
                    Err(e) => failure = Some(e),
                }
            }
            match tasks.join_next().await {
                Some(result) => {
                    summary.add(result.unwrap_or_else(|e| {
                        tracing::error!(error = %e, "delivery task ended abnormally");
                        Done::Unrecorded
                    }));
                    // A delivered (or dead) event may have unblocked its session's next one.
                    more = true;
                }
                None if !more || stop_claiming || failure.is_some() => break,
                None => {}
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }

    /// Run in the background: deliver whatever is due on [`Worker::notify`] or every
    /// `poll_interval`, keeping up to `concurrency` attempts in flight, until `shutdown`
    /// resolves; then claim nothing more and finish the attempts in flight.
    pub fn spawn(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let worker = self.clone();
        tokio::spawn(async move { worker.run_loop(shutdown).await })
    }

    /// Wake the background loop (called after a turn commits an outbox row).
    pub fn notify(&self) {
        self.inner.notify.notify_one();
    }

    async fn run_loop(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let inner = &self.inner;
        let concurrency = inner.config.concurrency;
        let mut shutdown = std::pin::pin!(shutdown);
        let mut tasks: JoinSet<Finished> = JoinSet::new();
        // Finished attempts are recorded by one background write at a time, so the loop keeps
        // claiming and sending meanwhile; what finishes during a write waits for the next one.
        // (An attempt sent but not yet recorded keeps its lease and its place at the head of
        // its session, so nothing is claimed twice and per-session order holds.)
        let mut recording: JoinSet<()> = JoinSet::new();
        let mut unrecorded: Vec<Finished> = Vec::new();
        let mut tick = tokio::time::interval(inner.config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(
            backend = inner.store.backend(),
            concurrency,
            "delivery worker started"
        );
        // Claims are coalesced: at most one per CLAIM_WINDOW. Under load a wake-up comes with
        // every committed turn and every finished attempt; claiming on each would add a write
        // transaction per event and compete with the turns themselves for the database.
        let mut wanted = true;
        let mut last_claim: Option<Instant> = None;
        loop {
            let free = concurrency.saturating_sub(tasks.len());
            let next_claim = last_claim.map(|t| t + claim_gap(free, concurrency));
            let may_claim = may_claim(last_claim, Instant::now(), free, concurrency);
            if wanted && free > 0 && may_claim {
                wanted = false;
                last_claim = Some(Instant::now());
                match self.claim(Utc::now(), free).await {
                    Ok(batch) => {
                        // A full batch: more may be due as soon as slots free up.
                        wanted = batch.len() == free;
                        for delivery in batch {
                            let inner = Arc::clone(inner);
                            tasks
                                .spawn(async move { inner.attempt(delivery, Clock::System).await });
                        }
                    }
                    Err(e) => {
                        // The database is unwell: try again on the next tick.
                        tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "claiming deliveries failed");
                    }
                }
            }
            let waiting_for_window = wanted && free > 0 && !may_claim;
            let window_ends =
                tokio::time::Instant::from_std(next_claim.unwrap_or_else(Instant::now));
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(result) = tasks.join_next(), if !tasks.is_empty() => {
                    // Record every attempt finished by now in one transaction: under load
                    // one write per event would compete with the turns for the database.
                    collect(result, &mut unrecorded);
                    while let Some(result) = tasks.try_join_next() {
                        collect(result, &mut unrecorded);
                    }
                    if recording.is_empty() {
                        start_recording(inner, &mut recording, &mut unrecorded);
                    }
                    wanted = true;
                }
                Some(_) = recording.join_next(), if !recording.is_empty() => {
                    // Recorded events may have unblocked their sessions' next ones.
                    start_recording(inner, &mut recording, &mut unrecorded);
                    wanted = true;
                }
                () = inner.notify.notified() => wanted = true,
                _ = tick.tick() => wanted = true,
                () = tokio::time::sleep_until(window_ends), if waiting_for_window => {}
            }
        }
        let in_flight = tasks.len();
        tracing::info!(
            in_flight,
            "delivery worker stopping; finishing attempts in flight"
        );
        while let Some(result) = tasks.join_next().await {
            collect(result, &mut unrecorded);
        }
        while recording.join_next().await.is_some() {}
        inner.record_batch(unrecorded).await;
        tracing::info!("delivery worker stopped");
    }

    async fn claim(&self, now: DateTime<Utc>, free: usize) -> Result<Vec<Delivery>, DeliveryError> {
        let limit = u32::try_from(free).unwrap_or(u32::MAX);
        Ok(self
            .inner
            .store
            .claim_deliveries(now, self.inner.config.lease, limit)
            .await?)
    }
}

/// Write `unrecorded` (if any) in the background.
fn start_recording(
    inner: &Arc<Inner>,
    recording: &mut JoinSet<()>,
    unrecorded: &mut Vec<Finished>,
) {
    if unrecorded.is_empty() {
        return;
    }
    let batch = std::mem::take(unrecorded);
    let inner = Arc::clone(inner);
    recording.spawn(async move { inner.record_batch(batch).await });
}

fn collect(result: Result<Finished, tokio::task::JoinError>, batch: &mut Vec<Finished>) {
    match result {
        Ok(f) => batch.push(f),
        // The lease runs out and the event is sent again.
        Err(e) => tracing::error!(error = %e, "delivery task ended abnormally"),
    }
}

impl Inner {
    /// Record finished attempts in one store call; on failure the leases run out and the
    /// events are sent again (at least once).
    async fn record_batch(&self, batch: Vec<Finished>) {
        if batch.is_empty() {
            return;
        }
        let pairs: Vec<(dialogic_store::Attempt, AttemptOutcome)> =
            batch.into_iter().map(|f| (f.record, f.outcome)).collect();
        if let Err(e) = self.store.record_attempts(&pairs).await {
            tracing::error!(
                attempts = pairs.len(), error = %e,
                source = ?std::error::Error::source(&e),
                "could not record delivery attempts; they will be retried when their leases end"
            );
        }
    }

    /// One attempt for one claimed delivery, recorded with its outcome.
    /// One attempt, recorded on its own (the `run_once` path).
    async fn deliver(&self, delivery: Delivery, clock: Clock) -> Done {
        let finished = self.attempt(delivery, clock).await;
        match self
            .store
            .record_attempt(&finished.record, &finished.outcome)
            .await
        {
            Ok(()) => finished.done,
            Err(e) => {
                tracing::error!(
                    delivery_id = %finished.record.delivery_id, error = %e,
                    source = ?std::error::Error::source(&e),
                    "could not record a delivery attempt; it will be retried when the lease ends"
                );
                Done::Unrecorded
            }
        }
    }

    /// One attempt for one claimed delivery: POST and decide, without recording.
    async fn attempt(&self, delivery: Delivery, clock: Clock) -> Finished {
        let at = clock.now();
        let started = Instant::now();
        // The attempt number this one is (the store counts recorded attempts).
        let attempt_no = u32::try_from(delivery.attempts.max(0))
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let (record, verdict) = match self
            .resolver
            .log_target(&delivery.assistant_id, &delivery.environment_id)
        {
            None => {
                // Kept on the retry schedule rather than dropped: a configuration that lost the
                // webhook by mistake gets ~33 h to be fixed, and the event is replayable after.
                tracing::warn!(
                    delivery_id = %delivery.id,
                    assistant_id = %delivery.assistant_id,
                    environment_id = %delivery.environment_id,
                    "no log webhook configured; delivery kept on the retry schedule"
                );
                (
                    attempt::error_record(&delivery.id, at, Duration::ZERO, NO_TARGET_ERROR),
                    Verdict::Failed {
                        kind: FailureKind::Transient,
                        retry_after: None,
                    },
                )
            }
            Some(target) => self.post(&delivery, target, at, started).await,
        };
        let finished = at
            .checked_add_signed(
                chrono::Duration::from_std(started.elapsed()).unwrap_or(chrono::TimeDelta::zero()),
            )
            .unwrap_or(at);
        let (outcome, done) = match verdict {
            Verdict::Delivered => (AttemptOutcome::Delivered, Done::Delivered),
            Verdict::Failed { kind, retry_after } => {
                match self
                    .policy
                    .next_delay(attempt_no, kind, retry_after, rand::random::<f64>())
                {
                    Decision::Retry(wait) => {
                        let wait =
                            chrono::Duration::from_std(wait).unwrap_or(chrono::TimeDelta::MAX);
                        let due = finished.checked_add_signed(wait).unwrap_or(finished);
                        (AttemptOutcome::RetryAt(due), Done::Retried)
                    }
                    Decision::Dead => (AttemptOutcome::Dead, Done::Dead),
                }
            }
        };
        match &outcome {
            AttemptOutcome::Delivered => tracing::debug!(
                delivery_id = %delivery.id, session_id = %delivery.session_id,
                sequence = delivery.sequence, attempt = attempt_no, "log event delivered"
            ),
            AttemptOutcome::RetryAt(due) => tracing::info!(
                delivery_id = %delivery.id, session_id = %delivery.session_id,
                sequence = delivery.sequence, attempt = attempt_no,
                status = ?record.status_code, error = ?record.error, due = %due,
                "log event delivery failed; will retry"
            ),
            AttemptOutcome::Dead => tracing::warn!(
                delivery_id = %delivery.id, session_id = %delivery.session_id,
                sequence = delivery.sequence, attempt = attempt_no,
                status = ?record.status_code, error = ?record.error,
                "log event delivery dead-lettered"
            ),
        }
        Finished {
            record,
            outcome,
            done,
        }
    }

    async fn post(
        &self,
        delivery: &Delivery,
        mut target: Target,
        at: DateTime<Utc>,
        started: Instant,
    ) -> (dialogic_store::Attempt, Verdict) {
        // The lease must outlive the POST, or another worker could send the same attempt
        // while this one is in flight. Config validation refuses such a setup; this guards a
        // resolver that hands out a longer timeout anyway.
        let ceiling = self.config.lease.mul_f64(0.9);
        if target.timeout >= ceiling {
            tracing::warn!(
                delivery_id = %delivery.id,
                timeout_ms = u64::try_from(target.timeout.as_millis()).unwrap_or(u64::MAX),
                lease_ms = u64::try_from(self.config.lease.as_millis()).unwrap_or(u64::MAX),
                "log webhook timeout not below the delivery lease; shortened"
            );
            target.timeout = ceiling;
        }
        // The stored JSON text, sent byte for byte (the signature covers exactly these bytes).
        let body = Bytes::from(delivery.body.clone().into_bytes());
        let request = OutboundRequest {
            webhook_id: delivery.id.clone(),
            body,
            extra_headers: vec![(SEQUENCE_HEADER.to_string(), delivery.sequence.to_string())],
        };
        match self.client.post(&target, &request).await {
            Ok(reply) => {
                let answered_at = at
                    .checked_add_signed(
                        chrono::Duration::from_std(started.elapsed())
                            .unwrap_or(chrono::TimeDelta::zero()),
                    )
                    .unwrap_or(at);
                (
                    attempt::reply_record(&delivery.id, at, &reply),
                    attempt::judge_reply(&reply, answered_at),
                )
            }
            Err(error) => {
                let kind = attempt::classify_error(&error);
                (
                    attempt::error_record(&delivery.id, at, started.elapsed(), &error.to_string()),
                    Verdict::Failed {
                        kind,
                        retry_after: None,
                    },
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_wait_for_the_window_while_few_slots_are_free() {
        let t = Instant::now();
        assert!(may_claim(None, t, 1, 32), "the first claim never waits");
        assert!(!may_claim(Some(t), t, 15, 32));
        assert!(may_claim(Some(t), t + CLAIM_WINDOW, 1, 32));
    }

    #[test]
    fn half_the_slots_free_claims_at_once() {
        let t = Instant::now() + MIN_CLAIM_GAP;
        assert!(may_claim(Some(t), t + MIN_CLAIM_GAP, 16, 32));
        assert!(may_claim(Some(t), t + MIN_CLAIM_GAP, 32, 32));
        assert!(
            !may_claim(Some(t), t, 32, 32),
            "not twice in the same instant"
        );
        assert!(
            may_claim(Some(t), t + MIN_CLAIM_GAP, 1, 1),
            "a single slot is half of one"
        );
    }
}
