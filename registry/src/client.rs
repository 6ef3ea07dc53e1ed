//! Resolving a reference to a [`ResolvedImage`] and opening layer blobs, over Strata's own
//! [`Transport`](crate::transport) (reqwest): every registry is checked against the allow-list before a
//! connection is opened, gets only its own credential, and every answer but a blob is read bounded.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt as _;
use reqwest::{Method, Url};
use sha2::Digest as _;
use strata_scanner::image::{
    Descriptor, ImageManifest, Manifest, Platform, ResolvedImage, media_types, parse_manifest,
};
use tokio::io::AsyncRead;
use tokio_util::io::StreamReader;

use crate::auth::{CredentialSources, CredentialStore, Credentials, Secret};
use crate::error::{Context, RegistryError, error_chain};
use crate::policy::{AllowList, GuardedResolver, SystemLookup};
use crate::reference::{self, is_loopback};
use crate::throttle::RetryPolicy;
use crate::transport::{Target, Transport, TransportSettings, read_capped};

/// The OCI distribution spec suggests registries accept manifests up to 4 MiB; nothing larger is read.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Image configs are a few KiB; the cap keeps a hostile registry from making us buffer gigabytes.
const MAX_CONFIG_BYTES: usize = 16 << 20;
/// A manifest or config that trickles in slower than this is abandoned (per-read timeouts alone would let
/// a hostile registry hold a scan for hours).
const SMALL_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// How to reach registries. `Debug` redacts the credentials.
#[derive(Clone, Default, Debug)]
pub struct RegistryOptions {
    /// Plain HTTP (never with credentials) for registries that are not loopback. Loopback registries
    /// (`localhost`, `127.0.0.1`, `[::1]`) always get plain HTTP; every other registry HTTPS unless set.
    pub insecure: bool,
    /// The platform to pick from a multi-platform index.
    pub platform: Platform,
    /// Where credentials come from; each is only ever sent to its own registry.
    pub credentials: CredentialSources,
    /// The registries that may be contacted, besides those `credentials` hold a credential for. Anything
    /// else is refused before a connection is opened. Empty by default.
    pub allowed: AllowList,
}

/// A registry client. Cheap to share by reference across tasks; it caches bearer tokens per repository.
pub struct RegistryClient {
    http: reqwest::Client,
    insecure: bool,
    platform: Platform,
    store: CredentialStore,
    allowed: AllowList,
    transports: tokio::sync::Mutex<HashMap<String, Arc<Transport>>>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("insecure", &self.insecure)
            .field("platform", &self.platform)
            .field("credentials", &self.store)
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

/// One reference's connection: the parsed reference and its registry's transport.
pub(crate) struct Session<'a> {
    pub(crate) given: &'a str,
    pub(crate) repository: String,
    pub(crate) reference: oci_client::Reference,
    pub(crate) transport: Arc<Transport>,
}

impl Session<'_> {
    fn context(&self, what: impl Into<String>) -> Context<'_> {
        Context { reference: self.given, what: what.into() }
    }

    pub(crate) fn scope(&self) -> String {
        format!("repository:{}:pull", self.repository)
    }

    pub(crate) fn url(&self, path: &str) -> Result<Url, RegistryError> {
        self.transport.base().join(&format!("v2/{}/{path}", self.repository)).map_err(|e| RegistryError::Invalid {
            reference: self.given.to_string(),
            message: format!("not a valid URL path: {e}"),
        })
    }
}

/// The HTTP client every registry request goes through: no automatic redirects (the transport follows
/// them, dropping credentials off the registry), the address-checking resolver, timeouts per phase.
pub(crate) fn http_client(request_timeout: Option<Duration>) -> Result<reqwest::Client, RegistryError> {
    // reqwest is built without a provider and panics on first use without one; ring is the only one
    // compiled in. An `Err` means a provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        // Per read, not per request: a slow multi-GB layer is fine, a stalled connection is not.
        .read_timeout(Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(GuardedResolver::new(SystemLookup))
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")));
    if let Some(timeout) = request_timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().map_err(|e| RegistryError::Invalid {
        reference: "registry client".into(),
        message: format!("cannot set up HTTP: {}", error_chain(&e)),
    })
}

/// The registry of a reference (`host[:port]`, `index.docker.io` for Docker Hub), as the allow-list and
/// the credentials are keyed.
pub fn registry_of(reference: &str) -> Result<String, RegistryError> {
    Ok(reference::parse(reference)?.resolve_registry().to_string())
}

/// `registry/name:tag` or `registry/name@sha256:…` → `registry/name`: where the layers' blobs live.
pub fn repository_of(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match (without_digest.rfind(':'), without_digest.rfind('/')) {
        (Some(colon), Some(slash)) if colon > slash => &without_digest[..colon],
        (Some(colon), None) => &without_digest[..colon],
        _ => without_digest,
    }
}

/// The URL a registry is reached at (`https://host/`, plain HTTP for loopback or `insecure`).
pub(crate) fn base_url(registry: &str, insecure: bool) -> Result<Url, RegistryError> {
    // Docker Hub's API lives on registry-1; its credentials are keyed index.docker.io.
    let host = if registry == "index.docker.io" { "registry-1.docker.io" } else { registry };
    let scheme = if insecure || is_loopback(host) { "http" } else { "https" };
    Url::parse(&format!("{scheme}://{host}/")).map_err(|e| RegistryError::Invalid {
        reference: registry.to_string(),
        message: format!("not a registry address: {e}"),
    })
}

impl RegistryClient {
    /// Loads credentials (a named Docker config or credentials file that is missing or malformed is an
    /// error) and builds the HTTP client. Installs rustls' ring provider as the process default if none is.
    pub fn new(options: RegistryOptions) -> Result<Self, RegistryError> {
        let store = CredentialStore::load(&options.credentials)?;
        let allowed = options.allowed.with_registries(store.registries());
        Ok(RegistryClient {
            http: http_client(None)?,
            insecure: options.insecure,
            platform: options.platform,
            store,
            allowed,
            transports: Default::default(),
        })
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The registries this client may contact.
    pub fn allowed(&self) -> &AllowList {
        &self.allowed
    }

    /// Refuses a reference whose registry is not allowed, before anything is contacted.
    pub fn check_allowed(&self, reference: &str) -> Result<String, RegistryError> {
        let registry = registry_of(reference)?;
        if self.allowed.allows(&registry) {
            Ok(registry)
        } else {
            Err(not_allowed(reference, &registry, &self.allowed))
        }
    }

    async fn transport(&self, registry: &str) -> Result<Arc<Transport>, RegistryError> {
        let mut transports = self.transports.lock().await;
        if let Some(t) = transports.get(registry) {
            return Ok(t.clone());
        }
        let credentials = self.store.for_registry(registry).await?;
        let transport = Arc::new(self.new_transport(registry, credentials)?);
        transports.insert(registry.to_string(), transport.clone());
        Ok(transport)
    }

    fn new_transport(&self, registry: &str, credentials: Credentials) -> Result<Transport, RegistryError> {
        let settings = TransportSettings {
            allowed: self.allowed.clone(),
            insecure: self.insecure,
            concurrency: 64,
            retry: RetryPolicy::default(),
        };
        Ok(Transport::new(
            registry.to_string(),
            base_url(registry, self.insecure)?,
            self.http.clone(),
            credentials,
            settings,
        ))
    }

    pub(crate) async fn session<'a>(&self, given: &'a str, token: Option<&str>) -> Result<Session<'a>, RegistryError> {
        let registry = self.check_allowed(given)?;
        let reference = reference::parse(given)?;
        let transport = match token {
            // A token lent for this one blob: the only credential used, never this client's own.
            Some(token) => Arc::new(self.new_transport(
                &registry,
                Credentials {
                    secret: Secret::Bearer(token.to_string()),
                    description: "credentials were sent: the pull token lent for this scan".into(),
                    token_hosts: Vec::new(),
                },
            )?),
            None => self.transport(&registry).await?,
        };
        tracing::debug!(reference = given, registry, credentials = %transport.credentials.description, "registry session");
        Ok(Session { given, repository: reference.repository().to_string(), reference, transport })
    }

    /// Fetches the manifest (selecting [`RegistryOptions::platform`] from an index), rejects artifacts that
    /// are not images, fetches and verifies the config, and pairs layers with their history.
    /// `manifest_digest` is the selected image manifest's digest, never the index's.
    pub async fn resolve(&self, reference: &str) -> Result<ResolvedImage, RegistryError> {
        let s = self.session(reference, None).await?;
        let (what, tag_or_digest) = match s.reference.digest() {
            Some(digest) => (format!("manifest {digest}"), digest.to_string()),
            None => {
                let tag = s.reference.tag().unwrap_or("latest").to_string();
                (format!("tag {tag}"), tag)
            }
        };
        let (manifest, digest) = match self.fetch_manifest(&s, &tag_or_digest, &what, None).await {
            Ok(found) => found,
            Err(e @ RegistryError::NotFound { .. }) => return Err(self.missing_repository(&s).await.unwrap_or(e)),
            Err(e) => return Err(e),
        };
        let (manifest, digest) = match manifest {
            Manifest::Image(m) => (m, digest),
            Manifest::Index(index) => {
                let what = format!("index {digest}");
                let chosen = index.select(&self.platform).map_err(|e| s.context(what.clone()).classify_engine(e))?;
                tracing::debug!(reference, platform = %self.platform, digest = %chosen.digest, "selected from index");
                let what = format!("manifest {} (for {} in {what})", chosen.digest, self.platform);
                match self.fetch_manifest(&s, &chosen.digest, &what, Some(&chosen.media_type)).await? {
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

    /// A live pull-scoped token for `reference`'s repository obtained while resolving it, if the registry
    /// issued one (bearer-token registries do; basic-auth ones do not).
    pub async fn pull_token(&self, reference: &str) -> Result<Option<String>, RegistryError> {
        let s = self.session(reference, None).await?;
        Ok(s.transport.token(&s.scope()))
    }

    /// Streams a blob of `image_ref`'s repository. The digest is not checked here: the engine hashes the
    /// bytes as it decompresses them.
    pub async fn open_blob(
        &self,
        image_ref: &str,
        descriptor: &Descriptor,
    ) -> Result<impl AsyncRead + Send + Unpin + 'static, RegistryError> {
        self.blob(image_ref, descriptor, None).await
    }

    /// As [`open_blob`](Self::open_blob), presenting only `token` (a pull token lent for one scan), never
    /// this client's own credentials.
    pub async fn open_blob_with_token(
        &self,
        image_ref: &str,
        descriptor: &Descriptor,
        token: &str,
    ) -> Result<impl AsyncRead + Send + Unpin + 'static, RegistryError> {
        self.blob(image_ref, descriptor, Some(token)).await
    }

    async fn blob(
        &self,
        image_ref: &str,
        descriptor: &Descriptor,
        token: Option<&str>,
    ) -> Result<impl AsyncRead + Send + Unpin + 'static, RegistryError> {
        let s = self.session(image_ref, token).await?;
        let digest = descriptor.digest.clone();
        let (what, scope) = (format!("blob {digest}"), s.scope());
        let target = Target { subject: s.given, what: &what, scope: &scope };
        let response = s.transport.send(Method::GET, &s.url(&format!("blobs/{digest}"))?, &target, None).await?;
        let prefix = format!("{image_ref}: blob {digest}");
        let stream =
            response.bytes_stream().map_err(move |e| std::io::Error::other(format!("{prefix}: {}", error_chain(&e))));
        Ok(StreamReader::new(stream))
    }

    /// GETs a manifest, bounded to [`MAX_MANIFEST_BYTES`], and checks it against the digest it was asked
    /// by and the one the registry claims.
    /// Distribution answers MANIFEST_UNKNOWN for a tag of a repository that does not exist; its tag list
    /// says NAME_UNKNOWN then, so a missing repository is not reported as a missing tag.
    async fn missing_repository(&self, s: &Session<'_>) -> Option<RegistryError> {
        let scope = s.scope();
        let target = Target { subject: s.given, what: "the tag list", scope: &scope };
        let url = s.url("tags/list?n=1").ok()?;
        match s.transport.send(Method::GET, &url, &target, None).await {
            Err(e @ RegistryError::NotFound { .. }) if e.to_string().contains("repository ") => Some(e),
            _ => None,
        }
    }

    async fn fetch_manifest(
        &self,
        s: &Session<'_>,
        tag_or_digest: &str,
        what: &str,
        media_type: Option<&str>,
    ) -> Result<(Manifest, String), RegistryError> {
        let scope = s.scope();
        let target = Target { subject: s.given, what, scope: &scope };
        let accept = media_types::ACCEPT_MANIFESTS.join(", ");
        let url = s.url(&format!("manifests/{tag_or_digest}"))?;
        let bytes = tokio::time::timeout(SMALL_READ_TIMEOUT, async {
            let response = s.transport.send(Method::GET, &url, &target, Some(&accept)).await?;
            let claimed = response
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string());
            Ok::<_, RegistryError>((read_capped(response, MAX_MANIFEST_BYTES, &target).await?, claimed))
        })
        .await
        .map_err(|_| s.context(what).timed_out(SMALL_READ_TIMEOUT))?;
        let (bytes, claimed) = bytes?;
        let actual = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
        let expected = if tag_or_digest.contains(':') { Some(tag_or_digest.to_string()) } else { claimed };
        let digest = match expected {
            Some(expected) if expected.starts_with("sha256:") && expected != actual => {
                return Err(RegistryError::DigestMismatch { reference: s.given.to_string(), expected, actual });
            }
            Some(expected) if expected.contains(':') => expected,
            _ => actual,
        };
        let manifest = parse_manifest(&bytes, media_type.filter(|m| !m.is_empty()))
            .map_err(|e| s.context(format!("{what} ({digest})")).classify_engine(e))?;
        Ok((manifest, digest))
    }

    async fn fetch_config(&self, s: &Session<'_>, manifest: &ImageManifest) -> Result<Vec<u8>, RegistryError> {
        let digest = manifest.config.digest.as_str();
        let what = format!("config {digest}");
        if usize::try_from(manifest.config.size).is_ok_and(|size| size > MAX_CONFIG_BYTES) {
            return Err(RegistryError::Protocol {
                reference: s.given.to_string(),
                message: format!("{what} is larger than {MAX_CONFIG_BYTES} bytes"),
            });
        }
        let scope = s.scope();
        let target = Target { subject: s.given, what: &what, scope: &scope };
        let url = s.url(&format!("blobs/{digest}"))?;
        let bytes = tokio::time::timeout(SMALL_READ_TIMEOUT, async {
            let response = s.transport.send(Method::GET, &url, &target, None).await?;
            read_capped(response, MAX_CONFIG_BYTES, &target).await
        })
        .await
        .map_err(|_| s.context(what.clone()).timed_out(SMALL_READ_TIMEOUT))??;
        // The engine trusts this blob's contents: check it.
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

pub(crate) fn not_allowed(reference: &str, registry: &str, allowed: &AllowList) -> RegistryError {
    RegistryError::NotAllowed {
        reference: reference.to_string(),
        message: format!(
            "the registry {registry} is not an allowed registry (allowed: {}; set STRATA_ALLOWED_REGISTRIES), \
             so it was not contacted",
            allowed.describe()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories() {
        for (reference, repo) in [
            ("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app"),
            ("127.0.0.1:5000/team/app@sha256:abc", "127.0.0.1:5000/team/app"),
            ("127.0.0.1:5000/app", "127.0.0.1:5000/app"),
            ("debian:11", "debian"),
            ("registry.example.com/a/b:tag@sha256:abc", "registry.example.com/a/b"),
        ] {
            assert_eq!(repository_of(reference), repo);
        }
    }

    #[test]
    fn options_debug_redacts_credentials() {
        let options = RegistryOptions {
            credentials: CredentialSources {
                username: Some("alice".into()),
                password: Some("hunter2".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let text = format!("{options:?}");
        assert!(!text.contains("alice") && !text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn refused_before_any_connection() {
        let client = RegistryClient::new(RegistryOptions {
            allowed: AllowList::parse("127.0.0.1:5000").unwrap(),
            credentials: CredentialSources { docker_config: Some("/dev/null/none".into()), ..Default::default() },
            ..Default::default()
        });
        // A named Docker config that does not exist is an error; without one the client builds.
        assert!(client.is_err());
        let client = RegistryClient {
            allowed: AllowList::parse("127.0.0.1:5000").unwrap(),
            ..RegistryClient::new(RegistryOptions::default()).unwrap()
        };
        assert!(client.check_allowed("127.0.0.1:5000/app:1").is_ok());
        for refused in ["127.0.0.1:6379/x:1", "evil.example/app:1", "alpine"] {
            let err = client.check_allowed(refused).unwrap_err();
            assert!(matches!(err, RegistryError::NotAllowed { .. }), "{err}");
        }
    }

    #[test]
    fn base_urls() {
        assert_eq!(base_url("index.docker.io", false).unwrap().as_str(), "https://registry-1.docker.io/");
        assert_eq!(base_url("127.0.0.1:5000", false).unwrap().as_str(), "http://127.0.0.1:5000/");
        assert_eq!(base_url("r.example:5000", true).unwrap().as_str(), "http://r.example:5000/");
        assert_eq!(base_url("r.example", false).unwrap().as_str(), "https://r.example/");
    }
}
