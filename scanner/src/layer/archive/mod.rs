//! A bounded, streaming reader of layer tars that sees each entry as a container runtime does.
//!
//! Why not the `tar` crate's `Archive`: it reads GNU long-name and PAX header bodies whole, whatever their
//! declared size (a 99 KB layer made it allocate 4.2 GB), has no PAX sparse formats (a package database
//! stored as one was invisible), and reads data after header-only entries (a hard link with a size) where
//! runtimes, written in Go, do not. The crate's [`tar::Header`] still parses each 512-byte block (octal and
//! base-256 numbers, the ustar prefix, GNU sparse fields); the sequence of blocks is ours, modelled on Go's
//! `archive/tar` (the reader containerd and Docker unpack layers with):
//!
//! - metadata bodies (`x` PAX, `L`/`K` GNU long names, old GNU sparse extension blocks, the PAX 1.0 sparse
//!   map) are read only up to the `header_bytes` budget; a larger one is skipped as a stream and the entry it
//!   describes comes back with a [`Entry::problem`] (the walk marks the layer incomplete);
//! - PAX `path`, `linkpath` and `size` apply to the next entry; GNU long names override PAX paths;
//!   `GNU.sparse.name` overrides both; the last `x` header before an entry wins; `g` headers are skipped,
//!   as runtimes ignore them;
//! - sparse files (old GNU `S`, PAX 0.0, 0.1 and 1.0) are expanded: fragments at their offsets, zeros in
//!   holes, the map validated (ordered, within the size, adding up to the stored data);
//! - links, symlinks, devices, FIFOs and directories carry no data whatever their size field says;
//! - a regular entry of the old type `\0` whose name ends in `/` is a directory;
//! - the archive ends at two zero blocks (or at the end of the stream on a block boundary); a zero block
//!   followed by a non-zero one is an error.

mod pax;
mod sparse;

use std::io::{self, BufRead, Read};

use sparse::{Expanded, Fragment, Step};

use super::meter::Meter;

const BLOCK: usize = 512;

/// One entry as a runtime would create it.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The full name, raw bytes (PAX, GNU long names and sparse names applied).
    pub path: Vec<u8>,
    /// A link's target, raw bytes.
    pub link: Option<Vec<u8>>,
    /// The entry's own header with its type normalised (sparse and contiguous files are regular files)
    /// and its size set to [`Entry::size`].
    pub header: tar::Header,
    /// The size of the content a runtime writes (the expanded size of a sparse file; 0 without data).
    pub size: u64,
    /// Set when the entry cannot be read as the runtime would (its metadata is over the budget, or its
    /// sparse map is invalid): the walk records it as incomplete and does not read the content.
    pub problem: Option<String>,
}

pub(crate) struct Reader<'m, 'b, R> {
    inner: R,
    meter: &'m Meter<'b>,
    /// Unread stored bytes of the current entry, and the padding after them.
    stored: u64,
    padding: u64,
    expanded: Option<Expanded>,
    /// Metadata entries (`x`, `g`, `L`, `K`) read, which count against the `entries` budget too.
    specials: u64,
    done: bool,
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn padding(n: u64) -> u64 {
    (BLOCK as u64 - n % BLOCK as u64) % BLOCK as u64
}

/// Up to the first NUL, as every tar reader reads a name.
fn until_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(nul) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(nul);
    }
    bytes
}

/// Sums as POSIX says (checksum field as spaces); some old writers summed signed bytes, which Go accepts.
fn checksum_ok(block: &[u8; BLOCK], header: &tar::Header) -> bool {
    let Ok(stored) = header.cksum() else { return false };
    let (mut unsigned, mut signed) = (0u32, 0i32);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u32::from(b);
        signed += i32::from(b as i8);
    }
    stored == unsigned || i64::from(stored) == i64::from(signed)
}

impl<'m, 'b, R: BufRead> Reader<'m, 'b, R> {
    pub(crate) fn new(inner: R, meter: &'m Meter<'b>) -> Self {
        Reader { inner, meter, stored: 0, padding: 0, expanded: None, specials: 0, done: false }
    }

    fn header_bytes(&self) -> u64 {
        self.meter.budget().header_bytes
    }

    /// The next entry, after skipping what is left of the current one.
    pub(crate) fn next(&mut self) -> io::Result<Option<Entry>> {
        self.discard(self.stored + self.padding)?;
        (self.stored, self.padding, self.expanded) = (0, 0, None);
        if self.done {
            return Ok(None);
        }
        let mut pax: Option<pax::Pax> = None;
        let (mut long_name, mut long_link, mut problem) = (None, None, None);
        loop {
            self.meter.check_deadline()?;
            let Some(block) = self.read_block()? else {
                self.done = true;
                return Ok(None);
            };
            if block.iter().all(|&b| b == 0) {
                self.done = true;
                return match self.read_block()? {
                    Some(second) if second.iter().any(|&b| b != 0) => {
                        Err(invalid("a header after an end-of-archive block".into()))
                    }
                    _ => Ok(None),
                };
            }
            let header = tar::Header::from_byte_slice(&block).clone();
            if !checksum_ok(&block, &header) {
                return Err(invalid("a tar header with a wrong checksum".into()));
            }
            let size = header.entry_size().map_err(|e| invalid(format!("a tar header's size: {e}")))?;
            let flag = block[156];
            if !matches!(flag, b'x' | b'g' | b'L' | b'K') {
                return self.entry(header, flag, size, pax, long_name, long_link, problem).map(Some);
            }
            self.specials += 1;
            let budget = self.meter.budget();
            if self.specials > budget.entries {
                return Err(self.meter.trip(format!(
                    "more than {} metadata entries (budget `entries`); the rest of the layer was not analysed",
                    budget.entries
                )));
            }
            if flag == b'g' {
                // Runtimes ignore global headers; so does the merged filesystem.
                self.discard(size + padding(size))?;
                continue;
            }
            let what = match flag {
                b'x' => "PAX extended header",
                b'L' => "GNU long name",
                _ => "GNU long link name",
            };
            let body = match self.read_metadata(size, what)? {
                Ok(body) => body,
                Err(why) => {
                    // As a header that replaces the previous one of its kind would.
                    match flag {
                        b'x' => pax = None,
                        b'L' => long_name = None,
                        _ => long_link = None,
                    }
                    problem = Some(why);
                    continue;
                }
            };
            match flag {
                b'x' => match pax::parse(&body) {
                    Ok(p) => pax = Some(p),
                    Err(e) => problem = Some(e.to_string()),
                },
                b'L' => long_name = Some(until_nul(body)),
                _ => long_link = Some(until_nul(body)),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(
        &mut self,
        mut header: tar::Header,
        flag: u8,
        size: u64,
        pax: Option<pax::Pax>,
        long_name: Option<Vec<u8>>,
        long_link: Option<Vec<u8>>,
        mut problem: Option<String>,
    ) -> io::Result<Entry> {
        let mut pax = pax.unwrap_or_default();
        let mut path = long_name.or(pax.path.take()).unwrap_or_else(|| header.path_bytes().into_owned());
        let link = long_link.or(pax.linkpath.take()).or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
        let kind = match flag {
            b'\0' if path.ends_with(b"/") => tar::EntryType::Directory,
            b'S' | b'7' | b'\0' => tar::EntryType::Regular,
            _ => header.entry_type(),
        };
        let header_only = matches!(flag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6');
        self.stored = if header_only { 0 } else { pax.size.unwrap_or(size) };
        self.padding = padding(self.stored);
        let mut logical = self.stored;
        let mut map: Option<Vec<Fragment>> = None;
        if flag == b'S' {
            match self.old_gnu_map(&header)? {
                Ok((m, real)) => (map, logical) = (Some(m), real),
                Err(why) => problem = Some(why),
            }
        } else if let Some(version) = pax_sparse_version(&pax.sparse) {
            if let Some(name) = pax.sparse.name.take().filter(|n| !n.is_empty()) {
                path = name;
            }
            logical = pax.sparse.size.unwrap_or(logical);
            let parsed = if version == (1, 0) {
                self.pax_1_0_map()?
            } else {
                match (sparse::pairs(&pax.sparse.map), pax.sparse.numblocks) {
                    (Ok(m), Some(n)) if n as usize != m.len() => {
                        Err("GNU.sparse.numblocks does not match the map".into())
                    }
                    (Ok(m), _) => Ok(m),
                    (Err(e), _) => Err(e.to_string()),
                }
            };
            match parsed {
                Ok(m) => map = Some(m),
                Err(why) => problem = Some(why),
            }
        }
        if let Some(m) = map {
            match sparse::validate(&m, logical, self.stored) {
                Ok(()) => self.expanded = Some(Expanded { map: m, next: 0, pos: 0, size: logical }),
                Err(e) => problem = Some(e.to_string()),
            }
        }
        header.set_entry_type(kind);
        header.set_size(logical);
        Ok(Entry { path, link, header, size: if header_only { 0 } else { logical }, problem })
    }

    /// The map and expanded size of an old GNU sparse entry, reading its extension blocks.
    fn old_gnu_map(&mut self, header: &tar::Header) -> io::Result<Result<(Vec<Fragment>, u64), String>> {
        let Some(gnu) = header.as_gnu() else { return Ok(Err("a sparse entry without a GNU header".into())) };
        let mut flat = Vec::new();
        let mut fields = |sparse: &[tar::GnuSparseHeader]| -> io::Result<()> {
            // Go, GNU and BSD tar stop at the first entry whose offset starts with a NUL.
            for s in sparse.iter().take_while(|s| s.offset[0] != 0) {
                flat.push(s.offset()?);
                flat.push(s.length()?);
            }
            Ok(())
        };
        let mut result = fields(&gnu.sparse);
        let (mut extended, mut read) = (gnu.is_extended(), 0u64);
        while extended {
            let block = self.read_block()?.ok_or_else(|| invalid("the archive ends in a sparse map".into()))?;
            read += BLOCK as u64;
            self.meter.check_deadline()?;
            let mut ext = tar::GnuExtSparseHeader::new();
            ext.as_mut_bytes().copy_from_slice(&block);
            if result.is_ok() && read <= self.header_bytes() {
                result = fields(ext.sparse());
            }
            extended = ext.is_extended();
        }
        if read > self.header_bytes() {
            return Ok(Err(format!("its sparse map is over {} bytes (budget `header_bytes`)", self.header_bytes())));
        }
        let real = gnu.real_size();
        Ok(match (result, real) {
            (Ok(()), Ok(real)) => sparse::pairs(&flat).map(|m| (m, real)).map_err(|e| e.to_string()),
            (Err(e), _) | (_, Err(e)) => Err(format!("invalid sparse header: {e}")),
        })
    }

    /// Reads the PAX 1.0 map from the start of the data, a block at a time, within the budget.
    fn pax_1_0_map(&mut self) -> io::Result<Result<Vec<Fragment>, String>> {
        let mut head = Vec::new();
        loop {
            if self.stored < BLOCK as u64 {
                return Ok(Err("the sparse map runs past the entry's data".into()));
            }
            if head.len() as u64 >= self.header_bytes() {
                return Ok(Err(format!(
                    "its sparse map is over {} bytes (budget `header_bytes`)",
                    self.header_bytes()
                )));
            }
            let block = self.read_block()?.ok_or_else(|| invalid("the archive ends in a sparse map".into()))?;
            self.stored -= BLOCK as u64;
            head.extend_from_slice(&block);
            match sparse::parse_1_0(&head) {
                Ok(Some((map, _))) => return Ok(Ok(map)),
                Ok(None) => {}
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
    }

    /// A metadata body, or why it was skipped (over the budget).
    fn read_metadata(&mut self, size: u64, what: &str) -> io::Result<Result<Vec<u8>, String>> {
        let limit = self.header_bytes();
        if size > limit {
            self.discard(size + padding(size))?;
            return Ok(Err(format!("its {what} is {size} bytes, over the {limit} byte budget (`header_bytes`)")));
        }
        let mut body = vec![0; size as usize];
        self.inner.read_exact(&mut body)?;
        self.discard(padding(size))?;
        Ok(Ok(body))
    }

    /// One header block; `None` at the end of the stream on a block boundary.
    fn read_block(&mut self) -> io::Result<Option<[u8; BLOCK]>> {
        let mut block = [0u8; BLOCK];
        let mut got = 0;
        while got < BLOCK {
            match self.inner.read(&mut block[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(block))
    }

    /// Skips `n` bytes without copying them.
    fn discard(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let available = self.inner.fill_buf()?.len();
            if available == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let take = available.min(usize::try_from(n).unwrap_or(usize::MAX));
            self.inner.consume(take);
            n -= take as u64;
        }
        Ok(())
    }

    /// The decompressed stream, positioned after the end-of-archive blocks.
    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    /// The current entry's content, as the runtime writes it.
    pub(crate) fn content(&mut self) -> Content<'_, 'm, 'b, R> {
        Content { reader: self }
    }
}

/// GNU's PAX sparse version, as Go's `archive/tar` decides it: explicit 0.0, 0.1 or 1.0; none (an unknown
/// version is a plain file); or 0.x when a map is present without a version.
fn pax_sparse_version(s: &pax::SparseRecords) -> Option<(u8, u8)> {
    match (s.major.as_deref(), s.minor.as_deref()) {
        (Some(b"0"), Some(b"0")) => Some((0, 0)),
        (Some(b"0"), Some(b"1")) => Some((0, 1)),
        (Some(b"1"), Some(b"0")) => Some((1, 0)),
        (None, None) if s.has_map => Some((0, 1)),
        _ => None,
    }
}

/// Reads one entry's content (see [`Reader::content`]).
pub(crate) struct Content<'r, 'm, 'b, R> {
    reader: &'r mut Reader<'m, 'b, R>,
}

impl<R: BufRead> Read for Content<'_, '_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = &mut *self.reader;
        let want = match &mut r.expanded {
            None => r.stored,
            Some(expanded) => match expanded.step() {
                Step::End => 0,
                Step::Zeros(k) => {
                    r.meter.check_deadline()?;
                    let n = buf.len().min(usize::try_from(k).unwrap_or(usize::MAX));
                    buf[..n].fill(0);
                    expanded.pos += n as u64;
                    return Ok(n);
                }
                Step::Data(k) => k,
            },
        };
        if want == 0 || buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(usize::try_from(want).unwrap_or(usize::MAX));
        let got = r.inner.read(&mut buf[..n])?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        r.stored -= got as u64;
        if let Some(expanded) = &mut r.expanded {
            expanded.pos += got as u64;
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests;
