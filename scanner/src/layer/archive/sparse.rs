//! Sparse files, expanded to what a runtime writes to disk: the stored fragments at their offsets, zeros in
//! the holes. GNU's old format (type `S`, map in the header and extension blocks) and the PAX formats 0.0,
//! 0.1 (map in records) and 1.0 (map at the start of the data), as GNU tar writes them and Go's
//! `archive/tar` reads them.

use std::io;

/// One stored fragment: `len` bytes of data at `offset` in the expanded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fragment {
    pub offset: u64,
    pub len: u64,
}

pub(super) fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("invalid sparse map: {what}"))
}

/// Pairs a flat `offset, len, offset, len…` list.
pub(super) fn pairs(flat: &[u64]) -> io::Result<Vec<Fragment>> {
    if !flat.len().is_multiple_of(2) {
        return Err(bad("odd number of values"));
    }
    Ok(flat.chunks_exact(2).map(|p| Fragment { offset: p[0], len: p[1] }).collect())
}

/// Fragments must be in order, not overlap and lie within the expanded size; their data must be exactly
/// what is stored. Anything else would make two readers see two different files.
pub(super) fn validate(map: &[Fragment], size: u64, stored: u64) -> io::Result<()> {
    let mut end = 0u64;
    let mut data = 0u64;
    for f in map {
        let f_end = f.offset.checked_add(f.len).ok_or_else(|| bad("fragment overflows"))?;
        if f.offset < end || f_end > size {
            return Err(bad("fragments overlap, are out of order or lie past the file's size"));
        }
        end = f_end;
        data += f.len;
    }
    if data != stored {
        return Err(bad("the fragments' lengths do not add up to the stored data"));
    }
    Ok(())
}

/// Parses the PAX 1.0 map at the start of the data: decimal numbers one per line (count, then pairs),
/// padded to a block. `head` is what was read so far; returns the map and the bytes it took (with padding),
/// or `None` when more bytes are needed.
pub(super) fn parse_1_0(head: &[u8]) -> io::Result<Option<(Vec<Fragment>, usize)>> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut want: Option<usize> = None;
    for (i, &b) in head.iter().enumerate() {
        if b != b'\n' {
            continue;
        }
        lines.push(super::pax::number(&head[start..i]).map_err(|_| bad("not a decimal number"))?);
        start = i + 1;
        if want.is_none() {
            let count = lines[0] as usize;
            want = Some(count.checked_mul(2).and_then(|n| n.checked_add(1)).ok_or_else(|| bad("count"))?);
        }
        if Some(lines.len()) == want {
            let used = start.div_ceil(512) * 512;
            return Ok(Some((pairs(&lines[1..])?, used)));
        }
    }
    Ok(None)
}

/// Where the reader is in an expanded sparse file.
#[derive(Debug)]
pub(super) struct Expanded {
    pub map: Vec<Fragment>,
    pub next: usize,
    pub pos: u64,
    pub size: u64,
}

/// What to produce next at `pos`: stored bytes of the current fragment, or zeros up to the next one.
pub(super) enum Step {
    Data(u64),
    Zeros(u64),
    End,
}

impl Expanded {
    pub fn step(&mut self) -> Step {
        while let Some(f) = self.map.get(self.next) {
            if self.pos >= f.offset + f.len {
                self.next += 1;
                continue;
            }
            return if self.pos < f.offset {
                Step::Zeros(f.offset - self.pos)
            } else {
                Step::Data(f.offset + f.len - self.pos)
            };
        }
        if self.pos < self.size { Step::Zeros(self.size - self.pos) } else { Step::End }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps() {
        let map = pairs(&[0, 5, 10, 0]).unwrap();
        assert!(validate(&map, 10, 5).is_ok());
        assert!(validate(&map, 9, 5).is_err());
        assert!(validate(&map, 10, 6).is_err());
        assert!(validate(&pairs(&[5, 5, 0, 1]).unwrap(), 10, 6).is_err());
        assert!(pairs(&[1]).is_err());
        let mut head = b"2\n0\n3\n8\n2\n".to_vec();
        assert_eq!(parse_1_0(&head[..5]).unwrap(), None);
        head.resize(512, 0);
        let (map, used) = parse_1_0(&head).unwrap().unwrap();
        assert_eq!(map, [Fragment { offset: 0, len: 3 }, Fragment { offset: 8, len: 2 }]);
        assert_eq!(used, 512);
    }
}
