//! `cargo auditable` data: the crate graph as zlib-compressed JSON in the ELF section `.dep-v0`.
//!
//! The section header table that says where `.dep-v0` lies is at the end of the file, after the section,
//! and the file is a stream we read once. So every zlib stream that starts like auditable JSON is inflated
//! as it streams past (a candidate that stops looking like it is dropped within a few hundred bytes), and at
//! the end the section table, captured on the way, names the one at `.dep-v0`'s offset. Memory is bounded
//! by the number of candidates in flight and the JSON size cap, not by the binary.

use std::ops::Range;

use flate2::{Decompress, FlushDecompress, Status};

use crate::analyze::rust::graph::{self, Node};
use crate::package::Package;

/// The name of the section.
pub const SECTION: &[u8] = b".dep-v0";
/// `auditable-serde` writes this first; anything else is some other zlib stream.
const PREFIX: &[u8] = b"{\"packages\":";
/// A deflate block header is at most a few hundred bytes; a real candidate has produced its prefix by then.
const PREFIX_WITHIN: u64 = 1024;
/// The JSON of a thousand-crate program is about 100 KiB.
const MAX_JSON: usize = 8 << 20;
/// Real binaries have one; false starts die within bytes. More in flight than this is not a real file.
const MAX_IN_FLIGHT: usize = 16;
/// Inflated JSON held at once, in flight and complete: a crafted binary with many streams that each
/// inflate to just under [`MAX_JSON`] is bounded by this, not by their number.
const MAX_HELD: usize = 2 * MAX_JSON;
/// Complete streams kept for the end (the one at `.dep-v0` is chosen then); real binaries have one.
const MAX_COMPLETE: usize = 16;

struct Candidate {
    offset: u64,
    inflate: Box<Decompress>,
    json: Vec<u8>,
}

/// A zlib stream that inflated to auditable-looking JSON.
struct Complete {
    offset: u64,
    /// `Err`: the stream inflated past a cap, with which.
    json: Result<Vec<u8>, String>,
}

/// What the sniffer found at the end.
#[derive(Debug)]
pub enum Found {
    Nothing,
    Packages(Vec<Package>),
    /// The data is there but inflates past a cap: not analysed, with why.
    OverCap(String),
}

#[derive(Default)]
pub struct Sniffer {
    in_flight: Vec<Candidate>,
    complete: Vec<Complete>,
    /// Absolute offset below which stream starts were already looked for.
    checked: u64,
    /// Bytes of JSON held by candidates in flight and complete ones (at most [`MAX_HELD`]).
    held: usize,
}

impl Sniffer {
    /// Looks at `buf` (first byte at absolute offset `base`); `fresh` is where bytes not seen before begin.
    pub fn feed(&mut self, base: u64, buf: &[u8], fresh: usize) {
        let mut in_flight = std::mem::take(&mut self.in_flight);
        in_flight.retain_mut(|c| self.advance(c, &buf[fresh..]));
        let start = usize::try_from(self.checked.saturating_sub(base)).unwrap_or(usize::MAX).min(buf.len());
        for at in start..buf.len().saturating_sub(1) {
            // zlib header: deflate with a 32 KiB window, no preset dictionary, valid check bits.
            if buf[at] != 0x78 || !matches!(buf[at + 1], 0x01 | 0x5e | 0x9c | 0xda) || in_flight.len() >= MAX_IN_FLIGHT
            {
                continue;
            }
            let mut c =
                Candidate { offset: base + at as u64, inflate: Box::new(Decompress::new(true)), json: Vec::new() };
            if self.advance(&mut c, &buf[at..]) {
                in_flight.push(c);
            }
        }
        self.checked = base + buf.len().saturating_sub(1) as u64;
        self.in_flight = in_flight;
    }

    /// Feeds `input` to a candidate; false once it is finished or dropped.
    fn advance(&mut self, c: &mut Candidate, mut input: &[u8]) -> bool {
        let mut out = [0u8; 16 * 1024];
        loop {
            let (before_in, before_out) = (c.inflate.total_in(), c.inflate.total_out());
            let status = c.inflate.decompress(input, &mut out, FlushDecompress::None);
            let used = (c.inflate.total_in() - before_in) as usize;
            let made = (c.inflate.total_out() - before_out) as usize;
            input = &input[used..];
            let Ok(status) = status else { return self.end(c, None) };
            if c.json.len() + made > MAX_JSON || self.held + made > MAX_HELD {
                let why = format!("cargo auditable data inflates past {MAX_JSON} bytes (or {MAX_HELD} in all)");
                return self.end(c, Some(Err(why)));
            }
            c.json.extend_from_slice(&out[..made]);
            self.held += made;
            let shown = c.json.len().min(PREFIX.len());
            if c.json[..shown] != PREFIX[..shown] || (shown < PREFIX.len() && c.inflate.total_in() > PREFIX_WITHIN) {
                return self.end(c, None);
            }
            if status == Status::StreamEnd {
                if shown < PREFIX.len() {
                    return self.end(c, None);
                }
                // Moved out of the candidate, so `end` counts it once, as kept.
                self.held -= c.json.len();
                let json = std::mem::take(&mut c.json);
                return self.end(c, Some(Ok(json)));
            }
            // Done with this input unless the output buffer filled up and more may be pending.
            if (used == 0 && made == 0) || (input.is_empty() && made < out.len()) {
                return true;
            }
        }
    }

    /// Ends a candidate, keeping `result` if there is room: what it holds no longer counts unless kept.
    fn end(&mut self, c: &mut Candidate, result: Option<Result<Vec<u8>, String>>) -> bool {
        self.held -= c.json.len();
        c.json = Vec::new();
        if let Some(json) = result
            && self.complete.len() < MAX_COMPLETE
        {
            self.held += json.as_ref().map_or(0, Vec::len);
            self.complete.push(Complete { offset: c.offset, json });
        }
        false
    }

    /// The packages, given where `.dep-v0` is: `Ok(Some(range))` from the section table, `Ok(None)` when the
    /// table has no such section, `Err(())` when the table could not be read (then a single complete
    /// candidate is trusted on its content alone).
    pub fn finish(self, section: Result<Option<Range<u64>>, ()>) -> Result<Found, String> {
        let chosen = match section {
            Ok(None) => return Ok(Found::Nothing),
            Ok(Some(range)) => match self.complete.into_iter().find(|c| c.offset == range.start) {
                Some(c) => c,
                None => {
                    return Err(format!(
                        "the {} section at byte {} is not zlib-compressed cargo auditable JSON",
                        String::from_utf8_lossy(SECTION),
                        range.start
                    ));
                }
            },
            Err(()) => match self.complete.into_iter().next() {
                Some(c) => c,
                None => return Ok(Found::Nothing),
            },
        };
        match chosen.json {
            Ok(json) => packages(&json).map(Found::Packages),
            Err(why) => Ok(Found::OverCap(why)),
        }
    }
}

/// The crate graph from the JSON: every crate but local ones (the program and path dependencies, named
/// only in paths), each with its `root › … › crate` paths.
pub fn packages(json: &[u8]) -> Result<Vec<Package>, String> {
    let info: auditable_serde::VersionInfo =
        serde_json::from_slice(json).map_err(|e| format!("cargo auditable data is not valid: {e}"))?;
    let count = info.packages.len();
    let mut nodes = Vec::with_capacity(count);
    for p in &info.packages {
        if let Some(bad) = p.dependencies.iter().find(|d| **d >= count) {
            return Err(format!("cargo auditable data: {} depends on package #{bad} of {count}", p.name));
        }
        nodes.push(Node {
            name: p.name.clone(),
            version: p.version.to_string(),
            reported: p.source != auditable_serde::Source::Local,
            deps: p.dependencies.clone(),
        });
    }
    let roots: Vec<usize> = info.packages.iter().enumerate().filter(|(_, p)| p.root).map(|(i, _)| i).collect();
    Ok(graph::packages(&nodes, &roots))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// Streams `binary` through a sniffer in 64 KiB pieces, as the executable scan does.
    fn sniff(binary: &[u8]) -> Sniffer {
        let mut sniffer = Sniffer::default();
        for (i, piece) in binary.chunks(64 * 1024).enumerate() {
            sniffer.feed((i * 64 * 1024) as u64, piece, 0);
        }
        sniffer
    }

    /// An auditable-looking stream that inflates to a gigabyte: inflation stops at the JSON cap and the
    /// section is reported as such, not read to the end.
    #[test]
    fn a_section_that_inflates_hugely_is_cut_at_the_cap() {
        let mut json = PREFIX.to_vec();
        json.resize(64 << 20, b' ');
        let section = zlib(&json);
        assert!(section.len() < 128 * 1024, "{}", section.len());
        let sniffer = sniff(&section);
        assert!(sniffer.held <= MAX_HELD);
        let found = sniffer.finish(Ok(Some(0..section.len() as u64))).unwrap();
        assert!(matches!(&found, Found::OverCap(why) if why.contains("inflates past")), "{found:?}");
    }

    /// Many streams each just under the cap: what is held at once stays under MAX_HELD, and the number
    /// of complete ones kept is capped.
    #[test]
    fn many_large_streams_are_bounded_in_all() {
        let mut json = PREFIX.to_vec();
        json.resize(MAX_JSON - 1024, b' ');
        json.extend_from_slice(b"[]}");
        let one = zlib(&json);
        let mut binary = Vec::new();
        for _ in 0..40 {
            binary.extend_from_slice(&one);
            binary.extend_from_slice(&[0u8; 64]);
        }
        let sniffer = sniff(&binary);
        assert!(sniffer.held <= MAX_HELD, "{}", sniffer.held);
        assert!(sniffer.complete.len() <= MAX_COMPLETE);
        let kept: usize = sniffer.complete.iter().filter_map(|c| c.json.as_ref().ok()).map(Vec::len).sum();
        assert_eq!(kept, sniffer.held);
    }
}
