//! The local scan pipeline: resolve the image, analyse its layers concurrently off the async reactor,
//! merge. Matching and rendering are the caller's, so the fleet can reuse everything up to the merge.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use futures_util::{StreamExt, TryStreamExt, stream};
use strata_registry::{RegistryClient, RegistryOptions};
use strata_scanner::image::{LayerRef, Platform, ResolvedImage};
use strata_scanner::layer::{LayerInventory, analyze_layer};
use strata_scanner::merge::{ImageInventory, merge};
use strata_scanner::source::{DockerArchive, OciLayout};

use crate::progress::Progress;

/// Where an image's bytes come from. Cheap to clone: layer tasks each hold one.
#[derive(Clone)]
pub enum ImageSource {
    Registry { client: Arc<RegistryClient>, reference: String },
    Oci(Arc<OciLayout>),
    Archive(Arc<DockerArchive>),
}

impl ImageSource {
    pub fn registry(reference: &str, insecure: bool, platform: &Platform) -> Result<Self> {
        let options = RegistryOptions {
            insecure,
            platform: platform.clone(),
            username: std::env::var("STRATA_REGISTRY_USERNAME").ok().filter(|s| !s.is_empty()),
            password: std::env::var("STRATA_REGISTRY_PASSWORD").ok().filter(|s| !s.is_empty()),
            ..RegistryOptions::default()
        };
        let client = RegistryClient::new(options).with_context(|| format!("image {reference}"))?;
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

    /// Streams one layer blob through the engine on the blocking pool.
    async fn analyze(&self, layer: LayerRef, progress: Progress) -> strata_scanner::Result<LayerInventory> {
        let digest = layer.descriptor.digest.clone();
        let reader: Box<dyn Read + Send> = match self {
            ImageSource::Registry { client, reference } => {
                let stream = client.open_blob(reference, &layer.descriptor).await.map_err(|e| {
                    strata_scanner::Error::with_source(e.kind(), format!("layer {digest}: fetching blob"), e)
                })?;
                Box::new(strata_registry::blocking_reader(stream))
            }
            ImageSource::Oci(layout) => Box::new(layout.open_blob(&digest)?),
            ImageSource::Archive(archive) => Box::new(archive.open_layer(&layer.descriptor)?),
        };
        let task = tokio::task::spawn_blocking(move || {
            let result = analyze_layer(progress.wrap(reader), &digest);
            progress.layer_done();
            result
        });
        task.await
            .map_err(|e| strata_scanner::Error::new(strata_scanner::ErrorKind::Io, format!("layer task failed: {e}")))?
    }
}

/// What a local scan produces before matching.
pub struct Scanned {
    pub image: ResolvedImage,
    pub inventory: ImageInventory,
}

/// Resolves and analyses an image; every error names the image, and layer errors the layer.
pub async fn scan(source: &ImageSource, platform: &Platform, show_progress: bool) -> Result<Scanned> {
    let image = source.resolve(platform).await?;
    let name = image.name.clone();
    let total: u64 = image.layers.iter().map(|l| l.descriptor.size.max(0) as u64).sum();
    let progress = Progress::new(show_progress, image.layers.len(), total);
    // Two cores analyse two layers at once; more in flight only adds memory.
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let layers: Vec<LayerInventory> = stream::iter(image.layers.clone())
        .map(|layer| {
            let (source, progress) = (source.clone(), progress.clone());
            let index = layer.index;
            async move { source.analyze(layer, progress).await.map_err(|e| e.context(format!("layer #{index}"))) }
        })
        .buffered(parallel)
        .try_collect()
        .await
        .map_err(|e| anyhow!(e.context(format!("image {name}"))))?;
    progress.finish();
    let inventory = merge(&image.layers, &layers);
    Ok(Scanned { image, inventory })
}
