//! The layer fan-out in process, over the in-memory queue and cache that local mode uses: what is cached is
//! served without a job, what is missing is queued once however many scans want it (single-flight), and
//! a job lost with its worker is queued again once its claim expires. A test "worker" here answers jobs by
//! storing results in the cache, as the real one does; the real worker's side has its own tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_fleet::cache::{LayerCache, MemoryCache};
use strata_fleet::queue::{JobQueue, MemoryQueue};
use strata_fleet::{LayerJob, LayerResult};
use strata_pipeline::fanout::{LayerFanout, LayerProgress, LayerSource};
use strata_scanner::image::{Descriptor, ImageConfig, LayerRef, ResolvedImage};

const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn digest(name: &str) -> String {
    format!("sha256:{name:0>64}")
}

fn image(name: &str, layers: &[&str]) -> ResolvedImage {
    let layers = layers
        .iter()
        .enumerate()
        .map(|(index, layer)| LayerRef {
            index,
            descriptor: Descriptor {
                media_type: LAYER_MEDIA_TYPE.into(),
                digest: digest(layer),
                size: 1,
                platform: None,
                artifact_type: None,
                annotations: BTreeMap::new(),
            },
            diff_id: digest(&format!("d{layer}")),
            created_by: None,
        })
        .collect();
    ResolvedImage {
        name: name.into(),
        manifest_digest: digest(&format!("m{name}")),
        config_digest: digest(&format!("c{name}")),
        config: ImageConfig::default(),
        layers,
    }
}

fn result(digest: &str) -> LayerResult {
    LayerResult { digest: digest.into(), ok: true, ..LayerResult::default() }
}

/// A queue and a cache shared by every scan of a test, and a worker that answers jobs: every job it takes is
/// recorded; the first `lose` jobs of a digest are dropped unanswered, as by a worker that died.
struct Fleet {
    queue: Arc<MemoryQueue>,
    cache: Arc<MemoryCache>,
    taken: Arc<Mutex<Vec<LayerJob>>>,
}

impl Fleet {
    fn start(lose: usize) -> Fleet {
        let (queue, cache) = (Arc::new(MemoryQueue::default()), Arc::new(MemoryCache::default()));
        let taken = Arc::new(Mutex::new(Vec::<LayerJob>::new()));
        let (consumer, store, seen) = (queue.clone(), cache.clone(), taken.clone());
        tokio::spawn(async move {
            let mut jobs = consumer.consume(1).await.expect("consume");
            while let Some(Ok(delivery)) = jobs.next().await {
                let job = delivery.job.clone();
                let earlier = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(job.clone());
                    seen.iter().filter(|j| j.digest == job.digest).count() - 1
                };
                delivery.ack().await.expect("ack");
                if earlier >= lose {
                    store.put(&result(&job.digest)).await.expect("put");
                }
            }
        });
        Fleet { queue, cache, taken }
    }

    fn fanout(&self) -> LayerFanout {
        let mut fanout = LayerFanout::new(self.queue.clone(), self.cache.clone());
        fanout.recheck = Duration::from_millis(50);
        fanout
    }

    /// Digests of the jobs the worker took, in order.
    fn jobs(&self) -> Vec<String> {
        self.taken.lock().unwrap().iter().map(|j| j.digest.clone()).collect()
    }
}

/// Runs one scan's fan-out (bounded by a hang guard); returns its result digests and each layer's source.
async fn collect(
    fanout: &LayerFanout,
    scan: &str,
    image: &ResolvedImage,
) -> (Vec<String>, BTreeMap<String, LayerSource>) {
    let sources = Mutex::new(BTreeMap::new());
    let progress = |p: LayerProgress| {
        sources.lock().unwrap().insert(p.digest, p.source);
    };
    let collected = fanout.collect(scan, "app", image, "", None, &progress);
    let results =
        tokio::time::timeout(Duration::from_secs(60), collected).await.expect("fan-out hung").expect("collect");
    (results.into_iter().map(|r| r.digest).collect(), sources.into_inner().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_layers_are_served_and_missing_ones_queued_once_in_layer_order() {
    let fleet = Fleet::start(0);
    fleet.cache.put(&result(&digest("a"))).await.unwrap();
    // `b` twice in one image: one job, two results.
    let image = image("one", &["a", "b", "c", "b"]);
    let (results, sources) = collect(&fleet.fanout(), "scan-1", &image).await;
    assert_eq!(results, [digest("a"), digest("b"), digest("c"), digest("b")]);
    assert_eq!(sources[&digest("a")], LayerSource::Cached);
    assert_eq!(sources[&digest("b")], LayerSource::Queued);
    assert_eq!(sources[&digest("c")], LayerSource::Queued);
    assert_eq!(fleet.jobs(), [digest("b"), digest("c")], "the cached layer is not queued, the repeated one once");
    let job = fleet.taken.lock().unwrap()[0].clone();
    assert_eq!(
        (job.scan_id.as_str(), job.repository.as_str(), job.media_type.as_str()),
        ("scan-1", "app", LAYER_MEDIA_TYPE)
    );
}

// One thread: the scans all look before the worker can answer, so every scan but the first must wait.
#[tokio::test(flavor = "current_thread")]
async fn scans_sharing_a_layer_queue_it_once_and_all_get_its_result() {
    let fleet = Fleet::start(0);
    let fanout = fleet.fanout();
    let images: Vec<_> = (0..4).map(|i| image(&format!("app{i}"), &["base", &format!("app{i}")])).collect();
    let runs = images.iter().enumerate().map(|(i, image)| {
        let fanout = fanout.clone();
        async move { collect(&fanout, &format!("scan-{i}"), image).await }
    });
    let outcomes = futures_util::future::join_all(runs).await;
    for (i, (results, sources)) in outcomes.iter().enumerate() {
        assert_eq!(results, &[digest("base"), digest(&format!("app{i}"))]);
        let expected = if i == 0 { LayerSource::Queued } else { LayerSource::Waited };
        assert_eq!(sources[&digest("base")], expected, "scan {i}");
    }
    let jobs = fleet.jobs();
    assert_eq!(jobs.iter().filter(|d| **d == digest("base")).count(), 1, "the shared layer is queued once: {jobs:?}");
    assert_eq!(jobs.len(), 5, "and each scan's own layer once: {jobs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_job_is_queued_again_when_its_claim_expires() {
    // The first job of every layer is lost (its worker died before storing a result).
    let fleet = Fleet::start(1);
    let mut fanout = fleet.fanout();
    fanout.claim_ttl = Duration::from_secs(1);
    let image = image("lost", &["x"]);
    let (results, sources) = collect(&fanout, "scan-lost", &image).await;
    assert_eq!(results, [digest("x")]);
    assert_eq!(sources[&digest("x")], LayerSource::Queued);
    assert_eq!(fleet.jobs(), [digest("x"), digest("x")], "queued again after the claim ran out, and only then");
    assert_eq!(fleet.cache.get(&digest("x")).await.unwrap(), Some(result(&digest("x"))));
}
