//! Verifying a blob's sha256 while it streams through, so a layer is read exactly once.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// A `Read` adapter that hashes every byte it hands out and counts them.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new(), bytes: 0 }
    }

    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Reads whatever the consumer left unread (gzip trailers, tar padding) so the hash covers the whole blob.
    pub fn drain(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink()).map(|_| ())
    }

    /// The `sha256:<hex>` digest of everything read so far.
    pub fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Checks a computed digest against the one the blob was addressed by. Only sha256 is supported, as in
/// every registry we know of; anything else is refused rather than silently trusted.
pub fn verify(expected: &str, actual: &str) -> Result<()> {
    if !expected.starts_with("sha256:") {
        return Err(Error::new(ErrorKind::Invalid, format!("unsupported digest algorithm in {expected}")));
    }
    if expected != actual {
        return Err(Error::new(ErrorKind::DigestMismatch, format!("expected {expected}, read {actual}")));
    }
    Ok(())
}
