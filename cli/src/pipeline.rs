//! Local mode: the fleet's pipeline in one process. The coordinator's layer fan-out and the worker run
//! over an in-process queue and cache, so `strata image` and the fleet share every step: resolve, queue
//! layer jobs, analyse blobs on the blocking pool, merge, match.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use async_trait::async_trait;
use strata_fleet::LayerJob;
use strata_fleet::cache::{LayerCache, MemoryCache, RedisCache};
use strata_fleet::queue::MemoryQueue;
use strata_pipeline::assemble;
use strata_pipeline::fanout::LayerFanout;
use strata_registry::{RegistryClient, RegistryOptions};
use strata_scanner::image::{LayerRef, Platform, ResolvedImage};
use strata_scanner::merge::ImageInventory;
use strata_scanner::source::{DockerArchive, OciLayout};
use strata_worker::{BlobSource, Worker, WorkerConfig};

use crate::progress::Progress;

/// Where an image's bytes come from. Cheap to clone.
#[derive(Clone)]
pub enum ImageSource {
    Registry { client: Arc<RegistryClient>, reference: String },
    Oci(Arc<OciLayout>),
    Archive(Arc<DockerArchive>),
}

impl ImageSource {
    /// Local mode: the user named the registry, so it is the one allowed registry; the
    /// `STRATA_REGISTRY_USERNAME`/`_PASSWORD` pair goes to it (or to `STRATA_REGISTRY_HOST` when set) and
    /// to no other host.
    pub fn registry(reference: &str, insecure: bool, platform: &Platform) -> Result<Self> {
        let client = registry_client(reference, insecure, platform)?;
        Ok(ImageSource::Registry { client: Arc::new(client), reference: reference.to_string() })
    }

    /// `--input PATH`: an OCI layout directory (`DIR[:TAG]`) or a docker-archive tarball.
    pub fn input(spec: &str) -> Result<Self> {
        if OciLayout::detect(spec) {
            return Ok(ImageSource::Oci(Arc::new(OciLayout::open(spec)?)));
        }
        let path = Path::new(spec);
        if path.is_file() {
            return Ok(ImageSource::Archive(Arc::new(DockerArchive::open(path)?)));
        }
        Err(anyhow!("{spec}: neither an OCI layout directory (with index.json) nor a docker-archive file"))
    }

    pub async fn resolve(&self, platform: &Platform) -> Result<ResolvedImage> {
        match self {
            ImageSource::Registry { client, reference } => Ok(client.resolve(reference).await?),
            ImageSource::Oci(layout) => {
                let (layout, platform) = (layout.clone(), platform.clone());
                Ok(tokio::task::spawn_blocking(move || layout.resolve(&platform)).await??)
            }
            ImageSource::Archive(archive) => {
                let archive = archive.clone();
                Ok(tokio::task::spawn_blocking(move || archive.resolve()).await??)
            }
        }
    }

    fn retries(&self) -> u32 {
        // A registry can fail transiently; a local file that failed once will fail again.
        if matches!(self, ImageSource::Registry { .. }) { 2 } else { 1 }
    }
}

/// The worker's blob source in local mode: the image's own source, with progress accounting.
struct LocalBlobs {
    source: ImageSource,
    layers: BTreeMap<String, LayerRef>,
    progress: Progress,
}

#[async_trait]
impl BlobSource for LocalBlobs {
    async fn open(&self, job: &LayerJob) -> anyhow::Result<Box<dyn Read + Send>> {
        let layer =
            self.layers.get(&job.digest).ok_or_else(|| anyhow!("layer {} is not part of this image", job.digest))?;
        let reader: Box<dyn Read + Send> = match &self.source {
            ImageSource::Registry { client, reference } => {
                Box::new(strata_registry::blocking_reader(client.open_blob(reference, &layer.descriptor).await?))
            }
            ImageSource::Oci(layout) => Box::new(layout.open_blob(&job.digest)?),
            ImageSource::Archive(archive) => Box::new(archive.open_layer(&layer.descriptor)?),
        };
        Ok(self.progress.wrap(reader))
    }
}

/// What a local scan produces before matching.
pub struct Scanned {
    pub image: ResolvedImage,
    pub inventory: ImageInventory,
}

/// Resolves and analyses an image; every error names the image, and layer errors the layer and file.
pub async fn scan(
    source: &ImageSource,
    platform: &Platform,
    show_progress: bool,
    cache_url: Option<&str>,
    cache_tls: &strata_fleet::tls::TlsFiles,
    secrets: Option<Arc<strata_scanner::secret::Scanner>>,
    budget: strata_scanner::budget::Budget,
) -> Result<Scanned> {
    let image = source.resolve(platform).await?;
    let total: u64 = image.layers.iter().map(|l| l.descriptor.size.max(0) as u64).sum();
    let progress = Progress::new(show_progress, image.layers.len(), total);

    let queue = Arc::new(MemoryQueue::default());
    let cache: Arc<dyn LayerCache> = match cache_url {
        Some(url) => {
            let prefix = std::env::var("STRATA_KEY_PREFIX").unwrap_or_else(|_| "strata".into());
            let ttl = std::time::Duration::from_secs(30 * 86_400);
            let client =
                strata_fleet::tls::redis_client(url, cache_tls).await.context("connecting to the layer cache")?;
            Arc::new(RedisCache::open(client, &prefix, ttl).await.context("connecting to the layer cache")?)
        }
        None => Arc::new(MemoryCache::default()),
    };
    let blobs = LocalBlobs {
        source: source.clone(),
        layers: image.layers.iter().map(|l| (l.descriptor.digest.clone(), l.clone())).collect(),
        progress: progress.clone(),
    };
    let config = WorkerConfig { max_attempts: source.retries(), secrets, budget, ..WorkerConfig::default() };
    let worker = Worker::new(queue.clone(), cache.clone(), Arc::new(blobs), config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));

    let fanout = LayerFanout::new(queue, cache);
    let on_progress = {
        let progress = progress.clone();
        move |p: strata_pipeline::fanout::LayerProgress| {
            if p.result_ok.is_some() {
                progress.layer_done();
            }
        }
    };
    let collected = fanout.collect("local", &image.name, &image, "", None, &on_progress).await;
    let _ = stop.send(());
    let _ = worker.await;
    progress.finish();
    let results = collected.map_err(|e| anyhow!("image {}: {e}", image.name))?;
    let image_for_merge = image.clone();
    let inventory = tokio::task::spawn_blocking(move || assemble::inventory(&image_for_merge, &results))
        .await?
        .map_err(anyhow::Error::msg)?;
    Ok(Scanned { image, inventory })
}

/// A client for the registry `reference` names, the only registry it may contact: the
/// `STRATA_REGISTRY_USERNAME`/`_PASSWORD` pair (or `STRATA_REGISTRY_CREDENTIALS_FILE`) goes to it, or to
/// `STRATA_REGISTRY_HOST` when set, and to no other host. Scans and `strata db push` use it.
pub fn registry_client(reference: &str, insecure: bool, platform: &Platform) -> Result<RegistryClient> {
    let registry = strata_registry::registry_of(reference).with_context(|| format!("image {reference}"))?;
    let env = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
    let hosts = match env("STRATA_REGISTRY_HOST") {
        Some(hosts) => hosts.split(',').map(|h| h.trim().to_string()).collect(),
        None => vec![registry.clone()],
    };
    let options = RegistryOptions {
        insecure,
        platform: platform.clone(),
        credentials: strata_registry::CredentialSources {
            username: env("STRATA_REGISTRY_USERNAME"),
            password: env("STRATA_REGISTRY_PASSWORD"),
            hosts,
            credentials_file: env("STRATA_REGISTRY_CREDENTIALS_FILE").map(Into::into),
            docker_config: None,
        },
        allowed: strata_registry::AllowList::default().with_registries([registry]),
    };
    RegistryClient::new(options).with_context(|| format!("image {reference}"))
}
