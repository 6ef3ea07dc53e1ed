//! Fan-out of one image's layers: serve what the cache has, queue what nobody is analysing yet, and wait
//! for the rest. Waiting is event-driven (the cache's "done" notifications) with a periodic re-check, so
//! a lost notification or an expired claim (its job lost with a crashed process) only costs a delay.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use strata_fleet::cache::LayerCache;
use strata_fleet::queue::JobQueue;
use strata_fleet::{LayerJob, LayerResult};
use strata_scanner::image::ResolvedImage;
use tokio::sync::broadcast::error::RecvError;

/// How each layer of a scan was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerSource {
    /// In the cache before this scan looked.
    Cached,
    /// This scan queued the job.
    Queued,
    /// Another scan (on any replica) had it queued or running; this one waited.
    Waited,
}

#[derive(Debug, Clone)]
pub struct LayerProgress {
    pub digest: String,
    pub source: LayerSource,
    /// Set once the layer's result is in.
    pub result_ok: Option<bool>,
}

#[derive(Clone)]
pub struct LayerFanout {
    queue: Arc<dyn JobQueue>,
    cache: Arc<dyn LayerCache>,
    /// How long a claim protects a queued job from being queued again (covers queue wait + analysis).
    pub claim_ttl: Duration,
    /// How often pending layers are re-checked without a notification.
    pub recheck: Duration,
}

impl LayerFanout {
    pub fn new(queue: Arc<dyn JobQueue>, cache: Arc<dyn LayerCache>) -> Self {
        LayerFanout { queue, cache, claim_ttl: Duration::from_secs(600), recheck: Duration::from_secs(2) }
    }

    /// Returns one result per layer, in layer order, calling `progress` as layers are served. The jobs
    /// this scan queues carry `pull_token` (a token minted for a lent credential) when there is one; a job
    /// another scan queued is fetched as that scan arranged.
    pub async fn collect(
        &self,
        scan_id: &str,
        repository: &str,
        image: &ResolvedImage,
        traceparent: &str,
        pull_token: Option<&str>,
        progress: &(dyn Fn(LayerProgress) + Send + Sync),
    ) -> strata_fleet::Result<Vec<LayerResult>> {
        let make_job = |layer: &strata_scanner::image::LayerRef| LayerJob {
            digest: layer.descriptor.digest.clone(),
            media_type: layer.descriptor.media_type.clone(),
            size: layer.descriptor.size,
            repository: repository.to_string(),
            analyzer_version: strata_scanner::ANALYZER_VERSION,
            scan_id: scan_id.to_string(),
            traceparent: traceparent.to_string(),
            pull_token: pull_token.unwrap_or_default().to_string(),
        };
        // Subscribe before looking, so a result stored between the look and the wait is not missed.
        let mut done = self.cache.subscribe();
        let mut results: BTreeMap<String, LayerResult> = BTreeMap::new();
        let mut pending: HashSet<String> = HashSet::new();
        let mut sources: BTreeMap<String, LayerSource> = BTreeMap::new();
        for layer in &image.layers {
            let digest = layer.descriptor.digest.clone();
            if results.contains_key(&digest) || pending.contains(&digest) {
                continue; // the same blob twice in one image
            }
            if let Some(result) = self.cache.get(&digest).await? {
                progress(LayerProgress {
                    digest: digest.clone(),
                    source: LayerSource::Cached,
                    result_ok: Some(result.ok),
                });
                sources.insert(digest.clone(), LayerSource::Cached);
                results.insert(digest, result);
                continue;
            }
            let source = if self.cache.claim(&digest, self.claim_ttl).await? {
                self.queue.publish(&make_job(layer), 0).await?;
                metrics::counter!("strata_layer_jobs_queued_total").increment(1);
                LayerSource::Queued
            } else {
                metrics::counter!("strata_single_flight_waits_total").increment(1);
                LayerSource::Waited
            };
            progress(LayerProgress { digest: digest.clone(), source, result_ok: None });
            sources.insert(digest.clone(), source);
            pending.insert(digest);
        }
        let layers: BTreeMap<String, &strata_scanner::image::LayerRef> =
            image.layers.iter().map(|l| (l.descriptor.digest.clone(), l)).collect();
        while !pending.is_empty() {
            let recheck = match tokio::time::timeout(self.recheck, done.recv()).await {
                Ok(Ok(digest)) if pending.contains(&digest) => vec![digest],
                Ok(Ok(_)) => continue,
                // Missed notifications or a quiet period: look at everything still pending.
                Ok(Err(RecvError::Lagged(_))) | Err(_) => pending.iter().cloned().collect(),
                Ok(Err(RecvError::Closed)) => return Err(strata_fleet::FleetError::Closed),
            };
            for digest in recheck {
                if let Some(result) = self.cache.get(&digest).await? {
                    pending.remove(&digest);
                    progress(LayerProgress {
                        digest: digest.clone(),
                        source: sources.get(&digest).copied().unwrap_or(LayerSource::Waited),
                        result_ok: Some(result.ok),
                    });
                    results.insert(digest, result);
                } else if self.cache.claim(&digest, self.claim_ttl).await? {
                    // The claim expired with no result: its job was lost. Queue it again; the attempts it
                    // already cost are counted in the cache (the worker reads that count, not this 0), so a
                    // layer that kills its analyser is still dead-lettered after N of them.
                    self.queue.publish(&make_job(layers[&digest]), 0).await?;
                }
            }
        }
        Ok(image.layers.iter().map(|l| results[&l.descriptor.digest].clone()).collect())
    }
}
