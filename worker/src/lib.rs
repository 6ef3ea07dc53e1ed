//! The stateless layer worker: takes layer jobs from the queue, streams each blob through the engine's
//! layer analysis on the blocking pool, writes the result to the layer cache, then acknowledges the job.
//!
//! The same [`Worker`] runs in the `strata-worker` binary (RabbitMQ, Redis, registry) and inside
//! `strata image` (in-process queue and cache, blobs from a registry or local files).

pub mod blobs;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use strata_fleet::cache::LayerCache;
use strata_fleet::queue::{Delivery, JobQueue};
use strata_fleet::telemetry;
use strata_fleet::{LayerJob, codec};
use strata_scanner::layer::{LayerInventory, analyze_layer};
use tokio::task::JoinSet;
use tracing::field::Empty;
use tracing::{Instrument, info, info_span, warn};

pub use blobs::{BlobSource, RegistryBlobs};

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
    pub secrets: Option<Arc<strata_scanner::secret::Scanner>>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        WorkerConfig {
            prefetch: cpus as u16,
            max_attempts: 3,
            retry_backoff: Duration::from_millis(500),
            secrets: None,
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
        info!(jobs = in_flight.len(), "stopping: finishing jobs in flight");
        while in_flight.join_next().await.is_some() {}
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
        // A duplicate job (a claim expired while the first was queued) costs one cache read.
        if let Ok(Some(done)) = self.cache.get(&job.digest).await
            && done.ok
        {
            let _ = delivery.ack().await;
            return "cached";
        }
        let started = std::time::Instant::now();
        let outcome = self.analyze(&job).await;
        metrics::histogram!("strata_layer_analysis_seconds").record(started.elapsed().as_secs_f64());
        let attempts = delivery.attempts + 1;
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
            Err(message) if attempts >= self.config.max_attempts => {
                warn!(layer = %job.digest, attempts, error = %message, "layer failed for good; dead-lettering");
                metrics::counter!("strata_jobs_dead_lettered_total").increment(1);
                let dead = self.queue.dead_letter(&job, attempts, &message).await;
                let stored = match dead {
                    Ok(()) => {
                        let failed = codec::failed_result(&job.digest, &message, attempts);
                        self.cache.put(&failed).instrument(info_span!("cache_write")).await
                    }
                    Err(e) => Err(e),
                };
                (stored, "dead_lettered")
            }
            Err(message) => {
                let delay = self.config.retry_backoff * 2u32.saturating_pow(attempts - 1);
                warn!(layer = %job.digest, attempts, ?delay, error = %message, "layer failed; retrying");
                metrics::counter!("strata_job_retries_total").increment(1);
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

    /// `fetch` opens the blob (the registry's answer; its body then streams through the analysis), and
    /// `analyze` reads, decompresses and analyses it on the blocking pool.
    async fn analyze(&self, job: &LayerJob) -> Result<LayerInventory, String> {
        let reader = self
            .blobs
            .open(job)
            .instrument(info_span!("fetch", layer.repository = %job.repository))
            .await
            .map_err(|e| format!("layer {}: {e:#}", job.digest))?;
        let digest = job.digest.clone();
        let secrets = self.config.secrets.clone();
        let span = info_span!("analyze", layer.uncompressed_bytes = Empty, layer.entries = Empty);
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let inventory = match &secrets {
                Some(scanner) => {
                    strata_scanner::layer::analyze_layer_with(reader, &digest, scanner, &Default::default())
                }
                None => analyze_layer(reader, &digest),
            };
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
