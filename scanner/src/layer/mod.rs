//! Layer analysis: one pass over a layer blob as a stream.
//!
//! The blob is hashed as it is read, decompressed (gzip, zstd or none, sniffed from the first bytes because
//! docker-archive layers carry no media type), and walked as a tar the way a container runtime unpacks it
//! ([`archive`]). Only files the analysers ask for are read into memory, up to a size cap, so memory stays
//! bounded whatever the layer size; time, decompressed bytes, entries and metadata are bounded by the
//! [`Budget`] ([`meter`]), and whatever is skipped is recorded as incomplete (`docs/security-layers.md`). The result, a
//! [`LayerInventory`], depends only on the layer bytes and [`crate::ANALYZER_VERSION`]: it is what the fleet
//! caches by digest.

mod archive;
mod digest;
mod inventory;
mod links;
mod meter;
pub mod path;
pub(crate) mod record;

use std::io::{self, BufRead, BufReader, Read};

pub use digest::{HashingReader, verify};
pub use inventory::{Incomplete, LayerInventory, LayerStats, LayerWarning};

use crate::analyze;
use crate::budget::Budget;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::{self, Scanner};
use meter::Meter;
use path::EntryPath;

/// Large enough that the decompressor is fed in big gulps; small next to any layer.
const READ_BUFFER: usize = 256 * 1024;
/// Decompressed bytes handed to the tar walk per refill.
const DECODED_BUFFER: usize = 128 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    Gzip,
    Zstd,
    None,
}

fn sniff(head: &[u8]) -> Compression {
    match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        _ => Compression::None,
    }
}

/// Analyses one layer blob read from `reader`, verifying it against `expected_digest` (the digest the blob
/// was fetched by). Errors name the layer and, where there is one, the tar entry; the caller adds the image.
pub fn analyze_layer(reader: impl Read, expected_digest: &str) -> Result<LayerInventory> {
    analyze_layer_with(reader, expected_digest, Scanner::builtin(), &Budget::default())
}

/// [`analyze_layer`] with the secret rules of a user's config (the result then depends on the config too,
/// so a cache must key it by the config as well) and the given budget (see [`crate::budget`]).
pub fn analyze_layer_with(
    reader: impl Read,
    expected_digest: &str,
    secrets: &Scanner,
    budget: &Budget,
) -> Result<LayerInventory> {
    analyze_layer_sized(reader, expected_digest, None, secrets, budget)
}

/// [`analyze_layer_with`] for a blob whose size is declared (a manifest's layer descriptor): nothing past
/// `expected_size` bytes is read, and a shorter blob fails the digest check.
///
/// A budget that runs out (see [`crate::budget`]) stops decompression and marks the inventory incomplete;
/// the rest of the compressed blob is then only hashed, so the digest is verified either way. A corrupt
/// layer is reported as a digest mismatch when its digest does not match, since that means the bytes are
/// not the layer's.
pub fn analyze_layer_sized(
    reader: impl Read,
    expected_digest: &str,
    expected_size: Option<u64>,
    secrets: &Scanner,
    budget: &Budget,
) -> Result<LayerInventory> {
    let fail = |kind, what: String| Error::new(kind, format!("layer {expected_digest}: {what}"));
    let meter = Meter::new(budget);
    let mut hashing = HashingReader::new(reader.take(expected_size.unwrap_or(u64::MAX)));
    let mut inventory = LayerInventory::new(expected_digest);
    let walked = walk_blob(&mut hashing, &meter, &mut inventory, secrets);
    let walked = match (walked, meter.tripped()) {
        (Err(_), Some(reason)) => {
            inventory.mark_incomplete(None, reason);
            Ok(())
        }
        (other, _) => other,
    };
    hashing.drain().map_err(|e| io_error(expected_digest, None, e))?;
    inventory.stats.blob_bytes = hashing.bytes_read();
    inventory.stats.uncompressed_bytes = meter.decompressed();
    if let Some(size) = expected_size
        && inventory.stats.blob_bytes < size
    {
        return Err(fail(
            ErrorKind::DigestMismatch,
            format!("the blob ended after {} of its {size} declared bytes", inventory.stats.blob_bytes),
        ));
    }
    let actual = hashing.finish();
    verify(expected_digest, &actual).map_err(|e| fail(e.kind, e.message))?;
    walked.map_err(|e| e.context(format!("layer {expected_digest}")))?;
    Ok(inventory)
}

/// Decompresses and walks the blob; returns with the compressed rest unread when a budget ran out.
fn walk_blob(hashing: &mut impl Read, meter: &Meter, inventory: &mut LayerInventory, secrets: &Scanner) -> Result<()> {
    let compressed = meter::Compressed { inner: hashing, meter };
    let mut buffered = BufReader::with_capacity(READ_BUFFER, compressed);
    let head = buffered.fill_buf().map_err(|e| io_error_plain(None, e))?;
    let decoder: Box<dyn Read + '_> = match sniff(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::Decoder::with_buffer(buffered).map_err(|e| io_error_plain(None, e))?),
        Compression::None => Box::new(buffered),
    };
    // The tar walk reads in small pieces (512-byte headers, padding, small files). Handed to the
    // decompressor directly, those cost 20 % more CPU on a node_modules layer (thousands of small files)
    // than the same inflate in big blocks plus one memcpy out of this buffer.
    let decoded = BufReader::with_capacity(DECODED_BUFFER, meter::Decompressed { inner: decoder, meter });
    let mut tar = archive::Reader::new(decoded, meter);
    walk_tar(&mut tar, inventory, secrets, meter)?;
    if meter.tripped().is_some() {
        // A budget ran out inside an analyser, which may have reported it as that file's warning.
        return Err(io_error_plain(None, meter::exhausted()));
    }
    // Whatever follows the tar's end-of-archive blocks (padding, gzip trailer) belongs to the blob too; a
    // budget running out here cuts nothing a runtime would unpack.
    match io::copy(&mut tar.into_inner(), &mut io::sink()) {
        Err(_) if meter.tripped().is_some() => Ok(()),
        Err(e) => Err(io_error_plain(None, e)),
        Ok(_) => Ok(()),
    }
}

fn walk_tar<R: BufRead>(
    tar: &mut archive::Reader<'_, '_, R>,
    inventory: &mut LayerInventory,
    secrets: &Scanner,
    meter: &Meter,
) -> Result<()> {
    let budget = meter.budget();
    // One buffer for every file read for the secret scan, so small files cost no allocation.
    let mut text = Vec::with_capacity(64 * 1024);
    // Kept raw, formatted only for an error message: most layers have thousands of entries and no error.
    let mut last_path: Option<Vec<u8>> = None;
    let shown = |p: &Option<Vec<u8>>| p.as_ref().map(|p| String::from_utf8_lossy(p).into_owned());
    let mut links = links::Links::default();
    loop {
        let meta = match tar.next() {
            Ok(Some(meta)) => meta,
            Ok(None) => break,
            Err(e) => return Err(io_error_plain(shown(&last_path).as_deref(), e)),
        };
        inventory.stats.entries += 1;
        if inventory.stats.entries > budget.entries {
            inventory.mark_incomplete(
                None,
                format!(
                    "more than {} tar entries (budget `entries`); the rest of the layer was not analysed",
                    budget.entries
                ),
            );
            break;
        }
        if let Some(why) = &meta.problem {
            let shown = String::from_utf8_lossy(&meta.path);
            let shown = shown.trim_start_matches("./").trim_start_matches('/');
            inventory.mark_incomplete(Some(shown), format!("{why}; not analysed"));
            last_path = Some(meta.path);
            continue;
        }
        let classified = path::classify(&meta.path).map_err(|why| {
            Error::new(ErrorKind::Parse, format!("tar entry {:?}: {why}", String::from_utf8_lossy(&meta.path)))
        })?;
        last_path = Some(meta.path);
        if classified.not_utf8
            && let EntryPath::Normal(p) = &classified.path
        {
            inventory.warn(p, "the name is not valid UTF-8: shown with U+FFFD, analysed under that name".into());
        }
        let path = match classified.path {
            EntryPath::Root | EntryPath::AufsMeta => continue,
            // Under a lossy name a whiteout could hide a file the runtime keeps: keep it visible instead.
            EntryPath::Whiteout(p) | EntryPath::Opaque(p) if classified.not_utf8 => {
                inventory.warn(&p, "a whiteout with a name that is not UTF-8; ignored".into());
                continue;
            }
            EntryPath::Whiteout(p) => {
                inventory.whiteouts.insert(p);
                continue;
            }
            EntryPath::Opaque(dir) => {
                inventory.opaque_dirs.insert(dir);
                continue;
            }
            EntryPath::EmptyWhiteout(dir) => {
                inventory.warn(
                    format!("{dir}/.wh.").trim_start_matches('/'),
                    "a whiteout without a name is invalid (OCI image layer spec); ignored".into(),
                );
                continue;
            }
            EntryPath::Normal(p) => p,
        };
        let header = &meta.header;
        inventory.facts.observe(&path, header);
        let is_file = header.entry_type().is_file();
        let size = meta.size;
        if header.entry_type().is_hard_link() {
            links.link(&path, meta.link.as_deref(), inventory);
            continue;
        }
        if is_file {
            links.saw_file(&path);
            // A later entry replaces an earlier link at its path, as on disk.
            if !inventory.hardlinks.is_empty() {
                inventory.hardlinks.remove(&path);
            }
        }
        let mut entry = tar.content();
        let kind = match analyze::classify(&path) {
            Some(kind) => kind,
            None if is_file => {
                let mode = header.mode().unwrap_or(0);
                match analyze::classify_executable(&path, mode, size) {
                    Some(kind) => kind,
                    None => {
                        scan_secrets(&mut entry, &path, size, secrets, budget, &mut text, inventory)?;
                        continue;
                    }
                }
            }
            None => continue,
        };
        if !is_file {
            // A symlink (Debian's etc/os-release → ../usr/lib/os-release) or directory shadows nothing
            // we read; the target, if of interest, is analysed where it is.
            continue;
        }
        if size > kind.size_cap() {
            record::oversized(inventory, &path, kind, size);
            continue;
        }
        let analysed = if kind.is_streamed() && size > secret::SIZE_CAP {
            analyze::analyze_stream(kind, &path, &mut entry, size, budget)
        } else if kind.is_streamed() {
            // A small "executable" may be a script with credentials in it: read it once for both.
            text.clear();
            entry.read_to_end(&mut text).map_err(|e| io_error_plain(Some(&path), e))?;
            record::secrets(secrets, &path, &text, budget, inventory);
            analyze::analyze_stream(kind, &path, &mut &text[..], size, budget)
        } else {
            let mut bytes = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut bytes).map_err(|e| io_error_plain(Some(&path), e))?;
            if size <= secret::SIZE_CAP {
                record::secrets(secrets, &path, &bytes, budget, inventory);
            }
            analyze::analyze(kind, &path, &bytes, budget)
        };
        record::analysis(inventory, &path, kind, analysed)?;
    }
    Ok(())
}

/// Reads a regular file no analyser wanted into `buf` and scans it for secrets, unless it is over the size
/// cap, on an allowed path, or binary (judged from its head, so the rest of a binary is never copied).
fn scan_secrets(
    entry: &mut impl Read,
    path: &str,
    size: u64,
    secrets: &Scanner,
    budget: &Budget,
    buf: &mut Vec<u8>,
    inventory: &mut LayerInventory,
) -> Result<()> {
    if size == 0 || size > secret::SIZE_CAP || secrets.skips(path) {
        return Ok(());
    }
    buf.clear();
    let read = |r: &mut dyn Read, buf: &mut Vec<u8>| r.read_to_end(buf).map_err(|e| io_error_plain(Some(path), e));
    read(&mut entry.take(secret::BINARY_SNIFF as u64), buf)?;
    if secret::looks_binary(buf) {
        return Ok(());
    }
    read(entry, buf)?;
    record::secrets(secrets, path, buf, budget, inventory);
    Ok(())
}

/// Maps a read error inside the stream to a parse error: by then the bytes arrived, so a failure means a
/// corrupt or truncated blob (gzip CRC, bad tar header, early EOF), except for genuine I/O kinds.
fn io_error_plain(path: Option<&str>, e: io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::InvalidData
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::Other => ErrorKind::Parse,
        _ => ErrorKind::Io,
    };
    let what = match path {
        Some(p) => format!("corrupt or truncated data at or after tar entry {p:?}"),
        None => "corrupt or truncated data".to_string(),
    };
    Error::with_source(kind, format!("{what}: {e}"), e)
}

fn io_error(digest: &str, path: Option<&str>, e: io::Error) -> Error {
    io_error_plain(path, e).context(format!("layer {digest}"))
}

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod tests;
