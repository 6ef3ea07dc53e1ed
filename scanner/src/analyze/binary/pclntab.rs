//! The Go function table (pclntab): the names of the functions the linker kept, read as the binary
//! streams past. Go writes it for the runtime's tracebacks, so it survives `strip` and `-ldflags=-s -w`.
//!
//! Layout (Go 1.16, 1.18 and 1.20; `runtime/symtab.go`'s `pcHeader`, `debug/gosym`): an 8-byte prefix
//! (magic, two zero pad bytes, the instruction size quantum, the pointer size), then pointer-sized words:
//! the function count, the file count, (1.18+) the text start, and the offsets, from the table's start, of
//! the function name table, the compilation unit table, the file table, the pc-value tables and the
//! function table.
//!
//! Only the name table is kept (the pc-value tables are most of the bytes): NUL-terminated names of every
//! function the linker kept and of every function inlined into one of them (inline trees name their
//! callees there). That union is what govulncheck collects from the function table and the inline trees, so
//! a vulnerable function inlined away still counts as present.
//! The table is found by its magic followed by the zero pad bytes; a candidate whose header does not hold
//! up is dropped and the search goes on. Anything unreadable yields no table, so findings stay `unknown`.

use std::ops::Range;

use memchr::memmem;

use super::Capture;

/// The most of the binary the table may span: real programs (Kubernetes, Docker) stay under 20 MiB.
const MAX_TABLE: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Go116,
    /// 1.18 and 1.20 share the layout; 1.20 changed only the magic.
    Go118,
}

impl Version {
    fn of(magic: u32) -> Option<Version> {
        match magic {
            0xffff_fffa => Some(Version::Go116),
            0xffff_fff0 | 0xffff_fff1 => Some(Version::Go118),
            _ => None,
        }
    }
}

/// Byte order and field sizes of one table.
#[derive(Debug, Clone, Copy)]
struct Format {
    version: Version,
    big_endian: bool,
    ptr_size: usize,
}

impl Format {
    fn header_len(self) -> usize {
        8 + self.ptr_size * if self.version == Version::Go116 { 7 } else { 8 }
    }

    /// Bytes of one function table entry.
    fn entry_len(self) -> usize {
        if self.version == Version::Go116 { 2 * self.ptr_size } else { 8 }
    }

    fn uint(self, bytes: &[u8], at: usize, size: usize) -> Option<u64> {
        let b = bytes.get(at..at.checked_add(size)?)?;
        let mut v = 0u64;
        for i in 0..size {
            let byte = if self.big_endian { b[i] } else { b[size - 1 - i] };
            v = (v << 8) | u64::from(byte);
        }
        Some(v)
    }

    fn word(self, header: &[u8], index: usize) -> Option<u64> {
        self.uint(header, 8 + index * self.ptr_size, self.ptr_size)
    }
}

/// The 8-byte prefix as it must read: magic, zero pads, quantum 1/2/4, pointer size 4/8.
fn prefix(bytes: &[u8]) -> Option<Format> {
    let p: &[u8; 8] = bytes.get(..8)?.try_into().ok()?;
    if p[4] != 0 || p[5] != 0 || !matches!(p[6], 1 | 2 | 4) || !matches!(p[7], 4 | 8) {
        return None;
    }
    let magic = [p[0], p[1], p[2], p[3]];
    let (version, big_endian) = match (Version::of(u32::from_le_bytes(magic)), Version::of(u32::from_be_bytes(magic))) {
        (Some(v), _) => (v, false),
        (None, Some(v)) => (v, true),
        (None, None) => return None,
    };
    Some(Format { version, big_endian, ptr_size: usize::from(p[7]) })
}

enum State {
    /// Looking for the magic; positions below `checked` were looked at.
    Searching {
        checked: u64,
    },
    Header {
        format: Format,
        capture: Capture,
    },
    Names(Capture),
    Done(Option<Table>),
}

/// Watches the stream for the table.
pub struct Scanner {
    state: State,
    /// Bytes every table of the binary's byte order holds, `lead` bytes in: little-endian magics end in
    /// `ff ff ff` and the zero pads follow; big-endian ones start with `ff ff ff`.
    finder: memmem::Finder<'static>,
    lead: usize,
    segments: Vec<Range<u64>>,
}

impl Scanner {
    /// `segments`: the file ranges of the binary's non-executable loadable segments, where the linker puts
    /// the table (read-only data, or relocation read-only data in position-independent executables).
    pub fn new(big_endian: bool, segments: Vec<Range<u64>>) -> Self {
        let (pattern, lead): (&'static [u8], usize) =
            if big_endian { (b"\xff\xff\xff", 0) } else { (b"\xff\xff\xff\x00\x00", 1) };
        Scanner { state: State::Searching { checked: 0 }, finder: memmem::Finder::new(pattern), lead, segments }
    }

    /// Looks at `buf`, whose first byte is at absolute offset `base` (buffers may overlap).
    pub fn feed(&mut self, base: u64, buf: &[u8]) {
        loop {
            match &mut self.state {
                State::Searching { .. } => {
                    let Some(found) = self.search(base, buf) else { return };
                    self.state = found;
                }
                State::Header { format, capture } => {
                    capture.feed(base, buf);
                    if !capture.is_complete() {
                        return;
                    }
                    let start = capture.range.start;
                    self.state = match tables(*format, start, capture.bytes()) {
                        Some(tables) => tables,
                        // A false magic: search on past it (what follows is still in `buf` or to come).
                        None => State::Searching { checked: start + 1 },
                    };
                }
                State::Names(names) => {
                    names.feed(base, buf);
                    if names.is_complete() {
                        let table = Table::new(std::mem::take(&mut names.bytes));
                        self.state = State::Done(table);
                    }
                    return;
                }
                State::Done(_) => return,
            }
        }
    }

    /// Finds the next candidate whose 8-byte prefix holds up; `None` when `buf` has none (yet).
    fn search(&mut self, base: u64, buf: &[u8]) -> Option<State> {
        let State::Searching { checked } = &mut self.state else { return None };
        // A candidate is decided when its 8-byte prefix is in `buf`; later ones wait for the next buffer.
        let decidable = (base + buf.len() as u64).saturating_sub(7);
        let mut at = (*checked).max(base);
        while at < decidable {
            // Only non-executable segments can hold the table: code, most of the bytes before it, is skipped.
            let Some(segment) = self.segments.iter().filter(|s| s.end > at).min_by_key(|s| s.start) else {
                at = u64::MAX;
                break;
            };
            at = at.max(segment.start);
            if at >= decidable {
                break;
            }
            let stop = segment.end.min(decidable);
            let hay = &buf[(at - base) as usize + self.lead..((stop - base) as usize + 8).min(buf.len())];
            match self.finder.find(hay).map(|i| at + i as u64) {
                Some(pos) if pos < stop => {
                    if let Some(format) = prefix(&buf[(pos - base) as usize..]) {
                        let mut capture = Capture::new(pos..pos + format.header_len() as u64);
                        capture.feed(base, buf);
                        return Some(State::Header { format, capture });
                    }
                    at = pos + 1;
                }
                _ => at = stop,
            }
        }
        *checked = at.max(*checked);
        None
    }

    /// Whether a table is being read, so the stream should go on even if the build info is complete.
    pub fn reading(&self) -> bool {
        matches!(self.state, State::Header { .. } | State::Names(_))
    }

    /// The table, if one was found and read whole.
    pub fn finish(self) -> Option<Table> {
        match self.state {
            State::Done(table) => table,
            _ => None,
        }
    }
}

/// From a complete header: the name table to capture, or `None` when the header does not hold up.
fn tables(format: Format, start: u64, header: &[u8]) -> Option<State> {
    let nfunc = format.word(header, 0)?;
    let offsets: Vec<u64> = (if format.version == Version::Go116 { 2..7 } else { 3..8 })
        .map(|i| format.word(header, i))
        .collect::<Option<_>>()?;
    let (names, cu, pcln) = (offsets[0], offsets[1], offsets[4]);
    let ordered = offsets.windows(2).all(|w| w[0] <= w[1]);
    let functab_len = nfunc.checked_add(1)?.checked_mul(format.entry_len() as u64)?;
    let fits = pcln.checked_add(functab_len).is_some_and(|end| end <= MAX_TABLE);
    // Every function has a name: fewer name bytes than functions means this is not a table.
    if nfunc == 0 || !ordered || names < format.header_len() as u64 || !fits || cu - names < nfunc {
        return None;
    }
    Some(State::Names(Capture::new(start + names..start + cu)))
}

/// A function name table read whole.
#[derive(Debug)]
pub struct Table {
    names: Vec<u8>,
}

impl Table {
    /// The table must end with a name's terminating NUL.
    fn new(names: Vec<u8>) -> Option<Table> {
        (names.last() == Some(&0)).then_some(Table { names })
    }

    /// The function names, as the linker wrote them (`net/http.(*Client).Do`, `gopkg.in/yaml%2ev3.Unmarshal`),
    /// borrowed from the table; names that are not UTF-8 are passed over.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.split(|b| *b == 0).filter(|n| !n.is_empty()).filter_map(|n| std::str::from_utf8(n).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Go 1.18-layout table (little-endian, 64-bit) with the given function names, and padding before it.
    fn table_118(lead: usize, funcs: &[&str]) -> Vec<u8> {
        let ptr = 8u64;
        let header_len = 8 + 8 * ptr;
        let mut names = Vec::new();
        let mut name_offs = Vec::new();
        for f in funcs {
            name_offs.push(names.len() as u32);
            names.extend(f.as_bytes());
            names.push(0);
        }
        let names_off = header_len;
        let cu = names_off + names.len() as u64;
        let pctab_junk = 100u64;
        let pcln = cu + pctab_junk;
        let functab_len = (funcs.len() as u64 + 1) * 8;
        let mut t = vec![0xaa; lead];
        let start = t.len();
        t.extend(0xffff_fff0u32.to_le_bytes());
        t.extend([0, 0, 1, 8]);
        for w in [funcs.len() as u64, 1, 0x401000, names_off, cu, cu, cu, pcln] {
            t.extend(w.to_le_bytes());
        }
        t.extend(&names);
        t.resize(start + pcln as usize, 0x55);
        for i in 0..=funcs.len() {
            t.extend((i as u32 * 16).to_le_bytes());
            t.extend((functab_len as u32 + i as u32 * 12).to_le_bytes());
        }
        for off in name_offs {
            t.extend(0u32.to_le_bytes());
            t.extend(off.to_le_bytes());
            t.extend(0u32.to_le_bytes());
        }
        t.extend([0xcc; 64]);
        t
    }

    fn scan(bytes: &[u8], chunk: usize) -> Option<Vec<String>> {
        // Two segments, so the search goes on from one to the next.
        scan_in(bytes, chunk, false, vec![0..16, 16..bytes.len() as u64])
    }

    fn scan_in(bytes: &[u8], chunk: usize, big_endian: bool, segments: Vec<Range<u64>>) -> Option<Vec<String>> {
        let mut s = Scanner::new(big_endian, segments);
        let mut base = 0;
        while base < bytes.len() {
            // Overlapping chunks as the binary analyser feeds them.
            let from = base.saturating_sub(16);
            let to = (base + chunk).min(bytes.len());
            s.feed(from as u64, &bytes[from..to]);
            base = to;
        }
        s.finish().map(|t| t.names().map(str::to_owned).collect())
    }

    /// Go 1.16's layout (no text start word), big-endian, 32-bit: as s390x or 32-bit MIPS builds write it.
    #[test]
    fn go116_big_endian_32_bit() {
        let names = b"main.main\0os.Exit\0";
        let (header_len, nfunc) = (8 + 7 * 4u32, 2u32);
        let cu = header_len + names.len() as u32;
        let mut t = vec![0u8; 5];
        t.extend(0xffff_fffau32.to_be_bytes());
        t.extend([0, 0, 4, 4]);
        for w in [nfunc, 1, header_len, cu, cu, cu, cu] {
            t.extend(w.to_be_bytes());
        }
        t.extend(names);
        t.extend([0; 3 * 8 + 32]);
        let whole: Range<u64> = 0..t.len() as u64;
        let got = scan_in(&t, 7, true, vec![whole.clone()]);
        assert_eq!(got, Some(vec!["main.main".to_string(), "os.Exit".to_string()]));
        assert_eq!(scan_in(&t, 7, false, vec![whole]), None, "read as little-endian it is no table");
    }

    #[test]
    fn tables_in_code_are_not_looked_for() {
        let bytes = table_118(37, &["a.b"]);
        assert_eq!(scan_in(&bytes, 4096, false, vec![0..30, 200..bytes.len() as u64]), None);
        assert!(scan_in(&bytes, 4096, false, vec![0..30, 37..bytes.len() as u64]).is_some());
    }

    #[test]
    fn reads_names_across_any_buffer_seams() {
        let funcs = ["main.main", "net/http.(*Client).Do", "gopkg.in/yaml%2ev3.Unmarshal"];
        // Decoys: a bad quantum, then a well-formed prefix with no functions.
        let mut bytes = b"\xf0\xff\xff\xff\x00\x00\x03\x08".to_vec();
        bytes.extend(b"\xf0\xff\xff\xff\x00\x00\x01\x08");
        bytes.extend([0; 64]);
        bytes.extend(table_118(37, &funcs));
        for chunk in [17, 64, 1000, 1 << 16] {
            assert_eq!(scan(&bytes, chunk).as_deref(), Some(&funcs.map(String::from)[..]), "chunk {chunk}");
        }
    }

    #[test]
    fn hostile_headers_yield_no_table() {
        let good = table_118(0, &["a.b"]);
        // Function count zero, offsets out of order, a name table not ending in NUL, a cut-off table.
        let mut zero = good.clone();
        zero[8..16].copy_from_slice(&0u64.to_le_bytes());
        let mut disorder = good.clone();
        disorder[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        let mut unterminated = good.clone();
        unterminated[72 + 3] = b'c';
        let cut = good[..72 + 2].to_vec();
        for (what, bytes) in [("zero", zero), ("disorder", disorder), ("unterminated", unterminated), ("cut", cut)] {
            assert_eq!(scan(&bytes, 4096), None, "{what}");
        }
        assert!(scan(&good, 4096).is_some());
    }
}
