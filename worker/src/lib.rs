//! The stateless layer worker: takes layer jobs from the queue, streams each blob through the engine's
//! layer analysis on the blocking pool, writes the result to the layer cache, then acknowledges the job.
//!
//! The same [`Worker`] runs in the `strata-worker` binary (RabbitMQ, Redis, registry) and inside
//! `strata image` (in-process queue and cache, blobs from a registry or local files).
//!
//! Every layer is attacker-controlled, so a job is bounded: its attempt is counted in the cache before it
//! starts (a worker that dies mid-layer still counts it, and a layer that keeps killing its analyser is
//! dead-lettered), fetch and analysis share one deadline, and in the fleet the analysis runs in a pooled
//! child process under a memory limit ([`isolation`]). A stop request waits for jobs in flight only for a grace period.

pub mod blobs;
pub mod isolation;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use strata_fleet::cache::{Attempt, LayerCache};
use strata_fleet::queue::{Delivery, JobQueue};
use strata_fleet::telemetry;
use strata_fleet::{LayerJob, codec};
use strata_scanner::layer::{LayerInventory, analyze_layer_with};
use tokio::task::JoinSet;
use tracing::field::Empty;
use tracing::{Instrument, info, info_span, warn};

pub use blobs::{BlobSource, RegistryBlobs};
pub use isolation::Isolation;

#[derive(Clone)]
pub struct WorkerConfig {
    /// Jobs in flight at once; each holds one blocking thread while it analyses.
    pub prefetch: u16,
    /// Tries before a job goes to the dead-letter queue and its layer is recorded failed.
    pub max_attempts: u32,
    /// First retry delay; doubled each attempt.
    pub retry_backoff: Duration,
    /// Secret rules from a user's config instead of the built-in ones. Results then depend on the config,
    /// so a worker with one must not share a layer cache with workers without it.
    /// Only for analysis in process: isolated children load [`Isolation::secret_config`].
    pub secrets: Option<Arc<strata_scanner::secret::Scanner>>,
    /// Fetch plus analysis of one layer; past it the attempt fails and the job's slot is freed. `None`:
    /// no deadline beyond the engine's own wall-clock budget (local mode).
    pub layer_deadline: Option<Duration>,
    /// After a stop request, how long jobs in flight may still run; those left then stay unacknowledged
    /// (the broker redelivers them, their attempt already counted) and the worker exits.
    pub shutdown_grace: Duration,
    /// Analyse each layer in a child process under limits (the fleet); `None` analyses in process.
    pub isolation: Option<Isolation>,
    /// The engine's per-layer budget for analysis in process; isolated children get
    /// [`Isolation::budget`]. A result under another budget may differ: give such workers their own cache.
    pub budget: strata_scanner::budget::Budget,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        WorkerConfig {
            prefetch: cpus as u16,
            max_attempts: 3,
            retry_backoff: Duration::from_millis(500),
            secrets: None,
            layer_deadline: None,
            shutdown_grace: Duration::from_secs(100),
            isolation: None,
            budget: strata_scanner::budget::Budget::default(),
        }
    }
}

#[derive(Clone)]
pub struct Worker {
    queue: Arc<dyn JobQueue>,
    cache: Arc<dyn LayerCache>,
    blobs: Arc<dyn BlobSource>,
    config: WorkerConfig,
}

impl Worker {
    pub fn new(
        queue: Arc<dyn JobQueue>,
        cache: Arc<dyn LayerCache>,
        blobs: Arc<dyn BlobSource>,
        config: WorkerConfig,
    ) -> Self {
        Worker { queue, cache, blobs, config }
    }

    /// Consumes until `shutdown` resolves, then stops taking jobs and finishes those in flight. Jobs not
    /// yet acknowledged when the process dies are redelivered by the broker.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> strata_fleet::Result<()> {
        let mut stream = self.queue.consume(self.config.prefetch.max(1)).await?;
        let mut in_flight = JoinSet::new();
        tokio::pin!(shutdown);
        // Why the loop ended other than by `shutdown`: the queue is gone for good (a broker that did not
        // come back). The process then exits with an error, so its supervisor starts it again.
        let mut lost = None;
        loop {
            // Never hold more than `prefetch` jobs: the broker's prefetch bounds unacked jobs, this bounds ours.
            while in_flight.len() >= usize::from(self.config.prefetch.max(1)) {
                in_flight.join_next().await;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                delivery = stream.next() => match delivery {
                    Some(Ok(delivery)) => {
                        let worker = self.clone();
                        // Jobs taken and not yet settled: 0 on every worker and an empty queue is an idle fleet.
                        metrics::gauge!("strata_jobs_in_flight").increment(1.0);
                        in_flight.spawn(async move {
                            worker.handle(delivery).await;
                            metrics::gauge!("strata_jobs_in_flight").decrement(1.0);
                        });
                    }
                    Some(Err(e @ strata_fleet::FleetError::Decode { .. })) => {
                        warn!(error = %e, "skipping an unreadable delivery")
                    }
                    Some(Err(e)) => {
                        lost = Some(e);
                        break;
                    }
                    None => {
                        lost = Some(strata_fleet::FleetError::Closed);
                        break;
                    }
                },
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
        drop(stream);
        info!(jobs = in_flight.len(), grace = ?self.config.shutdown_grace, "stopping: finishing jobs in flight");
        let drained = async { while in_flight.join_next().await.is_some() {} };
        if tokio::time::timeout(self.config.shutdown_grace, drained).await.is_err() {
            // Stuck jobs (a stalled registry, a hung analysis) must not outlive the grace period: left
            // unacknowledged, the broker gives them to another worker, their attempt already counted.
            warn!(jobs = in_flight.len(), "grace period over; leaving the jobs in flight to be redelivered");
            in_flight.abort_all();
        }
        lost.map_or(Ok(()), Err)
    }

    async fn handle(&self, delivery: Delivery) {
        // One span per job, a child of the scan that queued it (its trace context came with the job).
        let span = info_span!(
            "layer_job",
            scan.id = %delivery.job.scan_id,
            layer.digest = %delivery.job.digest,
            layer.size = delivery.job.size,
            job.attempt = delivery.attempts + 1,
            job.outcome = Empty,
            trace_id = Empty,
        );
        telemetry::set_parent(&span, &delivery.job.traceparent);
        let outcome = self.handle_traced(delivery).instrument(span.clone()).await;
        span.record("job.outcome", outcome);
    }

    async fn handle_traced(&self, delivery: Delivery) -> &'static str {
        let job = delivery.job.clone();
        // A duplicate job (a claim expired while the first was queued, a redelivery after the result was
        // stored) costs one cache read. A failure stands too: it is kept an hour, then a scan retries it.
        if let Ok(Some(_)) = self.cache.get(&job.digest).await {
            let _ = delivery.ack().await;
            return "cached";
        }
        // Counted before the work: if this attempt kills the process, the next delivery knows.
        let attempt = match self.cache.begin_attempt(&job.digest).await {
            Ok(attempt) => attempt,
            Err(e) => {
                warn!(layer = %job.digest, error = %e, "cannot count the attempt; requeueing");
                let _ = delivery.requeue(self.queue.as_ref()).await;
                return "requeued";
            }
        };
        let attempts = attempt.number.max(delivery.attempts + 1);
        let outcome = if attempts > self.config.max_attempts {
            // Every earlier attempt began and none settled: each one took its worker down with it.
            Err(attempt.last_failure.clone().unwrap_or_else(|| {
                "the worker stopped while analysing it (killed, out of memory or restarted)".to_string()
            }))
        } else {
            let started = std::time::Instant::now();
            let outcome = self.analyze_within_deadline(&job).await;
            metrics::histogram!("strata_layer_analysis_seconds").record(started.elapsed().as_secs_f64());
            outcome
        };
        let (stored, label) = match outcome {
            Ok(inventory) => match codec::ok_result(&inventory, attempts) {
                Ok(result) => {
                    metrics::counter!("strata_layers_analysed_total").increment(1);
                    metrics::histogram!("strata_layer_blob_bytes").record(inventory.stats.blob_bytes as f64);
                    let written = async {
                        let _ = self.cache.record_analysis(&job.digest).await;
                        self.cache.put(&result).await
                    };
                    (written.instrument(info_span!("cache_write")).await, "analysed")
                }
                Err(e) => (Err(e), "analysed"),
            },
            Err(reason) if attempts >= self.config.max_attempts => {
                let tries = attempts.min(self.config.max_attempts);
                (self.dead_letter(&job, &attempt, tries, &reason).await, "dead_lettered")
            }
            Err(message) => {
                let delay = self.config.retry_backoff * 2u32.saturating_pow(attempts - 1);
                warn!(layer = %job.digest, attempts, ?delay, error = %message, "layer failed; retrying");
                metrics::counter!("strata_job_retries_total").increment(1);
                let _ = self.cache.attempt_failed(&job.digest, &message).await;
                tokio::time::sleep(delay).await;
                (self.queue.publish(&job, attempts).await, "retried")
            }
        };
        match stored {
            Ok(()) => {
                let _ = delivery.ack().await;
                label
            }
            // Cache or broker unreachable: give the job back so it is not lost.
            Err(e) => {
                warn!(layer = %job.digest, error = %e, "cannot record the outcome; requeueing");
                let _ = delivery.requeue(self.queue.as_ref()).await;
                "requeued"
            }
        }
    }

    /// Moves a layer that failed `tries` times to the dead-letter queue and stores its failure, which
    /// fails the scans waiting on it with `reason`.
    async fn dead_letter(
        &self,
        job: &LayerJob,
        attempt: &Attempt,
        tries: u32,
        reason: &str,
    ) -> strata_fleet::Result<()> {
        let message = format!("layer {} stopped the analyser {tries} times: {reason}", job.digest);
        warn!(layer = %job.digest, attempt = attempt.number, error = %message, "layer failed for good; dead-lettering");
        metrics::counter!("strata_jobs_dead_lettered_total").increment(1);
        self.queue.dead_letter(job, tries, &message).await?;
        let failed = codec::failed_result(&job.digest, &message, tries);
        self.cache.put(&failed).instrument(info_span!("cache_write")).await
    }

    /// [`analyze`](Self::analyze) bounded by the per-layer deadline; past it the future is dropped, which
    /// kills an isolated analysis and frees the slot.
    async fn analyze_within_deadline(&self, job: &LayerJob) -> Result<LayerInventory, String> {
        let Some(deadline) = self.config.layer_deadline else { return self.analyze(job).await };
        match tokio::time::timeout(deadline, self.analyze(job)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                metrics::counter!("strata_layer_deadlines_total").increment(1);
                Err(format!(
                    "layer {}: not fetched and analysed within the per-layer deadline of {} s",
                    job.digest,
                    deadline.as_secs_f64()
                ))
            }
        }
    }

    /// `fetch` opens the blob (the registry's answer; its body then streams through the analysis), and
    /// `analyze` reads, decompresses and analyses it on the blocking pool.
    async fn analyze(&self, job: &LayerJob) -> Result<LayerInventory, String> {
        let reader = self
            .blobs
            .open(job)
            .instrument(info_span!("fetch", layer.repository = %job.repository))
            .await
            .map_err(|e| format!("layer {}: {e:#}", job.digest))?;
        if let Some(isolation) = &self.config.isolation {
            let size = u64::try_from(job.size)
                .map_err(|_| format!("layer {}: the manifest declares a size of {} bytes", job.digest, job.size))?;
            return isolation
                .analyse(reader, &job.digest, size)
                .instrument(info_span!("analyze", isolated = true))
                .await;
        }
        let digest = job.digest.clone();
        let secrets = self.config.secrets.clone();
        let budget = self.config.budget.clone();
        let span = info_span!("analyze", layer.uncompressed_bytes = Empty, layer.entries = Empty);
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let scanner = secrets.as_deref().unwrap_or_else(|| strata_scanner::secret::Scanner::builtin());
            let inventory = analyze_layer_with(reader, &digest, scanner, &budget);
            if let Ok(inventory) = &inventory {
                span.record("layer.uncompressed_bytes", inventory.stats.uncompressed_bytes);
                span.record("layer.entries", inventory.stats.entries);
            }
            inventory
        })
        .await
        .map_err(|e| format!("layer {}: analysis task failed: {e}", job.digest))?
        // The engine's errors already name the layer and the file.
        .map_err(|e| e.to_string())
    }
}
