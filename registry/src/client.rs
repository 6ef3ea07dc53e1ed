//! Resolving a reference to a [`ResolvedImage`] and opening layer blobs, over oci-client.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{StreamExt as _, TryStreamExt as _};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::DigestError;
use oci_client::{Client, Reference};
use sha2::Digest as _;
use strata_scanner::image::{
    Descriptor, ImageManifest, Manifest, Platform, ResolvedImage, media_types, parse_manifest,
};
use tokio::io::AsyncRead;
use tokio_util::io::StreamReader;

use crate::auth::{CredentialStore, Credentials};
use crate::error::{Context, RegistryError, error_chain};
use crate::reference;

/// Image configs are a few KiB; the cap keeps a hostile registry from making us buffer gigabytes.
const MAX_CONFIG_BYTES: usize = 16 << 20;

/// How to reach registries. `Debug` redacts the credentials.
#[derive(Clone, Default)]
pub struct RegistryOptions {
    /// Plain HTTP for every registry. Loopback registries (`localhost`, `127.0.0.1`, `[::1]`) always get
    /// plain HTTP; every other registry gets HTTPS unless this is set.
    pub insecure: bool,
    /// The platform to pick from a multi-platform index.
    pub platform: Platform,
    /// A Docker `config.json` (or the directory holding it) to take `auths` credentials from. Without it,
    /// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` is used if present.
    pub docker_config: Option<PathBuf>,
    /// Sent to every registry when given, ahead of any Docker config entry. Give both or neither.
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("RegistryOptions")
            .field("insecure", &self.insecure)
            .field("platform", &self.platform)
            .field("docker_config", &self.docker_config)
            .field("username", &redact(&self.username))
            .field("password", &redact(&self.password))
            .finish()
    }
}

/// A registry client. Cheap to share by reference across tasks; it caches bearer tokens per repository.
pub struct RegistryClient {
    /// HTTPS for remote registries (plain HTTP when `insecure`).
    remote: Client,
    /// Plain HTTP, for loopback registries.
    loopback: Client,
    insecure: bool,
    platform: Platform,
    credentials: CredentialStore,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("insecure", &self.insecure)
            .field("platform", &self.platform)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// One reference's connection: the parsed reference, the client for its registry and its credentials.
struct Session<'a> {
    given: &'a str,
    reference: Reference,
    client: &'a Client,
    credentials: Credentials,
}

impl Session<'_> {
    fn context(&self, what: impl Into<String>) -> Context<'_> {
        Context { reference: self.given, what: what.into(), credentials: &self.credentials.description }
    }
}

impl RegistryClient {
    /// Loads credentials (a named Docker config that is missing or malformed is an error) and builds the
    /// HTTP clients. Installs rustls' ring provider as the process default if none is installed yet.
    pub fn new(options: RegistryOptions) -> Result<Self, RegistryError> {
        // reqwest is built without a provider and panics on first use without one; ring is the only one
        // compiled in. An `Err` means a provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let credentials = CredentialStore::load(
            options.username.as_deref(),
            options.password.as_deref(),
            options.docker_config.as_deref(),
        )?;
        let remote = if options.insecure { ClientProtocol::Http } else { ClientProtocol::Https };
        Ok(RegistryClient {
            remote: build_client(remote)?,
            loopback: build_client(ClientProtocol::Http)?,
            insecure: options.insecure,
            platform: options.platform,
            credentials,
        })
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    fn session<'a>(&'a self, given: &'a str) -> Result<Session<'a>, RegistryError> {
        let reference = reference::parse(given)?;
        let registry = reference.resolve_registry();
        let client = if reference::is_loopback(registry) { &self.loopback } else { &self.remote };
        let credentials = self.credentials.for_registry(registry);
        tracing::debug!(reference = given, registry, credentials = %credentials.description, "registry session");
        Ok(Session { given, reference, client, credentials })
    }

    /// Fetches the manifest (selecting [`RegistryOptions::platform`] from an index), rejects artifacts that
    /// are not images, fetches and verifies the config, and pairs layers with their history.
    /// `manifest_digest` is the selected image manifest's digest, never the index's.
    pub async fn resolve(&self, reference: &str) -> Result<ResolvedImage, RegistryError> {
        let s = self.session(reference)?;
        let what = match s.reference.digest() {
            Some(digest) => format!("manifest {digest}"),
            None => format!("tag {}", s.reference.tag().unwrap_or("latest")),
        };
        let (manifest, digest) = self.fetch_manifest(&s, &s.reference, &what, None).await?;
        let (manifest, digest) = match manifest {
            Manifest::Image(m) => (m, digest),
            Manifest::Index(index) => {
                let what = format!("index {digest}");
                let chosen = index.select(&self.platform).map_err(|e| s.context(what.clone()).classify_engine(e))?;
                tracing::debug!(reference, platform = %self.platform, digest = %chosen.digest, "selected from index");
                let child = s.reference.clone_with_digest(chosen.digest.clone());
                let what = format!("manifest {} (for {} in {what})", chosen.digest, self.platform);
                match self.fetch_manifest(&s, &child, &what, Some(&chosen.media_type)).await? {
                    (Manifest::Image(m), digest) => (m, digest),
                    (Manifest::Index(_), _) => {
                        return Err(RegistryError::Protocol {
                            reference: reference.to_string(),
                            message: format!("{what} is another index; nested indexes are not supported"),
                        });
                    }
                }
            }
        };
        let what = format!("manifest {digest}");
        manifest.ensure_is_image().map_err(|e| s.context(what.clone()).classify_engine(e))?;
        let config = self.fetch_config(&s, &manifest).await?;
        ResolvedImage::new(reference, digest.clone(), &manifest, &config)
            .map_err(|e| s.context(what).classify_engine(e))
    }

    /// Streams a blob of `image_ref`'s repository. The digest is not checked here: the engine hashes the
    /// bytes as it decompresses them. (oci-client also checks it at end of stream; a mismatch it finds
    /// surfaces as an `InvalidData` read error.)
    pub async fn open_blob(
        &self,
        image_ref: &str,
        descriptor: &Descriptor,
    ) -> Result<impl AsyncRead + Send + Unpin + 'static, RegistryError> {
        let s = self.session(image_ref)?;
        let digest = descriptor.digest.clone();
        let cx = s.context(format!("blob {digest}"));
        s.client.store_auth_if_needed(s.reference.resolve_registry(), &s.credentials.auth).await;
        let stream = s.client.pull_blob_stream(&s.reference, digest.as_str()).await.map_err(|e| cx.classify(e))?;
        let prefix = format!("{image_ref}: blob {digest}");
        Ok(StreamReader::new(stream.map_err(move |e| annotate_read_error(&prefix, e))))
    }

    async fn fetch_manifest(
        &self,
        s: &Session<'_>,
        reference: &Reference,
        what: &str,
        media_type: Option<&str>,
    ) -> Result<(Manifest, String), RegistryError> {
        let (bytes, digest) = s
            .client
            .pull_manifest_raw(reference, &s.credentials.auth, media_types::ACCEPT_MANIFESTS)
            .await
            .map_err(|e| s.context(what).classify(e))?;
        // `digest` is the registry's Docker-Content-Digest once oci-client has checked it against the bytes
        // (and against the reference's digest, if any), or the bytes' sha256 when the registry sent none.
        // oci-client does not hand back the Content-Type, so the descriptor's media type (for a manifest
        // picked from an index) or the JSON itself decides what this is.
        let manifest = parse_manifest(&bytes, media_type.filter(|m| !m.is_empty()))
            .map_err(|e| s.context(format!("{what} ({digest})")).classify_engine(e))?;
        Ok((manifest, digest))
    }

    async fn fetch_config(&self, s: &Session<'_>, manifest: &ImageManifest) -> Result<Vec<u8>, RegistryError> {
        let digest = manifest.config.digest.as_str();
        let cx = s.context(format!("config {digest}"));
        let too_big = || RegistryError::Protocol {
            reference: s.given.to_string(),
            message: format!("config {digest} is larger than {MAX_CONFIG_BYTES} bytes"),
        };
        if usize::try_from(manifest.config.size).is_ok_and(|size| size > MAX_CONFIG_BYTES) {
            return Err(too_big());
        }
        let mut stream = s.client.pull_blob_stream(&s.reference, digest).await.map_err(|e| cx.classify(e))?;
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| match into_digest_error(e) {
                Ok((expected, actual)) => {
                    RegistryError::DigestMismatch { reference: s.given.to_string(), expected, actual }
                }
                Err(e) => RegistryError::Network {
                    reference: s.given.to_string(),
                    message: format!("config {digest}: {}", error_chain(&e)),
                },
            })?;
            if bytes.len() + chunk.len() > MAX_CONFIG_BYTES {
                return Err(too_big());
            }
            bytes.extend_from_slice(&chunk);
        }
        // oci-client verified it too, but only as a side effect of streaming to the end; the engine trusts
        // this blob's contents, so check explicitly.
        if let Some(hex) = digest.strip_prefix("sha256:") {
            let actual = hex::encode(sha2::Sha256::digest(&bytes));
            if !actual.eq_ignore_ascii_case(hex) {
                return Err(RegistryError::DigestMismatch {
                    reference: s.given.to_string(),
                    expected: digest.to_string(),
                    actual: format!("sha256:{actual}"),
                });
            }
        }
        Ok(bytes)
    }
}

fn build_client(protocol: ClientProtocol) -> Result<Client, RegistryError> {
    let config = ClientConfig {
        protocol,
        // We select platforms ourselves, from raw manifests.
        platform_resolver: None,
        connect_timeout: Some(Duration::from_secs(30)),
        // Per read, not per request: a slow multi-GB layer is fine, a stalled connection is not.
        read_timeout: Some(Duration::from_secs(120)),
        user_agent: concat!("strata/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    };
    Client::try_from(config).map_err(|e| RegistryError::Invalid {
        reference: "registry client".into(),
        message: format!("cannot set up HTTP: {}", error_chain(&e)),
    })
}

/// oci-client reports a digest mismatch at end of stream as `io::Error::other(DigestError)`.
fn into_digest_error(e: std::io::Error) -> Result<(String, String), std::io::Error> {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<DigestError>()) {
        Some(DigestError::VerificationError { expected, actual }) => Ok((expected.clone(), actual.clone())),
        _ => Err(e),
    }
}

/// Read errors reach the engine as `io::Error`s; name the image and blob in them.
fn annotate_read_error(prefix: &str, e: std::io::Error) -> std::io::Error {
    match into_digest_error(e) {
        Ok((expected, actual)) => std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{prefix}: digest mismatch: expected {expected}, got {actual}"),
        ),
        Err(e) => std::io::Error::new(e.kind(), format!("{prefix}: {}", error_chain(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_stream_digest_errors_become_invalid_data_naming_the_blob() {
        let mismatch = DigestError::VerificationError { expected: "sha256:aa".into(), actual: "sha256:bb".into() };
        let err = annotate_read_error("r/app:1: blob sha256:aa", std::io::Error::other(mismatch));
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(err.to_string(), "r/app:1: blob sha256:aa: digest mismatch: expected sha256:aa, got sha256:bb");

        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let err = annotate_read_error("r/app:1: blob sha256:aa", reset);
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
        assert!(err.to_string().starts_with("r/app:1: blob sha256:aa: reset"), "{err}");
    }

    #[test]
    fn options_debug_redacts_credentials() {
        let options =
            RegistryOptions { username: Some("alice".into()), password: Some("hunter2".into()), ..Default::default() };
        let text = format!("{options:?}");
        assert!(!text.contains("alice") && !text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
