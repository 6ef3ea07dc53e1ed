//! The delivery loop: sends what the outbox holds. Concurrent across engagements (bounded), one upload at
//! a time per engagement and in queue order, on every replica at once (a Redis lock per engagement keeps
//! them apart). Retryable failures back off exponentially with jitter (or as `Retry-After` says) and keep
//! their place; permanent ones, and retryable ones out of attempts, are parked with DefectDojo's answer.
//!
//! Exactly once: a delivery leaves its queue only in the MULTI that records its outcome. A replica that
//! dies mid-upload leaves it at the head of the queue, and the next holder of the lock sends it again.
//! If DefectDojo had already applied that upload, the repeat is an identical reimport: it changes nothing.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::task::AbortOnDropHandle;
use tracing::field::Empty;
use tracing::{Instrument, info, info_span, warn};

use super::Client;
use super::outbox::{Entry, Outbox, State};
use crate::error::Result;
use crate::runner::now_ms;
use crate::tasks::Tasks;

const POLL: Duration = Duration::from_millis(250);
/// Long enough to outlive a slow upload between renewals; short enough that a dead replica's engagements
/// are picked up soon after a restart.
const LOCK_TTL: Duration = Duration::from_secs(15);

pub struct Deliverer {
    outbox: Outbox,
    client: Client,
    owner: String,
    slots: Arc<Semaphore>,
    /// Engagements this process is delivering to now.
    busy: Mutex<HashSet<String>>,
    tasks: Tasks,
}

/// Starts the loop; it runs until the coordinator stops. An upload the stop interrupts stays at the head of
/// its queue and its engagement is unlocked, so the next replica sends it again at once (an identical
/// reimport if DefectDojo had applied it).
pub fn start(outbox: Outbox, tasks: &Tasks) -> Result<Arc<Deliverer>> {
    let settings = outbox.settings.clone();
    let client = Client::new(&settings.url, settings.token.clone(), settings.timeout)?;
    let deliverer = Arc::new(Deliverer {
        outbox,
        client,
        owner: uuid::Uuid::new_v4().to_string(),
        slots: Arc::new(Semaphore::new(settings.concurrency)),
        busy: Mutex::default(),
        tasks: tasks.clone(),
    });
    info!(url = %settings.url, concurrency = settings.concurrency, "delivering findings to DefectDojo");
    tasks.spawn(check_key(deliverer.client.clone(), settings.check_interval));
    let looping = deliverer.clone();
    tasks.spawn_graceful(async move {
        while !looping.tasks.is_stopping() {
            if let Err(e) = looping.tick().await {
                warn!(error = %e, "DefectDojo delivery loop");
            }
            looping.tasks.sleep(POLL).await;
        }
    });
    Ok(deliverer)
}

impl Deliverer {
    fn is_busy(&self, engagement: &str) -> bool {
        self.busy.lock().map(|b| b.contains(engagement)).unwrap_or(true)
    }

    fn set_busy(&self, engagement: &str, busy: bool) {
        if let Ok(mut b) = self.busy.lock() {
            if busy {
                b.insert(engagement.to_string());
            } else {
                b.remove(engagement);
            }
        }
    }

    /// Starts a delivery for every engagement whose head is due, while slots last.
    async fn tick(self: &Arc<Self>) -> Result<()> {
        for engagement in self.outbox.engagements().await? {
            if self.slots.available_permits() == 0 {
                break;
            }
            if self.is_busy(&engagement) {
                continue;
            }
            let Some(head) = self.outbox.head(&engagement).await? else { continue };
            if head.next_attempt_ms > now_ms() || !self.outbox.lock(&engagement, &self.owner, LOCK_TTL).await? {
                continue;
            }
            // Re-read under the lock: another replica may have finished that head a moment ago.
            let head = match self.outbox.head(&engagement).await? {
                Some(h) if h.next_attempt_ms <= now_ms() => h,
                _ => {
                    self.outbox.unlock(&engagement, &self.owner).await?;
                    continue;
                }
            };
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                self.outbox.unlock(&engagement, &self.owner).await?;
                break;
            };
            self.set_busy(&engagement, true);
            let this = self.clone();
            self.tasks.spawn_graceful(async move {
                let renew = {
                    let (outbox, owner, engagement) = (this.outbox.clone(), this.owner.clone(), engagement.clone());
                    AbortOnDropHandle::new(tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(LOCK_TTL / 3).await;
                            let _ = outbox.lock(&engagement, &owner, LOCK_TTL).await;
                        }
                    }))
                };
                let span = info_span!(
                    "defectdojo_delivery",
                    delivery.id = %head.id,
                    scan.id = %head.scan_id,
                    defectdojo.product = %head.upload.names.product,
                    defectdojo.engagement = %head.upload.names.engagement,
                    defectdojo.test_title = %head.upload.names.test_title,
                    delivery.attempt = head.attempts + 1,
                    delivery.state = Empty,
                    defectdojo.test_id = Empty,
                    trace_id = Empty,
                );
                strata_fleet::telemetry::set_parent(&span, &head.traceparent);
                tokio::select! {
                    delivered = this.deliver(head).instrument(span) => if let Err(e) = delivered {
                        warn!(error = %e, "DefectDojo delivery");
                    },
                    _ = this.tasks.stopped() => info!(%engagement, "coordinator stopping: the delivery is left queued"),
                }
                drop(renew);
                let _ = this.outbox.unlock(&engagement, &this.owner).await;
                this.set_busy(&engagement, false);
                drop(permit);
            });
        }
        Ok(())
    }

    async fn deliver(&self, mut entry: Entry) -> Result<()> {
        let settings = &self.outbox.settings;
        let Some(file) = self.outbox.file(&entry.id).await? else {
            return self.finish(entry, State::Parked, "the report file is missing from the outbox".into(), None).await;
        };
        if settings.skip_unchanged && self.unchanged(&entry).await? {
            info!(scan = %entry.scan_id, test = %entry.upload.names.test_title, "DefectDojo: unchanged, not sent");
            self.close_orphans(&entry).await;
            return self.finish(entry, State::Skipped, String::new(), None).await;
        }
        entry.attempts += 1;
        match self.client.reimport(&entry.upload, &file).await {
            Ok(result) => {
                self.close_orphans(&entry).await;
                let d = &result.delta;
                info!(
                    scan = %entry.scan_id, test_id = result.test_id, created = d.created.total,
                    closed = d.closed.total, reactivated = d.reactivated.total, "delivered to DefectDojo"
                );
                self.finish(entry, State::Delivered, String::new(), Some(result)).await
            }
            Err(e) if e.is_retryable() && entry.attempts < settings.max_attempts => {
                let wait = backoff(settings.backoff, settings.max_backoff, entry.attempts, e.retry_after());
                warn!(scan = %entry.scan_id, attempt = entry.attempts, retry_in_ms = wait.as_millis() as u64,
                      error = %e, "DefectDojo delivery failed; will retry");
                tracing::Span::current().record("delivery.state", "retry");
                entry.error = e.to_string();
                entry.next_attempt_ms = now_ms() + wait.as_millis() as i64;
                entry.updated_ms = now_ms();
                self.outbox.retry_later(&entry).await
            }
            Err(e) => {
                warn!(scan = %entry.scan_id, attempts = entry.attempts, error = %e, "DefectDojo delivery parked");
                self.finish(entry, State::Parked, e.to_string(), None).await
            }
        }
    }

    /// The last upload delivered to this test was identical, and DefectDojo still has that test (it may
    /// have been deleted since: Strata's memory is not DefectDojo's state).
    async fn unchanged(&self, entry: &Entry) -> Result<bool> {
        let Some((hash, test_id)) = self.outbox.last_delivered(entry).await? else { return Ok(false) };
        if hash != entry.upload_hash {
            return Ok(false);
        }
        match self.client.test_exists(test_id).await {
            Ok(true) => Ok(true),
            Ok(false) => {
                info!(test_id, test = %entry.upload.names.test_title, "DefectDojo no longer has the test; sending again");
                Ok(false)
            }
            // Send: the upload meets the same error and is retried as any other.
            Err(_) => Ok(false),
        }
    }

    /// Best effort: a failure here is logged and tried again after the engagement's next delivery.
    async fn close_orphans(&self, entry: &Entry) {
        if let Err(e) = super::orphans::close(&self.client, &entry.upload).await {
            warn!(scan = %entry.scan_id, error = %e, "DefectDojo: closing orphan tests failed");
        }
    }

    async fn finish(
        &self,
        mut entry: Entry,
        state: State,
        error: String,
        result: Option<super::ImportResult>,
    ) -> Result<()> {
        let outcome = match state {
            State::Delivered => "delivered",
            State::Skipped => "skipped",
            State::Parked => "parked",
            _ => "other",
        };
        metrics::counter!("strata_defectdojo_deliveries_total", "outcome" => outcome).increment(1);
        let span = tracing::Span::current();
        span.record("delivery.state", outcome);
        if let Some(r) = &result {
            span.record("defectdojo.test_id", r.test_id);
            // The night's triage workload at a glance: what DefectDojo opened, closed and reopened.
            for (change, n) in [
                ("created", r.delta.created.total),
                ("closed", r.delta.closed.total),
                ("reactivated", r.delta.reactivated.total),
            ] {
                metrics::counter!("strata_defectdojo_findings_total", "change" => change).increment(n as u64);
            }
        }
        entry.state = state;
        entry.error = error;
        entry.result = result;
        entry.updated_ms = now_ms();
        self.outbox.complete(&entry).await
    }
}

/// The API key is checked every `interval`, whether or not anything is delivered: on nights where every
/// upload is skipped as unchanged, a revoked key would otherwise go unnoticed until the first change.
/// `strata_defectdojo_api_key_ok` is 1 while DefectDojo accepts the key, 0 when it refuses it or cannot be
/// reached (the log says which).
async fn check_key(client: Client, interval: Duration) {
    loop {
        let ok = match client.check().await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %e, "DefectDojo API key check failed");
                false
            }
        };
        metrics::gauge!("strata_defectdojo_api_key_ok").set(if ok { 1.0 } else { 0.0 });
        tokio::time::sleep(interval).await;
    }
}

/// `base · 2^(attempt-1)`, capped, times a random factor in [0.5, 1) so that replicas and engagements
/// that failed together do not retry together. `Retry-After` wins when DefectDojo gave one (capped at an
/// hour, so a bogus header cannot stall an engagement for days).
pub fn backoff(base: Duration, max: Duration, attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(after) = retry_after {
        return after.min(Duration::from_secs(3600));
    }
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(max);
    let random = (uuid::Uuid::new_v4().as_u128() >> 64) as f64 / u64::MAX as f64;
    exp.mul_f64(0.5 + random / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
        for _ in 0..50 {
            let first = backoff(base, max, 1, None);
            assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(100), "{first:?}");
            let third = backoff(base, max, 3, None);
            assert!(third >= Duration::from_millis(200) && third < Duration::from_millis(400), "{third:?}");
            assert!(backoff(base, max, 30, None) < max);
        }
        assert_eq!(backoff(base, max, 1, Some(Duration::from_secs(7))), Duration::from_secs(7));
    }
}
