//! Layer blobs assembled from gzip members, so that 10,000 distinct layers are made in seconds.
//!
//! A gzip file may hold several members back to back (RFC 1952 §2.2; every registry client's decoder,
//! Strata's `MultiGzDecoder` included, reads them as one stream), and a tar stream may be cut anywhere. So
//! the real content (npm packages, Python distributions, chunks of real JavaScript) is compressed once as
//! [`Piece`]s, and a layer is the concatenation of the pieces it picks plus small freshly compressed parts
//! (tar headers, the text that makes the layer unique). The decoder does the same work per byte as for a
//! single-member blob; only the generator saves time.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Bytes of a tar stream and the same bytes as one gzip member.
#[derive(Clone)]
pub struct Piece {
    pub raw: Arc<[u8]>,
    pub gz: Arc<[u8]>,
}

impl Piece {
    pub fn new(raw: Vec<u8>) -> Result<Piece> {
        let gz = gzip(&raw)?;
        Ok(Piece { raw: raw.into(), gz: gz.into() })
    }
}

pub fn gzip(raw: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(raw)?;
    encoder.finish().context("gzip")
}

/// A finished layer blob: what the manifest and the config name it by.
#[derive(Clone)]
pub struct Blob {
    pub gz: Arc<[u8]>,
    /// sha256 of `gz`: the layer digest.
    pub digest: String,
    /// sha256 of the tar: the config's `diff_id`.
    pub diff_id: String,
    /// Size of the tar.
    pub raw_len: u64,
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Builds one layer: tar entries in order, compressed as members.
pub struct LayerWriter {
    gz: Vec<u8>,
    diff: Sha256,
    raw_len: u64,
    fresh: Vec<u8>,
}

impl Default for LayerWriter {
    fn default() -> Self {
        LayerWriter { gz: Vec::new(), diff: Sha256::new(), raw_len: 0, fresh: Vec::new() }
    }
}

impl LayerWriter {
    /// Tar bytes not compressed yet: gathered into the next member.
    pub fn fresh(&mut self, raw: &[u8]) {
        self.diff.update(raw);
        self.raw_len += raw.len() as u64;
        self.fresh.extend_from_slice(raw);
    }

    fn flush(&mut self) -> Result<()> {
        if !self.fresh.is_empty() {
            let member = gzip(&self.fresh)?;
            self.gz.extend_from_slice(&member);
            self.fresh.clear();
        }
        Ok(())
    }

    /// Tar bytes compressed beforehand.
    pub fn piece(&mut self, piece: &Piece) -> Result<()> {
        self.flush()?;
        self.diff.update(&piece.raw);
        self.raw_len += piece.raw.len() as u64;
        self.gz.extend_from_slice(&piece.gz);
        Ok(())
    }

    /// A regular file whose content is `head` followed by `chunks`.
    pub fn file(&mut self, path: &str, head: &[u8], chunks: &[&Piece]) -> Result<()> {
        let size = head.len() as u64 + chunks.iter().map(|c| c.raw.len() as u64).sum::<u64>();
        self.fresh(&header(path, size, 0o644)?);
        self.fresh(head);
        for chunk in chunks {
            self.piece(chunk)?;
        }
        self.fresh(&vec![0u8; padding(size)]);
        Ok(())
    }

    pub fn finish(mut self) -> Result<Blob> {
        self.fresh(&[0u8; 1024]); // end of archive
        self.flush()?;
        let diff_id = format!("sha256:{}", hex::encode(self.diff.finalize()));
        Ok(Blob { digest: sha256(&self.gz), gz: self.gz.into(), diff_id, raw_len: self.raw_len })
    }
}

fn padding(size: u64) -> usize {
    ((512 - size % 512) % 512) as usize
}

/// One ustar header, as `tar -C root .` writes it (paths are short here; long ones are refused).
pub fn header(path: &str, size: u64, mode: u32) -> Result<Vec<u8>> {
    let mut header = tar::Header::new_ustar();
    header.set_path(format!("./{}", path.trim_start_matches('/'))).with_context(|| format!("tar path {path}"))?;
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(1_704_067_200);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    Ok(header.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn members_read_back_as_one_tar() {
        let fragment = strata_testkit::tarball::TarBuilder::new().file("app/a.txt", b"alpha\n").fragment();
        let piece = Piece::new(fragment).unwrap();
        let chunk = Piece::new(vec![b'x'; 1024]).unwrap();
        let mut layer = LayerWriter::default();
        layer.piece(&piece).unwrap();
        layer.file("app/b.js", b"// head\n", &[&chunk, &chunk]).unwrap();
        let blob = layer.finish().unwrap();
        let mut raw = Vec::new();
        flate2::read::MultiGzDecoder::new(&blob.gz[..]).read_to_end(&mut raw).unwrap();
        assert_eq!(sha256(&raw), blob.diff_id);
        assert_eq!(raw.len() as u64, blob.raw_len);
        let mut archive = tar::Archive::new(&raw[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            seen.push((entry.path().unwrap().display().to_string(), data.len()));
        }
        assert_eq!(seen, [("app/a.txt".to_string(), 6), ("app/b.js".to_string(), 8 + 2048)]);
    }
}
