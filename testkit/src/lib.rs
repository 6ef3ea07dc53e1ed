//! Strata's test sandbox, shared by every crate's integration tests (never a runtime dependency).
//!
//! It starts real services on 127.0.0.1 (a `docker-registry` per test, on its own port and storage) and
//! builds real OCI images from real content (a debootstrapped Debian root filesystem, real package
//! metadata), written as OCI layouts and pushed with `skopeo`, so every test exercises code that is not ours
//! on the other side of the wire.

pub mod debian;
pub mod defectdojo;
pub mod defectdojo_real;
pub mod fixtures;
pub mod fleet;
pub mod front;
pub mod hostile;
pub mod hostile_server;
pub mod http_proxy;
pub mod image;
pub mod osv_mirror;
pub mod otlp;
pub mod pki;
pub mod populate;
pub mod proxy;
pub mod registry;
pub mod services;
pub mod tarball;
pub mod token;

use sha2::Digest as _;

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
