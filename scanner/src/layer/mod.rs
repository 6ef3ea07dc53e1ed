//! Layer analysis: one pass over a layer blob as a stream.
//!
//! The blob is hashed as it is read, decompressed (gzip, zstd or none, sniffed from the first bytes because
//! docker-archive layers carry no media type), and walked as a tar. Only files the analysers ask for are read
//! into memory, up to a size cap, so memory stays bounded whatever the layer size. The result, a
//! [`LayerInventory`], depends only on the layer bytes and [`crate::ANALYZER_VERSION`]: it is what the fleet
//! caches by digest.

mod digest;
mod inventory;
pub mod path;

use std::io::{self, BufRead, BufReader, Read};

pub use digest::{HashingReader, verify};
pub use inventory::{Incomplete, LayerInventory, LayerStats, LayerWarning};

use crate::analyze;
use crate::budget::Budget;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::{self, Scanner};
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
    let fail = |kind, what: String| Error::new(kind, format!("layer {expected_digest}: {what}"));
    let mut hashing = HashingReader::new(reader);
    let mut inventory = LayerInventory::new(expected_digest);
    {
        let mut buffered = BufReader::with_capacity(READ_BUFFER, &mut hashing);
        let head = buffered.fill_buf().map_err(|e| io_error(expected_digest, None, e))?;
        let decoder: Box<dyn Read + '_> = match sniff(head) {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Zstd => {
                Box::new(zstd::Decoder::with_buffer(buffered).map_err(|e| io_error(expected_digest, None, e))?)
            }
            Compression::None => Box::new(buffered),
        };
        // The tar walk reads in small pieces (512-byte headers, padding, small files). Handed to the
        // decompressor directly, those cost 20 % more CPU on a node_modules layer (thousands of small files)
        // than the same inflate in big blocks plus one memcpy out of this buffer.
        let decoded = BufReader::with_capacity(DECODED_BUFFER, decoder);
        let mut counting = CountingReader { inner: decoded, bytes: 0 };
        walk_tar(&mut counting, &mut inventory, secrets, budget)
            .map_err(|e| e.context(format!("layer {expected_digest}")))?;
        // Whatever follows the tar's end-of-archive blocks (padding, gzip trailer) belongs to the blob too.
        io::copy(&mut counting, &mut io::sink()).map_err(|e| io_error(expected_digest, None, e))?;
        inventory.stats.uncompressed_bytes = counting.bytes;
    }
    hashing.drain().map_err(|e| io_error(expected_digest, None, e))?;
    inventory.stats.blob_bytes = hashing.bytes_read();
    let actual = hashing.finish();
    verify(expected_digest, &actual).map_err(|e| fail(e.kind, e.message))?;
    Ok(inventory)
}

fn walk_tar(reader: &mut impl Read, inventory: &mut LayerInventory, secrets: &Scanner, budget: &Budget) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    // One buffer for every file read for the secret scan, so small files cost no allocation.
    let mut text = Vec::with_capacity(64 * 1024);
    let entries = archive.entries().map_err(|e| io_error_plain(None, e))?;
    // Formatted only for an error message: most layers have thousands of entries and no error.
    let mut last_path: Option<std::path::PathBuf> = None;
    let shown = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    for entry in entries {
        let mut entry = entry.map_err(|e| io_error_plain(shown(&last_path).as_deref(), e))?;
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
        let raw_path = entry.path().map_err(|e| io_error_plain(shown(&last_path).as_deref(), e))?.into_owned();
        let classified = path::classify(&raw_path).map_err(|why| {
            Error::new(ErrorKind::Parse, format!("tar entry {:?}: {why}", raw_path.display().to_string()))
        })?;
        last_path = Some(raw_path);
        let path = match classified {
            EntryPath::Root => continue,
            EntryPath::Whiteout(p) => {
                inventory.whiteouts.insert(p);
                continue;
            }
            EntryPath::Opaque(dir) => {
                inventory.opaque_dirs.insert(dir);
                continue;
            }
            EntryPath::Normal(p) => p,
        };
        let header = entry.header();
        inventory.facts.observe(&path, header);
        let is_file = header.entry_type().is_file();
        let size = entry.size();
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
            analyze::record_oversized(inventory, &path, kind, size);
            continue;
        }
        let analysed = if kind.is_streamed() && size > secret::SIZE_CAP {
            analyze::analyze_stream(kind, &path, &mut entry, size, budget)
        } else if kind.is_streamed() {
            // A small "executable" may be a script with credentials in it: read it once for both.
            text.clear();
            entry.read_to_end(&mut text).map_err(|e| io_error_plain(Some(&path), e))?;
            secret::scan_into(secrets, &path, &text, budget, inventory);
            analyze::analyze_stream(kind, &path, &mut &text[..], size, budget)
        } else {
            let mut bytes = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut bytes).map_err(|e| io_error_plain(Some(&path), e))?;
            if size <= secret::SIZE_CAP {
                secret::scan_into(secrets, &path, &bytes, budget, inventory);
            }
            analyze::analyze(kind, &path, &bytes, budget)
        };
        analyze::record(inventory, &path, kind, analysed)?;
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
    secret::scan_into(secrets, path, buf, budget, inventory);
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

/// Counts uncompressed bytes for the layer's statistics (and the benchmarks' MB/s).
struct CountingReader<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
