//! The DB file: `STRATADB` magic, a little-endian u32 length, the JSON [`DbHeader`], then the body — the
//! advisories serialised with postcard and compressed with zstd.
//!
//! The header is JSON so that a DB can be identified (`head -c`, `strata db info`) without decoding the body,
//! and so that its `format_version` can be read even when a later format changes the rest of the header.
//! `content_digest` is the sha256 of the compressed body: it detects corruption before postcard is asked to
//! decode garbage, and it identifies the data a report was matched against.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Advisory, DbHeader};
use crate::error::{Error, ErrorKind, Result};

/// Bumped whenever the body or header layout changes; older files are then rejected, not misread.
pub const FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 8] = b"STRATADB";
/// Level 9 compresses the body to about a quarter more than level 19 would, at a fraction of the build time;
/// decompression speed is the same at every level.
const ZSTD_LEVEL: i32 = 9;
const MAX_HEADER_LEN: usize = 16 << 20;

fn db_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Database, message)
}

pub(super) fn encode_body(advisories: &[Advisory]) -> Result<Vec<u8>> {
    let raw = postcard::to_stdvec(advisories)
        .map_err(|e| Error::with_source(ErrorKind::Database, "serialising the advisories", e))?;
    zstd::bulk::compress(&raw, ZSTD_LEVEL)
        .map_err(|e| Error::with_source(ErrorKind::Database, "compressing the advisories", e))
}

pub(super) fn digest(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

pub(super) fn assemble(header: &DbHeader, body: &[u8]) -> Result<Vec<u8>> {
    let header_json = serde_json::to_vec(header)
        .map_err(|e| Error::with_source(ErrorKind::Database, "serialising the DB header", e))?;
    let header_len = u32::try_from(header_json.len()).map_err(|_| db_error("DB header too large"))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header_json.len() + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&header_json);
    out.extend_from_slice(body);
    Ok(out)
}

/// Splits and checks a DB file image: magic, format version and body digest, then decodes the body.
pub(super) fn parse(bytes: &[u8]) -> Result<(DbHeader, Vec<Advisory>)> {
    let rest =
        bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(|| db_error("not a Strata vulnerability DB (bad magic)"))?;
    let (len_bytes, rest) = rest.split_at_checked(4).ok_or_else(|| db_error("DB file truncated in its header"))?;
    let header_len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
    if header_len > MAX_HEADER_LEN || header_len > rest.len() {
        return Err(db_error(format!("DB header length {header_len} exceeds the file")));
    }
    let (header_json, body) = rest.split_at(header_len);
    let value: serde_json::Value = serde_json::from_slice(header_json)
        .map_err(|e| Error::with_source(ErrorKind::Database, "DB header is not valid JSON", e))?;
    let version = value.get("format_version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(FORMAT_VERSION)) {
        let found = version.map_or_else(|| "none".to_owned(), |v| v.to_string());
        return Err(db_error(format!(
            "DB format version {found} is not supported (this build reads version {FORMAT_VERSION}); rebuild the DB"
        )));
    }
    let header: DbHeader = serde_json::from_value(value)
        .map_err(|e| Error::with_source(ErrorKind::Database, "DB header has an unexpected shape", e))?;
    let actual = digest(body);
    if actual != header.content_digest {
        return Err(db_error(format!(
            "DB body is corrupt: sha256 {actual} does not match the header's content_digest {}",
            header.content_digest
        )));
    }
    let raw = zstd::stream::decode_all(body)
        .map_err(|e| Error::with_source(ErrorKind::Database, "decompressing the DB body", e))?;
    let advisories: Vec<Advisory> =
        postcard::from_bytes(&raw).map_err(|e| Error::with_source(ErrorKind::Database, "decoding the DB body", e))?;
    Ok((header, advisories))
}

/// Writes to a temporary file beside `path` and renames it over `path`, so that a reader (or a crash) never
/// sees a half-written DB.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io_err = |what: &str, e| Error::with_source(ErrorKind::Io, format!("{what} {}", path.display()), e);
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::new(ErrorKind::Invalid, format!("{} is not a file path", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err("writing the vulnerability DB", e));
    }
    Ok(())
}
