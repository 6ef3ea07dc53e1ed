//! Image sources that are plain files: OCI image layout directories and docker-archive tarballs.
//! Both hand out blobs as `Read` streams; the registry source (crate `strata-registry`) does the same
//! over HTTP. Whatever the source, the engine verifies each blob against its digest as it reads it.

pub mod docker_archive;
pub mod oci_layout;

use std::io::Read;

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::image::{Descriptor, ImageManifest, Manifest, Platform, ResolvedImage, parse_manifest};

pub use docker_archive::DockerArchive;
pub use oci_layout::OciLayout;

/// Manifests and configs are small; a "manifest" of more than this is not one, and reading it whole
/// would let bad input exhaust memory.
pub const MAX_METADATA_BLOB: u64 = 16 * 1024 * 1024;

/// Reads a small metadata blob whole, with a cap, and verifies its digest.
pub(crate) fn read_verified(mut reader: impl Read, digest: &str, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    (&mut reader)
        .take(MAX_METADATA_BLOB + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::with_source(ErrorKind::Io, format!("reading {what} {digest}"), e))?;
    if bytes.len() as u64 > MAX_METADATA_BLOB {
        return Err(Error::new(ErrorKind::Parse, format!("{what} {digest} is larger than {MAX_METADATA_BLOB} bytes")));
    }
    let actual = sha256_digest(&bytes);
    crate::layer::verify(digest, &actual).map_err(|e| e.context(what))?;
    Ok(bytes)
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Follows a manifest-or-index descriptor down to an image for `platform`, fetching blobs with `fetch`.
pub(crate) fn resolve_descriptor(
    name: &str,
    descriptor: &Descriptor,
    platform: &Platform,
    fetch: &dyn Fn(&str, &str) -> Result<Vec<u8>>,
) -> Result<ResolvedImage> {
    let bytes = fetch(&descriptor.digest, "manifest")?;
    let manifest = parse_manifest(&bytes, Some(&descriptor.media_type)).map_err(|e| e.context(name))?;
    let (digest, image): (String, ImageManifest) = match manifest {
        Manifest::Image(m) => (descriptor.digest.clone(), m),
        Manifest::Index(index) => {
            let chosen = index.select(platform).map_err(|e| e.context(name))?;
            let bytes = fetch(&chosen.digest, "manifest")?;
            match parse_manifest(&bytes, Some(&chosen.media_type)).map_err(|e| e.context(name))? {
                Manifest::Image(m) => (chosen.digest.clone(), m),
                Manifest::Index(_) => {
                    return Err(Error::new(
                        ErrorKind::Invalid,
                        format!("{name}: nested image indexes are not supported"),
                    ));
                }
            }
        }
    };
    image.ensure_is_image().map_err(|e| e.context(name))?;
    let config = fetch(&image.config.digest, "image config")?;
    ResolvedImage::new(name, digest, &image, &config)
}

/// `sha256:<64 hex>` → the hex part, refusing anything that could be used as a path component attack.
pub(crate) fn digest_hex(digest: &str) -> Result<(&str, &str)> {
    let (alg, hex) =
        digest.split_once(':').ok_or_else(|| Error::new(ErrorKind::Parse, format!("{digest:?} is not a digest")))?;
    let alg_ok = !alg.is_empty()
        && alg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'.' || b == b'_' || b == b'-');
    let hex_ok = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if !alg_ok || !hex_ok {
        return Err(Error::new(ErrorKind::Parse, format!("{digest:?} is not a digest")));
    }
    Ok((alg, hex))
}
