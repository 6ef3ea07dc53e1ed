//! Pushing the population over the registry's HTTP API (distribution v2): each blob uploaded once, shared
//! blobs linked into other repositories by cross-repository mount, then the config and the manifest. A few
//! requests per image over kept-alive connections, instead of one `skopeo` process per image.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::json;

use crate::blob::{Blob, sha256};
use crate::content::Materials;
use crate::population::{self, App, Spec};

/// Where the shared blobs (bases, runtimes) are uploaded first and mounted from.
const SHARED: &str = "load/shared";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[derive(Clone)]
pub struct Registry {
    http: reqwest::Client,
    base: String,
}

impl Registry {
    pub fn new(host: &str) -> Result<Registry> {
        Ok(Registry { http: reqwest::Client::builder().build()?, base: format!("http://{host}") })
    }

    pub async fn upload(&self, repo: &str, digest: &str, bytes: Arc<[u8]>) -> Result<()> {
        let started = self.http.post(format!("{}/v2/{repo}/blobs/uploads/", self.base)).send().await?;
        if started.status().as_u16() != 202 {
            bail!("starting an upload to {repo}: HTTP {}", started.status());
        }
        let location = started.headers().get("location").and_then(|v| v.to_str().ok()).context("upload location")?;
        let url = if location.starts_with("http") { location.to_string() } else { format!("{}{location}", self.base) };
        let sep = if url.contains('?') { '&' } else { '?' };
        let done = self.http.put(format!("{url}{sep}digest={digest}")).body(bytes.to_vec()).send().await?;
        if done.status().as_u16() != 201 {
            bail!("uploading {digest} to {repo}: HTTP {} {}", done.status(), done.text().await.unwrap_or_default());
        }
        Ok(())
    }

    /// Links a blob the registry has in `from` into `repo`.
    pub async fn mount(&self, repo: &str, digest: &str, from: &str) -> Result<()> {
        let url = format!("{}/v2/{repo}/blobs/uploads/?mount={digest}&from={from}", self.base);
        let response = self.http.post(url).send().await?;
        if response.status().as_u16() != 201 {
            bail!("mounting {digest} from {from} into {repo}: HTTP {}", response.status());
        }
        Ok(())
    }

    pub async fn put_manifest(&self, repo: &str, tag: &str, manifest: Vec<u8>) -> Result<()> {
        let response = self
            .http
            .put(format!("{}/v2/{repo}/manifests/{tag}", self.base))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest)
            .send()
            .await?;
        if response.status().as_u16() != 201 {
            bail!("pushing {repo}:{tag}: HTTP {} {}", response.status(), response.text().await.unwrap_or_default());
        }
        Ok(())
    }

    pub async fn get_blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>> {
        let response = self.http.get(format!("{}/v2/{repo}/blobs/{digest}", self.base)).send().await?;
        if !response.status().is_success() {
            bail!("fetching {digest} from {repo}: HTTP {}", response.status());
        }
        Ok(response.bytes().await?.to_vec())
    }
}

/// What the loadtest remembers of a layer: enough to count and to fetch it again.
#[derive(Debug, Clone, Serialize)]
pub struct LayerInfo {
    pub repository: String,
    pub raw_len: u64,
    pub gz_len: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PushStats {
    pub images: usize,
    pub blobs_uploaded: usize,
    pub bytes_uploaded: u64,
    pub seconds: f64,
}

/// How a manifest and a config name a layer.
#[derive(Debug, Clone)]
pub struct Desc {
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
}

impl From<&Blob> for Desc {
    fn from(blob: &Blob) -> Desc {
        Desc { digest: blob.digest.clone(), diff_id: blob.diff_id.clone(), size: blob.gz.len() as u64 }
    }
}

/// The pushed population.
pub struct Pushed {
    pub references: Vec<String>,
    /// Each app's dependency layer, by app index.
    pub deps: Vec<Desc>,
    /// Each distinct layer by digest.
    pub layers: BTreeMap<String, LayerInfo>,
    /// Layer 4 of each image (the one a rebuild replaces).
    pub app_layers: Vec<String>,
}

fn info(repository: &str, blob: &Blob) -> LayerInfo {
    LayerInfo { repository: repository.to_string(), raw_len: blob.raw_len, gz_len: blob.gz.len() as u64 }
}

/// Uploads the config and puts the manifest of one image.
async fn put_image(registry: &Registry, app: &App, image: usize, generation: u64, layers: [Desc; 4]) -> Result<u64> {
    let history = population::history(app, image, generation);
    put_config_and_manifest(registry, &app.repository, &population::image_tag(image), &layers, &history).await
}

/// Returns the config's size.
async fn put_config_and_manifest(
    registry: &Registry,
    repo: &str,
    tag: &str,
    layers: &[Desc],
    history: &[String],
) -> Result<u64> {
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "WorkingDir": "/app"},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        "history": history.iter().map(|h| json!({"created_by": h})).collect::<Vec<_>>(),
    }))?;
    let config_digest = sha256(&config);
    let config_len = config.len();
    registry.upload(repo, &config_digest, config.into()).await?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_len},
        "layers": layers.iter().map(|l| json!({"mediaType": LAYER_TYPE, "digest": l.digest, "size": l.size})).collect::<Vec<_>>(),
    }))?;
    registry.put_manifest(repo, tag, manifest).await?;
    Ok(config_len as u64)
}

/// Pushes an image of one layer; returns `repo:tag`.
pub async fn push_single(
    registry: &Registry,
    repo: &str,
    tag: &str,
    digest: &str,
    diff_id: &str,
    gz: Arc<[u8]>,
) -> Result<String> {
    let layer = Desc { digest: digest.to_string(), diff_id: diff_id.to_string(), size: gz.len() as u64 };
    registry.upload(repo, digest, gz).await?;
    put_config_and_manifest(registry, repo, tag, &[layer], &["ADD big layer /".to_string()]).await?;
    Ok(format!("{repo}:{tag}"))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.context("generator task")?
}

struct AppPushed {
    index: usize,
    app_layers: Vec<(usize, String, LayerInfo)>,
    deps: (Desc, LayerInfo),
    uploaded: (usize, u64),
}

/// One app: mounts its base and runtime, uploads its dependency layer and every build.
async fn push_app(registry: &Registry, spec: &Spec, materials: &Arc<Materials>, app: App) -> Result<AppPushed> {
    let runtime = &materials.runtimes[usize::from(app.ecosystem == population::Ecosystem::Python)];
    let base = &materials.bases[app.base];
    for blob in [base, runtime] {
        registry.mount(&app.repository, &blob.digest, SHARED).await?;
    }
    let (m, s, a) = (materials.clone(), spec.clone(), app.clone());
    let deps = blocking(move || population::dependency_layer(&s, &m, &a)).await?;
    registry.upload(&app.repository, &deps.digest, deps.gz.clone()).await?;
    let mut uploaded = (1, deps.gz.len() as u64);
    let mut app_layers = Vec::new();
    for &image in &app.images {
        let (m, s, a) = (materials.clone(), spec.clone(), app.clone());
        let blob = blocking(move || population::app_layer(&s, &m, &a, image, 0)).await?;
        registry.upload(&app.repository, &blob.digest, blob.gz.clone()).await?;
        let layers = [base.into(), runtime.into(), (&deps).into(), (&blob).into()];
        uploaded.1 += blob.gz.len() as u64 + put_image(registry, &app, image, 0, layers).await?;
        uploaded.0 += 2;
        app_layers.push((image, blob.digest.clone(), info(&app.repository, &blob)));
    }
    Ok(AppPushed { index: app.index, app_layers, deps: ((&deps).into(), info(&app.repository, &deps)), uploaded })
}

/// Pushes every image (`parallel` apps at a time).
pub async fn push_all(
    registry: &Registry,
    host: &str,
    spec: &Spec,
    materials: &Arc<Materials>,
    parallel: usize,
) -> Result<(Pushed, PushStats)> {
    let started = Instant::now();
    let mut layers = BTreeMap::new();
    let mut stats = PushStats { images: spec.images, ..PushStats::default() };
    for blob in materials.bases.iter().chain(&materials.runtimes) {
        registry.upload(SHARED, &blob.digest, blob.gz.clone()).await?;
        layers.insert(blob.digest.clone(), info(SHARED, blob));
        stats.blobs_uploaded += 1;
        stats.bytes_uploaded += blob.gz.len() as u64;
    }
    let apps = spec.apps();
    let mut references = vec![String::new(); spec.images];
    for app in &apps {
        for &image in &app.images {
            references[image] = population::reference(host, app, image);
        }
    }
    let done: Vec<AppPushed> = futures_util::stream::iter(apps)
        .map(|app| push_app(registry, spec, materials, app))
        .buffer_unordered(parallel.max(1))
        .try_collect()
        .await?;
    let mut app_layers = vec![String::new(); spec.images];
    let mut deps: Vec<Option<Desc>> = vec![None; done.len()];
    for app in done {
        layers.insert(app.deps.0.digest.clone(), app.deps.1);
        deps[app.index] = Some(app.deps.0);
        for (image, digest, info) in app.app_layers {
            app_layers[image] = digest.clone();
            layers.insert(digest, info);
        }
        stats.blobs_uploaded += app.uploaded.0;
        stats.bytes_uploaded += app.uploaded.1;
    }
    stats.seconds = started.elapsed().as_secs_f64();
    let deps = deps.into_iter().collect::<Option<Vec<Desc>>>().context("an app was not pushed")?;
    Ok((Pushed { references, deps, layers, app_layers }, stats))
}

/// Rebuilds the `changed` images: a new app layer, pushed under the same tag. Returns the new layers.
pub async fn rebuild(
    registry: &Registry,
    spec: &Spec,
    materials: &Arc<Materials>,
    pushed: &mut Pushed,
    parallel: usize,
) -> Result<BTreeMap<String, LayerInfo>> {
    let apps = spec.apps();
    let changed = spec.changed();
    let rebuilt: Vec<(usize, String, LayerInfo)> = futures_util::stream::iter(changed)
        .map(|image| {
            let app = apps[image % apps.len()].clone();
            let (m, s) = (materials.clone(), spec.clone());
            let deps = pushed.deps[app.index].clone();
            async move {
                let (m2, a2) = (m.clone(), app.clone());
                let blob = blocking(move || population::app_layer(&s, &m2, &a2, image, 1)).await?;
                registry.upload(&app.repository, &blob.digest, blob.gz.clone()).await?;
                let runtime = &m.runtimes[usize::from(app.ecosystem == population::Ecosystem::Python)];
                let layers = [(&m.bases[app.base]).into(), runtime.into(), deps, (&blob).into()];
                put_image(registry, &app, image, 1, layers).await?;
                Ok::<_, anyhow::Error>((image, blob.digest.clone(), info(&app.repository, &blob)))
            }
        })
        .buffer_unordered(parallel.max(1))
        .try_collect()
        .await?;
    let mut new = BTreeMap::new();
    for (image, digest, info) in rebuilt {
        pushed.app_layers[image] = digest.clone();
        pushed.layers.insert(digest.clone(), info.clone());
        new.insert(digest, info);
    }
    Ok(new)
}
