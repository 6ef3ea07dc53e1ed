//! The DB file: `STRATADB` magic, a little-endian u32 length, the JSON [`DbHeader`], then the body — the
//! advisories serialised with postcard and compressed with zstd, in independently decodable chunks.
//!
//! The header is JSON so that a DB can be identified (`head -c`, `strata db info`) without decoding the body,
//! and so that its `format_version` can be read even when a later format changes the rest of the header.
//! `content_digest` is the sha256 of the compressed body: it detects corruption before postcard is asked to
//! decode garbage, and it identifies the data a report was matched against.

use std::io::Write;
use std::path::Path;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::{Advisory, DbHeader};
use crate::error::{Error, ErrorKind, Result};

/// Bumped whenever the body or header layout changes; older files are then rejected, not misread.
pub const FORMAT_VERSION: u32 = 3;

const MAGIC: &[u8; 8] = b"STRATADB";
/// Level 9 compresses the body to about a quarter more than level 19 would, at a fraction of the build time;
/// decompression speed is the same at every level.
const ZSTD_LEVEL: i32 = 9;
const MAX_HEADER_LEN: usize = 16 << 20;

fn db_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Database, message)
}

/// Advisories per body chunk. Chunks are compressed and decoded independently, so that load (the latency
/// every scan pays) and build spread over all cores; the split is by count, so the body stays deterministic.
const CHUNK_ADVISORIES: usize = 2048;

/// The body: a u32 LE chunk count, then per chunk a u32 LE length and a zstd frame of the postcard-encoded
/// advisories of that chunk, in id order.
pub(super) fn encode_body(advisories: &[Advisory]) -> Result<Vec<u8>> {
    let frames: Vec<Vec<u8>> = advisories
        .par_chunks(CHUNK_ADVISORIES)
        .map(|chunk| {
            let raw = postcard::to_stdvec(chunk)
                .map_err(|e| Error::with_source(ErrorKind::Database, "serialising the advisories", e))?;
            zstd::bulk::compress(&raw, ZSTD_LEVEL)
                .map_err(|e| Error::with_source(ErrorKind::Database, "compressing the advisories", e))
        })
        .collect::<Result<_>>()?;
    let too_large = || db_error("DB body chunk too large");
    let mut body = Vec::with_capacity(4 + frames.iter().map(|f| f.len() + 4).sum::<usize>());
    body.extend_from_slice(&u32::try_from(frames.len()).map_err(|_| too_large())?.to_le_bytes());
    for frame in &frames {
        body.extend_from_slice(&u32::try_from(frame.len()).map_err(|_| too_large())?.to_le_bytes());
        body.extend_from_slice(frame);
    }
    Ok(body)
}

fn take_u32(bytes: &mut &[u8], what: &str) -> Result<u32> {
    let (head, rest) = bytes.split_at_checked(4).ok_or_else(|| db_error(format!("DB file truncated in {what}")))?;
    *bytes = rest;
    Ok(u32::from_le_bytes([head[0], head[1], head[2], head[3]]))
}

fn decode_body(mut body: &[u8]) -> Result<Vec<Advisory>> {
    let count = take_u32(&mut body, "the body")?;
    let mut frames = Vec::new();
    for _ in 0..count {
        let len = take_u32(&mut body, "the body")? as usize;
        let (frame, rest) = body.split_at_checked(len).ok_or_else(|| db_error("DB body chunk exceeds the file"))?;
        frames.push(frame);
        body = rest;
    }
    if !body.is_empty() {
        return Err(db_error("DB body has trailing bytes"));
    }
    let chunks: Vec<Vec<Advisory>> = frames
        .par_iter()
        .map(|frame| {
            let raw = zstd::stream::decode_all(*frame)
                .map_err(|e| Error::with_source(ErrorKind::Database, "decompressing the DB body", e))?;
            postcard::from_bytes(&raw).map_err(|e| Error::with_source(ErrorKind::Database, "decoding the DB body", e))
        })
        .collect::<Result<_>>()?;
    Ok(chunks.into_iter().flatten().collect())
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
    let mut rest =
        bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(|| db_error("not a Strata vulnerability DB (bad magic)"))?;
    let header_len = take_u32(&mut rest, "its header")? as usize;
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
    let advisories = decode_body(body)?;
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
