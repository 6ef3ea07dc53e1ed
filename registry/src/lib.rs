//! Strata's registry source: the async adapter between an OCI/Docker registry and the synchronous engine.
//!
//! It resolves an image reference (`alpine`, `ghcr.io/org/app:1.2`, `localhost:5000/app@sha256:…`) into a
//! [`ResolvedImage`](strata_scanner::image::ResolvedImage): it authenticates (anonymous, basic, an identity
//! token, or a bearer token obtained through the registry's `WWW-Authenticate` challenge), fetches the
//! manifest, selects the requested platform from an index, refuses artifacts that are not container images,
//! and fetches and verifies the config. It then streams layer blobs on demand
//! ([`RegistryClient::open_blob`]); the engine analyses them on a blocking thread through
//! [`blocking_reader`].
//!
//! Registry names are untrusted input (docs/security.md): a registry outside the [`AllowList`] is refused
//! before a connection is opened; credentials are keyed by registry host and go to nothing else (not to a
//! token realm on another host, not across a redirect, never over plain HTTP except to loopback);
//! link-local and metadata addresses are never contacted ([`policy`]); every answer but a layer blob is
//! read bounded; upstream failures are reported as status and error code, never as their body.
//!
//! For images it is not a puller: it writes nothing to disk, keeps no cache and does not verify layer digests (the
//! engine does, while decompressing). Manifest parsing and platform selection are the engine's
//! ([`strata_scanner::image`]), so every image source agrees on them.
//!
//! [`Catalog`] lists what a registry holds (repositories, tags, the digest each tag points at) for the
//! fleet's registry sweeps, with its own auth challenge handling (catalog-scoped bearer tokens) and rate-limit
//! waits ([`RetryPolicy`]).
//!
//! [`RegistryClient::push_artifact`] and [`RegistryClient::artifact_manifest`] publish and read single-file
//! OCI artifacts (the vulnerability DB), under the same rules.
//!
//! TLS is rustls with the ring provider only; [`RegistryClient::new`] installs it as the process default if
//! the caller has not installed one.

mod artifact;
mod auth;
mod catalog;
mod challenge;
mod client;
mod docker;
mod error;
mod link;
pub mod policy;
mod realm;
mod reference;
mod throttle;
mod transport;

pub use artifact::{Artifact, ArtifactDescriptor, NewArtifact, OCI_MANIFEST, parse_artifact_manifest};
pub use auth::CredentialSources;
pub use catalog::{Catalog, CatalogOptions};
/// Public for the fuzz target over `WWW-Authenticate` values (fuzz/services/fuzz_targets/www_authenticate.rs).
pub use challenge::{Challenge, parse as parse_challenge};
pub use client::{MAX_MANIFEST_BYTES, RegistryClient, RegistryOptions, registry_of, repository_of};
pub use error::{RegistryError, error_chain};
pub use policy::AllowList;
pub use reference::is_repository_name;
pub use throttle::{RetryPolicy, retry_after};

/// Turns a blob stream from [`RegistryClient::open_blob`] into a blocking [`std::io::Read`] for the engine.
///
/// Call it on a Tokio runtime thread (it captures the current runtime's handle, and panics without one),
/// then move the reader into `tokio::task::spawn_blocking` and read it there. Never read it on a runtime
/// worker thread: each read blocks the thread until the network delivers, and panics when it finds itself
/// inside the runtime.
pub fn blocking_reader<R>(reader: R) -> impl std::io::Read + Send
where
    R: tokio::io::AsyncRead + Send + Unpin,
{
    tokio_util::io::SyncIoBridge::new(reader)
}
