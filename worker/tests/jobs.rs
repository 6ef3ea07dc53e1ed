//! One job's bounds with the worker's in-process queue and cache: an attempt is counted before the work
//! (a layer whose every attempt took its worker down is dead-lettered without another try), fetch and
//! analysis share a deadline, and a stop request waits for a stuck job only for the grace period.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use strata_fleet::LayerJob;
use strata_fleet::cache::{LayerCache, MemoryCache};
use strata_fleet::queue::{JobQueue, MemoryQueue};
use strata_worker::{BlobSource, Worker, WorkerConfig};

const DIGEST: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

/// A registry whose blob request never answers, counting the requests.
#[derive(Default)]
struct Stalled {
    opened: AtomicUsize,
}

#[async_trait]
impl BlobSource for Stalled {
    async fn open(&self, _job: &LayerJob) -> anyhow::Result<Box<dyn Read + Send>> {
        self.opened.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

fn job() -> LayerJob {
    LayerJob {
        digest: DIGEST.into(),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        size: 42,
        repository: "127.0.0.1:5000/app".into(),
        analyzer_version: strata_scanner::ANALYZER_VERSION,
        scan_id: "scan-1".into(),
        traceparent: String::new(),
        ..Default::default()
    }
}

struct Setup {
    cache: Arc<MemoryCache>,
    queue: Arc<MemoryQueue>,
    blobs: Arc<Stalled>,
}

impl Setup {
    fn new() -> Self {
        Setup { cache: Arc::default(), queue: Arc::default(), blobs: Arc::default() }
    }

    /// Runs a worker on one job until `done` holds (at most 20 s), then stops it; returns how long the
    /// stop took.
    async fn run_until(&self, config: WorkerConfig, done: impl Fn(&Setup) -> bool) -> Duration {
        self.queue.publish(&job(), 0).await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = Worker::new(self.queue.clone(), self.cache.clone(), self.blobs.clone(), config);
        let running = tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        }));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self) {
            assert!(Instant::now() < deadline, "the job never got there");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let asked = Instant::now();
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(20), running).await.expect("the worker stops").unwrap().unwrap();
        asked.elapsed()
    }

    /// The stored failure of the layer.
    async fn failure(&self) -> String {
        let result = self.cache.get(DIGEST).await.unwrap().expect("the layer's failure is stored");
        assert!(!result.ok);
        result.error
    }
}

fn dead_lettered(setup: &Setup) -> bool {
    !setup.queue.dead_letters().is_empty()
}

#[tokio::test]
async fn a_layer_whose_attempts_all_died_is_dead_lettered_without_another_try() {
    let setup = Setup::new();
    // Three workers began it and none lived to settle it (the broker redelivered it each time).
    for _ in 0..3 {
        setup.cache.begin_attempt(DIGEST).await.unwrap();
    }
    setup.run_until(WorkerConfig { max_attempts: 3, ..WorkerConfig::default() }, dead_lettered).await;
    let reason = setup.failure().await;
    assert!(reason.contains(&format!("layer {DIGEST} stopped the analyser 3 times")), "{reason}");
    assert!(reason.contains("the worker stopped while analysing it"), "{reason}");
    assert_eq!(setup.blobs.opened.load(Ordering::SeqCst), 0, "not tried a fourth time");
}

#[tokio::test]
async fn a_stalled_fetch_fails_at_the_layer_deadline_and_is_retried_then_dead_lettered() {
    let setup = Setup::new();
    let config = WorkerConfig {
        max_attempts: 2,
        retry_backoff: Duration::from_millis(10),
        layer_deadline: Some(Duration::from_millis(200)),
        ..WorkerConfig::default()
    };
    setup.run_until(config, dead_lettered).await;
    let reason = setup.failure().await;
    assert!(reason.contains(&format!("layer {DIGEST} stopped the analyser 2 times")), "{reason}");
    assert!(reason.contains("per-layer deadline of 0.2 s"), "{reason}");
    assert_eq!(setup.blobs.opened.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_stop_waits_for_a_stuck_job_only_for_the_grace_period() {
    let setup = Setup::new();
    let config = WorkerConfig { shutdown_grace: Duration::from_millis(300), ..WorkerConfig::default() };
    let took = setup.run_until(config, |s| s.blobs.opened.load(Ordering::SeqCst) == 1).await;
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(5), "stopped after {took:?}");
    assert!(setup.cache.get(DIGEST).await.unwrap().is_none(), "the stuck job was left unsettled");
    assert_eq!(setup.cache.begin_attempt(DIGEST).await.unwrap().number, 2, "its attempt was counted");
}
