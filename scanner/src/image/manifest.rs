//! OCI and Docker v2 schema 2 manifests and indexes. Both use the same JSON shape; only media types differ.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Platform;
use crate::error::{Error, ErrorKind, Result};

pub mod media_types {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_LAYER_ND_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// What to send as `Accept` when fetching a manifest: every image manifest and index type we read.
    pub const ACCEPT_MANIFESTS: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

    /// Whether a layer media type is a filesystem tar we can analyse.
    pub fn is_layer(media_type: &str) -> bool {
        media_type.starts_with("application/vnd.oci.image.layer.")
            || media_type.starts_with("application/vnd.docker.image.rootfs.")
    }
}

/// A content descriptor: media type, digest and size, plus the platform in an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

/// Parses manifest bytes. `content_type` is the registry's `Content-Type` (or the descriptor's media type);
/// when it is missing or generic the JSON's own `mediaType` and shape decide.
pub fn parse_manifest(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        schema_version: u32,
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    let bad = |e: serde_json::Error| Error::with_source(ErrorKind::Parse, "manifest is not valid JSON", e);
    let probe: Probe = serde_json::from_slice(bytes).map_err(bad)?;
    let declared = content_type
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "application/octet-stream")
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
        .or(probe.media_type.clone());
    if probe.schema_version == 1 {
        return Err(Error::new(
            ErrorKind::Invalid,
            "Docker schema 1 manifests are deprecated and not supported; re-push the image with a current client",
        ));
    }
    let is_index = match declared.as_deref() {
        Some(media_types::OCI_INDEX | media_types::DOCKER_LIST) => true,
        Some(media_types::OCI_MANIFEST | media_types::DOCKER_MANIFEST) => false,
        Some(other) if probe.manifests.is_none() && probe.config.is_none() => {
            return Err(Error::new(ErrorKind::NotAnImage, format!("unsupported manifest media type {other}")));
        }
        _ => probe.manifests.is_some(),
    };
    if is_index {
        Ok(Manifest::Index(serde_json::from_slice(bytes).map_err(bad)?))
    } else {
        Ok(Manifest::Image(serde_json::from_slice(bytes).map_err(bad)?))
    }
}

impl ImageManifest {
    /// Rejects OCI artifacts that are not container images: Helm charts, cosign signatures, SBOM
    /// attestations. They use the same manifest shape with another config or layer media type.
    pub fn ensure_is_image(&self) -> Result<()> {
        let config_type = self.config.media_type.as_str();
        let config_ok = matches!(config_type, media_types::OCI_CONFIG | media_types::DOCKER_CONFIG | "");
        let artifact_ok = self.artifact_type.as_deref().is_none_or(|a| a == media_types::OCI_CONFIG);
        if !config_ok || !artifact_ok {
            let what = self.artifact_type.as_deref().unwrap_or(config_type);
            return Err(Error::new(
                ErrorKind::NotAnImage,
                format!("this is an OCI artifact of type {what}, not a container image"),
            ));
        }
        if let Some(layer) =
            self.layers.iter().find(|l| !l.media_type.is_empty() && !media_types::is_layer(&l.media_type))
        {
            return Err(Error::new(
                ErrorKind::NotAnImage,
                format!("layer {} has media type {}, which is not a filesystem layer", layer.digest, layer.media_type),
            ));
        }
        Ok(())
    }
}

impl ImageIndex {
    /// Picks the manifest for `platform`. Attestation manifests (`unknown/unknown`) never match.
    pub fn select(&self, platform: &Platform) -> Result<&Descriptor> {
        self.manifests.iter().find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p))).ok_or_else(|| {
            let available: Vec<String> =
                self.manifests.iter().filter_map(|d| d.platform.as_ref()).map(|p| p.to_string()).collect();
            Error::new(
                ErrorKind::NotFound,
                format!("no manifest for platform {platform} (available: {})", available.join(", ")),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_chart_is_rejected() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:aa","size":1},
            "layers":[{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"sha256:bb","size":2}]}"#;
        let Manifest::Image(m) = parse_manifest(m, Some(media_types::OCI_MANIFEST)).unwrap() else { panic!() };
        let err = m.ensure_is_image().unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotAnImage);
        assert!(err.message.contains("helm"), "{err}");
    }

    #[test]
    fn cosign_signature_is_rejected() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aa","size":1},
            "layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:bb","size":2}]}"#;
        let Manifest::Image(m) = parse_manifest(m, None).unwrap() else { panic!() };
        assert_eq!(m.ensure_is_image().unwrap_err().kind, ErrorKind::NotAnImage);
    }

    #[test]
    fn index_is_detected_without_content_type() {
        let m = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "digest":"sha256:aa","size":1,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1,
            "platform":{"architecture":"amd64","os":"linux"}}]}"#;
        let Manifest::Index(i) = parse_manifest(m, None).unwrap() else { panic!() };
        assert_eq!(i.select(&"linux/amd64".parse().unwrap()).unwrap().digest, "sha256:bb");
        assert_eq!(i.select(&"linux/arm64".parse().unwrap()).unwrap().digest, "sha256:aa");
        let err = i.select(&"linux/s390x".parse().unwrap()).unwrap_err();
        assert!(err.message.contains("linux/arm64/v8"), "{err}");
    }

    #[test]
    fn schema1_is_refused_with_reason() {
        let err = parse_manifest(br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#, None).unwrap_err();
        assert!(err.message.contains("schema 1"));
    }
}
