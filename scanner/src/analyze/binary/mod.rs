//! Binaries: the build information Go (1.18+) and `cargo auditable` embed in ELF executables.
//!
//! An executable is read once, as the layer's tar streams it, never held whole: the ELF header and program
//! headers come from the first [`elf::HEAD`] bytes (anything without the ELF magic is dropped after four
//! bytes), then the rest passes through fixed-size buffers with a small overlap, looked at by the Go
//! scanner ([`go`]), the Go function table reader ([`pclntab`]) and the auditable sniffer ([`auditable`])
//! while the section header table is captured. A Go binary's reading stops as soon as its build information
//! is complete (the linker puts the function table before it).

mod auditable;
mod elf;
mod go;
mod pclntab;

use std::io::{self, Read};
use std::ops::Range;

use crate::analyze::{Analysis, FileContent};

/// The most of an executable we scan.
pub const SIZE_CAP: u64 = 512 * 1024 * 1024;

/// Smaller files are scripts or stubs: the smallest Go or Rust program is hundreds of KiB.
const MIN_SIZE: u64 = 16 * 1024;
const BUFFER: usize = 64 * 1024;
/// Bytes kept from one buffer to the next so a marker across the seam is seen (the Go magic is 14).
const OVERLAP: usize = 16;

/// Whether a regular file is worth scanning: executable by someone and big enough to be a program.
/// Shared libraries without an exec bit are passed over (Debian ships them 0644); Go and Rust programs are
/// what carry the build information.
pub fn is_candidate(_path: &str, mode: u32, size: u64) -> bool {
    mode & 0o111 != 0 && size >= MIN_SIZE
}

/// Scans one executable. `Ok(None)`: not ELF, or ELF without Go or auditable information.
pub fn analyze(_path: &str, reader: &mut dyn Read, size: u64) -> Result<Analysis, String> {
    let mut head = vec![0u8; elf::HEAD.min(usize::try_from(size).unwrap_or(usize::MAX))];
    let magic_len = head.len().min(elf::MAGIC.len());
    let got = read_full(reader, &mut head[..magic_len])?;
    if got < elf::MAGIC.len() || head[..got] != elf::MAGIC[..] {
        return Ok(Analysis::default());
    }
    let got = got + read_full(reader, &mut head[got..])?;
    head.truncate(got);
    let layout = elf::Layout::parse(&head, size)?;

    let mut go = go::Scanner::new(layout.data_segments.clone());
    let mut functions = pclntab::Scanner::new(layout.big_endian(), layout.nonexec_segments.clone());
    let mut sniffer = auditable::Sniffer::default();
    let mut sections = layout.section_capture().map(Capture::new);
    let mut buf = head;
    let (mut base, mut fresh) = (0u64, 0usize);
    loop {
        go.feed(base, &buf);
        functions.feed(base, &buf);
        if go.done() && !functions.reading() {
            break;
        }
        sniffer.feed(base, &buf, fresh);
        if let Some(s) = &mut sections {
            s.feed(base, &buf[fresh..]);
        }
        // Keep the overlap, then refill behind it.
        let keep = buf.len().min(OVERLAP);
        base += (buf.len() - keep) as u64;
        buf.drain(..buf.len() - keep);
        buf.resize(keep + BUFFER, 0);
        let n = read_full(reader, &mut buf[keep..])?;
        buf.truncate(keep + n);
        fresh = keep;
        if n == 0 {
            break;
        }
    }

    if let Some(info) = go.finish()? {
        return Ok(FileContent::packages(go::packages(&info, functions.finish().as_ref())).into());
    }
    let section = match &sections {
        Some(captured) if captured.is_complete() => layout.find_section(captured.bytes(), auditable::SECTION),
        _ => Err(()),
    };
    Ok(match sniffer.finish(section)? {
        auditable::Found::Nothing => Analysis::default(),
        auditable::Found::Packages(packages) => FileContent::packages(packages).into(),
        // Skipping a Rust program's dependency list hides its crates: not a clean result.
        auditable::Found::OverCap(why) => Analysis { content: None, incomplete: Some(why) },
    })
}

/// Reads until `buf` is full or the stream ends; the count read.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> Result<usize, String> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
    Ok(filled)
}

/// Keeps the bytes of one file range as the stream passes it (fed in order; overlapping feeds are fine).
struct Capture {
    range: Range<u64>,
    bytes: Vec<u8>,
}

impl Capture {
    fn new(range: Range<u64>) -> Self {
        Capture { range, bytes: Vec::new() }
    }

    fn feed(&mut self, base: u64, chunk: &[u8]) {
        let want = self.range.start + self.bytes.len() as u64;
        let end = base + chunk.len() as u64;
        if want >= self.range.end || want < base || want >= end {
            return;
        }
        let stop = end.min(self.range.end);
        self.bytes.extend_from_slice(&chunk[(want - base) as usize..(stop - base) as usize]);
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn is_complete(&self) -> bool {
        self.range.start + self.bytes.len() as u64 == self.range.end
    }
}

#[cfg(test)]
mod tests;
