//! The delivery loop: leases due events (on every replica at once; a lease keeps them apart), POSTs each
//! to the webhook, signed, and records the outcome. At least once: an event leaves the queue only after a
//! 2xx, so a replica that dies mid-POST leaves it to be sent again when its lease runs out — receivers
//! dedup on `X-Strata-Event-Id`. Failures back off exponentially with jitter (`Retry-After` wins); after
//! `STRATA_EVENTS_MAX_ATTEMPTS` the event is dead-lettered.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tracing::{info, warn};

use super::outbox::{Entry, Outbox};
use super::{Settings, redacted_url, signature};
use crate::error::{CoordinatorError, Result};
use crate::runner::now_ms;
use crate::tasks::Tasks;

const POLL: Duration = Duration::from_millis(250);

struct Deliverer {
    outbox: Outbox,
    settings: Arc<Settings>,
    http: reqwest::Client,
    slots: Arc<Semaphore>,
    tasks: Tasks,
}

/// Starts the loop; it runs until the coordinator stops and is joined with the other tasks.
pub fn start(outbox: Outbox, settings: Arc<Settings>, tasks: &Tasks) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        // A redirect would send the signed body somewhere the operator did not name.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| CoordinatorError::Internal(format!("webhook HTTP client: {e}")))?;
    info!(url = %redacted_url(&settings.url), concurrency = settings.concurrency, "sending new-vulnerability events");
    let deliverer = Arc::new(Deliverer {
        outbox,
        slots: Arc::new(Semaphore::new(settings.concurrency)),
        settings,
        http,
        tasks: tasks.clone(),
    });
    tasks.spawn_graceful(async move {
        while !deliverer.tasks.is_stopping() {
            if let Err(e) = deliverer.tick().await {
                warn!(error = %e, "event delivery loop");
            }
            deliverer.tasks.sleep(POLL).await;
        }
    });
    Ok(())
}

impl Deliverer {
    /// A lease outlives one attempt (its timeout) with room to record the outcome.
    fn lease(&self) -> Duration {
        self.settings.timeout * 2 + Duration::from_secs(5)
    }

    async fn tick(self: &Arc<Self>) -> Result<()> {
        let (pending, dead) = self.outbox.depth().await?;
        metrics::gauge!("strata_events_pending").set(pending as f64);
        metrics::gauge!("strata_events_dead_letters").set(dead as f64);
        let free = self.slots.available_permits();
        if free == 0 || pending == 0 {
            return Ok(());
        }
        for entry in self.outbox.lease(free, self.lease()).await? {
            let Ok(permit) = self.slots.clone().try_acquire_owned() else { break };
            let this = self.clone();
            self.tasks.spawn_graceful(async move {
                let id = entry.id.clone();
                tokio::select! {
                    sent = this.deliver(entry) => if let Err(e) = sent {
                        warn!(event = %id, error = %e, "event delivery");
                    },
                    // Given back: the next replica sends it again at once (at least once: the receiver may
                    // have had it).
                    _ = this.tasks.stopped() => {
                        info!(event = %id, "coordinator stopping: the event is left queued");
                        if let Err(e) = this.outbox.release(&id).await {
                            warn!(event = %id, error = %e, "giving an event back; it is sent again when its lease runs out");
                        }
                    }
                }
                drop(permit);
            });
        }
        Ok(())
    }

    async fn deliver(&self, mut entry: Entry) -> Result<()> {
        let timestamp = (now_ms() / 1000).to_string();
        let signature = signature::sign(&self.settings.secret, &timestamp, entry.body.as_bytes());
        let sent = self
            .http
            .post(&self.settings.url)
            .header("content-type", "application/json")
            .header("x-strata-event-id", &entry.id)
            .header("x-strata-timestamp", &timestamp)
            .header("x-strata-signature", signature)
            .body(entry.body.clone())
            .send()
            .await;
        let (why, retry_after) = match sent {
            Ok(response) if response.status().is_success() => {
                self.outbox.delivered(&entry).await?;
                metrics::counter!("strata_events_deliveries_total", "outcome" => "delivered").increment(1);
                info!(event = %entry.id, attempts = entry.attempts + 1, "event delivered");
                return Ok(());
            }
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                (format!("the webhook answered {}", response.status()), retry_after)
            }
            // Without the URL: its query may carry a token.
            Err(e) => (format!("sending: {}", e.without_url()), None),
        };
        entry.attempts += 1;
        entry.last_error = why;
        if entry.attempts >= self.settings.max_attempts {
            self.outbox.dead_letter(&entry).await?;
            metrics::counter!("strata_events_deliveries_total", "outcome" => "dead_letter").increment(1);
            warn!(event = %entry.id, attempts = entry.attempts, error = %entry.last_error,
                "event dead-lettered: out of attempts");
            return Ok(());
        }
        let wait =
            strata_defectdojo::backoff(self.settings.backoff, self.settings.max_backoff, entry.attempts, retry_after);
        self.outbox.retry_at(&entry, now_ms() + wait.as_millis() as i64).await?;
        metrics::counter!("strata_events_deliveries_total", "outcome" => "retry").increment(1);
        warn!(event = %entry.id, attempts = entry.attempts, error = %entry.last_error,
            retry_in_ms = wait.as_millis() as u64, "event delivery failed; retrying");
        Ok(())
    }
}
