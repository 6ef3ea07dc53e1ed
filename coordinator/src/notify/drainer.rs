//! Turns accepted push events into scans, at most `rate` per second across the fleet, so a burst of
//! pushes queues up in Redis instead of crowding out the nightly run. One replica drains at a time (a
//! lease): the rate is the fleet's, not each replica's, and the new holder first takes back what a dead
//! one left half done.

use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_proto::v1::ScanOptions;
use tokio::sync::Notify;
use tracing::{info, warn};

use super::event::Pushed;
use super::inbox::Inbox;
use crate::error::CoordinatorError;
use crate::runner::Runner;
use crate::tasks::Tasks;

const LEASE: Duration = Duration::from_secs(15);
/// The id of the drain lease among the store's leases.
const LEASE_ID: &str = "notify-drainer";
/// How often an idle drainer looks again (an event accepted by this replica wakes it at once).
const POLL: Duration = Duration::from_millis(500);

/// A token bucket: `rate` tokens a second, holding at most one second's worth (at least one token).
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, now: Instant) -> TokenBucket {
        let rate = if rate.is_finite() && rate > 0.0 { rate } else { 1.0 };
        let capacity = rate.max(1.0);
        TokenBucket { rate, capacity, tokens: capacity, last: now }
    }

    /// `Ok` when a token is there to take; otherwise how long until one is.
    pub fn ready(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 { Ok(()) } else { Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate)) }
    }

    /// Takes the token [`ready`](Self::ready) found.
    pub fn take(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

/// Starts the loop; it runs until the coordinator stops, between two events (one taken is submitted and
/// settled first), and then hands the lease on. `wake` is notified when this replica accepts events.
pub fn start(inbox: Inbox, runner: Arc<Runner>, rate: f64, wake: Arc<Notify>) {
    let tasks = runner.tasks.clone();
    tasks.clone().spawn_graceful(async move {
        let owner = uuid::Uuid::new_v4().to_string();
        drain(&inbox, &runner, rate, &wake, &owner, &tasks).await;
        // Renewed first, so that only a lease this replica still holds is given up.
        if let Ok(true) = runner.store.lease(LEASE_ID, &owner, LEASE).await {
            let _ = runner.store.release(LEASE_ID).await;
        }
    });
}

async fn drain(inbox: &Inbox, runner: &Arc<Runner>, rate: f64, wake: &Notify, owner: &str, tasks: &Tasks) {
    let mut bucket = TokenBucket::new(rate, Instant::now());
    let mut leading = false;
    while !tasks.is_stopping() {
        match runner.store.lease(LEASE_ID, owner, LEASE).await {
            Ok(true) => {}
            Ok(false) => {
                leading = false;
                tasks.sleep(LEASE / 5).await;
                continue;
            }
            Err(e) => {
                warn!(error = %e, "push events: taking the drain lease");
                tasks.sleep(POLL).await;
                continue;
            }
        }
        if !leading {
            match inbox.recover().await {
                Ok(0) => {}
                Ok(n) => info!(events = n, "push events: taking back events a stopped drainer left"),
                Err(e) => {
                    warn!(error = %e, "push events: recovering");
                    tasks.sleep(POLL).await;
                    continue;
                }
            }
            leading = true;
        }
        if let Err(wait) = bucket.ready(Instant::now()) {
            // Short naps, so the lease is renewed however low the rate.
            tasks.sleep(wait.min(LEASE / 3)).await;
            continue;
        }
        match inbox.take().await {
            Ok(Some((raw, pushed))) => {
                bucket.take();
                submit(inbox, runner, &raw, pushed).await;
            }
            Ok(None) => {
                tokio::select! {
                    _ = tasks.stopped() => {}
                    _ = tokio::time::timeout(POLL, wake.notified()) => {}
                }
            }
            Err(e) => {
                warn!(error = %e, "push events: taking the next event");
                tasks.sleep(POLL).await;
            }
        }
        if let Ok(depth) = inbox.depth().await {
            metrics::gauge!("strata_registry_events_pending").set(depth as f64);
        }
    }
}

/// Submits one event's scan; the event leaves the inbox only once the scan is recorded.
async fn submit(inbox: &Inbox, runner: &Arc<Runner>, raw: &str, pushed: Pushed) {
    let mut options = ScanOptions::default();
    options.labels.insert("trigger".into(), "push".into());
    if !pushed.tag.is_empty() {
        options.labels.insert("tag".into(), pushed.tag.clone());
    }
    match runner.submit(pushed.reference.clone(), options, None).await {
        Ok(scan) => {
            info!(scan = %scan, reference = %pushed.reference, tag = %pushed.tag, event = %pushed.event_id, "scan on push");
            if let Err(e) = inbox.done(raw).await {
                // Left in `processing`: submitted again after recovery (at least once, never lost).
                warn!(error = %e, reference = %pushed.reference, "push events: forgetting a submitted event");
            }
        }
        Err(CoordinatorError::Invalid(why)) => {
            warn!(reference = %pushed.reference, error = %why, "push events: dropping an event no scan can start from");
            let _ = inbox.done(raw).await;
        }
        // Not an allowed registry (or not a valid reference): retrying cannot help, and nothing was contacted.
        Err(CoordinatorError::Registry(e)) if e.kind() == strata_scanner::ErrorKind::Invalid => {
            metrics::counter!("strata_registry_events_ignored_total", "reason" => "registry_not_allowed").increment(1);
            warn!(reference = %pushed.reference, error = %e, "push events: dropping an event for a registry that is not allowed");
            let _ = inbox.done(raw).await;
        }
        Err(e) => {
            warn!(error = %e, reference = %pushed.reference, "push events: submitting (will retry)");
            tokio::time::sleep(POLL).await;
            let _ = inbox.recover().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_seconds_burst_then_paces() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2.0, start);
        for _ in 0..2 {
            assert!(bucket.ready(start).is_ok());
            bucket.take();
        }
        let wait = bucket.ready(start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert!(bucket.ready(start + Duration::from_millis(500)).is_ok());
        bucket.take();
        // Idle for a minute: still only one second's worth.
        let later = start + Duration::from_secs(60);
        for _ in 0..2 {
            assert!(bucket.ready(later).is_ok());
            bucket.take();
        }
        assert!(bucket.ready(later).is_err());
        let slow = TokenBucket::new(0.1, start).ready(start);
        assert!(slow.is_ok(), "a slow bucket still starts with one token");
    }
}
