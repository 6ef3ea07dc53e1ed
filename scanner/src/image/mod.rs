//! The data model of an image as the sources hand it to the engine: manifests, indexes, the image config,
//! and the [`ResolvedImage`] that pairs each layer with its history entry.

mod config;
mod manifest;
mod platform;

pub use config::{History, ImageConfig, RootFs, RuntimeConfig};
pub use manifest::{Descriptor, ImageIndex, ImageManifest, Manifest, media_types, parse_manifest};
pub use platform::Platform;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// One layer of a resolved image, with what the engine needs to analyse and attribute it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    /// Position from the bottom (0 = base layer).
    pub index: usize,
    /// The blob as the source stores it (compressed digest for registries and OCI layouts).
    pub descriptor: Descriptor,
    /// The uncompressed tar's digest from the config's `rootfs.diff_ids`: the same in every source.
    pub diff_id: String,
    /// The Dockerfile step that made the layer (`history[].created_by`), if the config records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// An image whose manifest and config have been read: everything but the layer contents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolvedImage {
    /// What the user asked for, for messages and reports (`registry/repo:tag`, `oci:DIR:TAG`, a path).
    pub name: String,
    /// Digest of the image manifest (not of the index it may have been selected from).
    pub manifest_digest: String,
    pub config_digest: String,
    pub config: ImageConfig,
    pub layers: Vec<LayerRef>,
}

impl ResolvedImage {
    /// Pairs the manifest's layers with the config's `diff_ids` and non-empty history entries.
    pub fn new(
        name: impl Into<String>,
        manifest_digest: impl Into<String>,
        manifest: &ImageManifest,
        config_bytes: &[u8],
    ) -> Result<Self> {
        let name = name.into();
        manifest.ensure_is_image().map_err(|e| e.context(&name))?;
        let config: ImageConfig = serde_json::from_slice(config_bytes).map_err(|e| {
            Error::with_source(
                ErrorKind::Parse,
                format!("{name}: image config {} is not valid JSON", manifest.config.digest),
                e,
            )
        })?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != manifest.layers.len() {
            return Err(Error::new(
                ErrorKind::Parse,
                format!(
                    "{name}: manifest lists {} layers but config {} has {} diff_ids",
                    manifest.layers.len(),
                    manifest.config.digest,
                    diff_ids.len()
                ),
            ));
        }
        // History entries with `empty_layer` made no layer (ENV, CMD, …); the rest map to layers in order.
        let mut created_by = config.history.iter().filter(|h| !h.empty_layer).map(|h| h.created_by.clone());
        let layers = manifest
            .layers
            .iter()
            .zip(diff_ids)
            .enumerate()
            .map(|(index, (descriptor, diff_id))| LayerRef {
                index,
                descriptor: descriptor.clone(),
                diff_id: diff_id.clone(),
                created_by: created_by.next().flatten(),
            })
            .collect();
        Ok(ResolvedImage {
            name,
            manifest_digest: manifest_digest.into(),
            config_digest: manifest.config.digest.clone(),
            config,
            layers,
        })
    }
}
