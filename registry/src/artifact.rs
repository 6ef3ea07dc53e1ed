//! Single-file OCI artifacts (OCI 1.1: an image manifest with an `artifactType`, the empty config and one
//! layer holding the file), pushed and pulled with the same transport, allow-list and credential handling
//! as image pulls: a credential goes only to its own registry. What the file is and what its annotations
//! say is the caller's business (the vulnerability DB is one).
//!
//! Pulling is in two steps so that a caller can stop early: [`RegistryClient::artifact_manifest`] resolves
//! a tag to its manifest digest and the file's descriptor (one small bounded read), and
//! [`RegistryClient::fetch_artifact_file`] reads the file bounded by a size cap and checks its digest.

use std::collections::BTreeMap;

use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};
use strata_scanner::source::sha256_digest as sha256;

use crate::client::{MAX_MANIFEST_BYTES, RegistryClient, Session};
use crate::error::{RegistryError, error_chain};
use crate::transport::{Target, Upload, read_capped};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI empty descriptor's content (`{}`), the config of an artifact that has none.
const EMPTY_CONFIG: &[u8] = b"{}";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// A blob upload's answer and an artifact manifest are small; an upload's own error bodies are read by
/// the transport.
const SMALL_ANSWER_BYTES: usize = 64 << 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactDescriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ManifestJson {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(rename = "artifactType", default, skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    config: ArtifactDescriptor,
    layers: Vec<ArtifactDescriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// An artifact as a registry holds it: its manifest digest, the file's descriptor, the annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `sha256:…` of the manifest: what a replica pulls by and compares.
    pub digest: String,
    pub artifact_type: String,
    pub file: ArtifactDescriptor,
    pub annotations: BTreeMap<String, String>,
}

/// What to push: one file, its media types and the manifest annotations.
pub struct NewArtifact<'a> {
    pub artifact_type: &'a str,
    pub file_media_type: &'a str,
    pub file_name: &'a str,
    pub file: &'a [u8],
    pub annotations: BTreeMap<String, String>,
}

fn protocol(reference: &str, message: String) -> RegistryError {
    RegistryError::Protocol { reference: reference.to_string(), message }
}

/// A registry's answer for `what` of `reference` (bytes it controls) read as a single-file artifact of
/// `artifact_type`; the digest is that of `bytes`.
pub fn parse_artifact_manifest(
    reference: &str,
    what: &str,
    bytes: &[u8],
    artifact_type: &str,
) -> Result<Artifact, RegistryError> {
    let manifest: ManifestJson = serde_json::from_slice(bytes)
        .map_err(|e| protocol(reference, format!("{what} is not an OCI manifest: {e}")))?;
    let found = manifest.artifact_type.clone().unwrap_or_else(|| manifest.config.media_type.clone());
    if found != artifact_type {
        return Err(RegistryError::NotFound {
            reference: reference.into(),
            message: format!("{what} is a {found}, not a {artifact_type} artifact"),
        });
    }
    let [file] = <[ArtifactDescriptor; 1]>::try_from(manifest.layers)
        .map_err(|layers| protocol(reference, format!("{what} has {} files, not one", layers.len())))?;
    Ok(Artifact { digest: sha256(bytes), artifact_type: found, file, annotations: manifest.annotations })
}

impl RegistryClient {
    /// Pushes `artifact` to `reference` (`registry/repository:tag`): the file and the empty config as blobs
    /// (skipped when the registry has them), then the manifest under the tag. Returns the manifest digest.
    pub async fn push_artifact(&self, reference: &str, artifact: &NewArtifact<'_>) -> Result<String, RegistryError> {
        let s = self.session(reference, None).await?;
        let tag = s.reference.tag().unwrap_or("latest").to_string();
        if s.reference.digest().is_some() {
            return Err(RegistryError::Invalid {
                reference: reference.to_string(),
                message: "push to a tag (registry/repository:tag), not a digest".into(),
            });
        }
        let scope = format!("repository:{}:pull,push", s.repository);
        let file = ArtifactDescriptor {
            media_type: artifact.file_media_type.to_string(),
            digest: sha256(artifact.file),
            size: artifact.file.len() as u64,
            data: None,
            annotations: [("org.opencontainers.image.title".to_string(), artifact.file_name.to_string())].into(),
        };
        let config = ArtifactDescriptor {
            media_type: EMPTY_MEDIA_TYPE.into(),
            digest: sha256(EMPTY_CONFIG),
            size: EMPTY_CONFIG.len() as u64,
            data: Some("e30=".into()),
            annotations: BTreeMap::new(),
        };
        self.upload_blob(&s, &scope, EMPTY_CONFIG, &config.digest).await?;
        self.upload_blob(&s, &scope, artifact.file, &file.digest).await?;
        let manifest = ManifestJson {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: Some(artifact.artifact_type.into()),
            config,
            layers: vec![file],
            annotations: artifact.annotations.clone(),
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| protocol(reference, format!("manifest: {e}")))?;
        let what = format!("manifest {tag}");
        let target = Target { subject: s.given, what: &what, scope: &scope };
        let upload = Upload { bytes: &bytes, content_type: OCI_MANIFEST };
        s.transport.send_body(Method::PUT, &s.url(&format!("manifests/{tag}"))?, &target, None, Some(&upload)).await?;
        Ok(sha256(&bytes))
    }

    /// A monolithic upload (POST, then PUT with the digest), unless the registry has the blob already.
    async fn upload_blob(&self, s: &Session<'_>, scope: &str, bytes: &[u8], digest: &str) -> Result<(), RegistryError> {
        let what = format!("blob {digest}");
        let target = Target { subject: s.given, what: &what, scope };
        match s.transport.send(Method::HEAD, &s.url(&format!("blobs/{digest}"))?, &target, None).await {
            Ok(_) => return Ok(()),
            Err(RegistryError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let started = s.transport.send(Method::POST, &s.url("blobs/uploads/")?, &target, None).await?;
        let location = started
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| protocol(s.given, format!("{what}: the upload was started without a Location")))?;
        drop(read_capped(started, SMALL_ANSWER_BYTES, &target).await);
        let mut url: Url = s
            .transport
            .base()
            .join(&location)
            .map_err(|e| protocol(s.given, format!("{what}: the upload Location is not a URL: {e}")))?;
        // The same rule as for a redirected upload: the file goes to the registry it was pushed to, or nowhere.
        if url.origin() != s.transport.base().origin() {
            return Err(protocol(s.given, format!("{what}: the registry named an upload location off its own origin")));
        }
        url.query_pairs_mut().append_pair("digest", digest);
        let upload = Upload { bytes, content_type: "application/octet-stream" };
        s.transport.send_body(Method::PUT, &url, &target, None, Some(&upload)).await?;
        Ok(())
    }

    /// The artifact `reference` names (a tag or a digest): its manifest read bounded and checked against
    /// the digest it was asked by. Refuses a manifest that is not a single-file artifact of `artifact_type`.
    pub async fn artifact_manifest(&self, reference: &str, artifact_type: &str) -> Result<Artifact, RegistryError> {
        let s = self.session(reference, None).await?;
        let tag_or_digest = match s.reference.digest() {
            Some(digest) => digest.to_string(),
            None => s.reference.tag().unwrap_or("latest").to_string(),
        };
        let (what, scope) = (format!("manifest {tag_or_digest}"), s.scope());
        let target = Target { subject: s.given, what: &what, scope: &scope };
        let response = s
            .transport
            .send(Method::GET, &s.url(&format!("manifests/{tag_or_digest}"))?, &target, Some(OCI_MANIFEST))
            .await?;
        let bytes = read_capped(response, MAX_MANIFEST_BYTES, &target).await?;
        let artifact = parse_artifact_manifest(reference, &what, &bytes, artifact_type)?;
        if tag_or_digest.starts_with("sha256:") && tag_or_digest != artifact.digest {
            return Err(RegistryError::DigestMismatch {
                reference: reference.into(),
                expected: tag_or_digest,
                actual: artifact.digest,
            });
        }
        Ok(artifact)
    }

    /// Reads the artifact's file, refusing one larger than `cap` bytes (by its descriptor and while
    /// reading) and one whose bytes do not hash to the descriptor's digest.
    pub async fn fetch_artifact_file(
        &self,
        reference: &str,
        artifact: &Artifact,
        cap: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let file = &artifact.file;
        if file.size > cap {
            return Err(protocol(
                reference,
                format!("the artifact's file is {} bytes, over the cap of {cap}", file.size),
            ));
        }
        if !file.digest.starts_with("sha256:") {
            return Err(protocol(reference, format!("the artifact's file has a {} digest, not sha256", file.digest)));
        }
        let s = self.session(reference, None).await?;
        let (what, scope) = (format!("blob {}", file.digest), s.scope());
        let target = Target { subject: s.given, what: &what, scope: &scope };
        let response = s.transport.send(Method::GET, &s.url(&format!("blobs/{}", file.digest))?, &target, None).await?;
        let cap =
            usize::try_from(file.size).map_err(|e| protocol(reference, format!("{what}: {}", error_chain(&e))))?;
        let bytes = read_capped(response, cap, &target).await?;
        // Up to the cap (gigabytes) of hashing: off the async runtime.
        let (bytes, actual) = tokio::task::spawn_blocking(move || {
            let actual = sha256(&bytes);
            (bytes, actual)
        })
        .await
        .map_err(|e| protocol(reference, format!("{what}: hashing: {e}")))?;
        if actual != file.digest {
            return Err(RegistryError::DigestMismatch {
                reference: reference.into(),
                expected: file.digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }
}
