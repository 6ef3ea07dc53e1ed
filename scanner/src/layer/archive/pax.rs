//! PAX extended header records (`"%d %s=%s\n"`, POSIX.1-2001), the keys a runtime acts on kept.

use std::io;

/// The records of one `x` header that change what the next entry is.
#[derive(Debug, Default)]
pub(super) struct Pax {
    pub path: Option<Vec<u8>>,
    pub linkpath: Option<Vec<u8>>,
    pub size: Option<u64>,
    pub sparse: SparseRecords,
}

/// GNU's PAX sparse records: 0.0 (repeated `GNU.sparse.offset`/`numbytes`), 0.1 (`GNU.sparse.map`), 1.0
/// (`major`/`minor`, map in the data).
#[derive(Debug, Default)]
pub(super) struct SparseRecords {
    pub major: Option<Vec<u8>>,
    pub minor: Option<Vec<u8>>,
    pub name: Option<Vec<u8>>,
    /// `GNU.sparse.size` (0.x) or `GNU.sparse.realsize` (1.0): the expanded size.
    pub size: Option<u64>,
    pub numblocks: Option<u64>,
    /// 0.1's comma-separated map, or 0.0's pairs joined the same way.
    pub map: Vec<u64>,
    pub has_map: bool,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed PAX extended header: {what}"))
}

pub(super) fn number(v: &[u8]) -> io::Result<u64> {
    std::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| bad("a number is not decimal"))
}

/// Parses a whole extended header body (already bounded by the `header_bytes` budget).
pub(super) fn parse(mut body: &[u8]) -> io::Result<Pax> {
    let mut pax = Pax::default();
    // Old archives pad the body with NULs after the last record.
    while !body.is_empty() && body[0] != 0 {
        let space = body.iter().position(|&b| b == b' ').ok_or_else(|| bad("record without length"))?;
        let len = number(&body[..space])? as usize;
        if len <= space + 1 || len > body.len() || body[len - 1] != b'\n' {
            return Err(bad("record length"));
        }
        let record = &body[space + 1..len - 1];
        body = &body[len..];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(|| bad("record without `=`"))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => pax.path = Some(value.to_vec()),
            b"linkpath" => pax.linkpath = Some(value.to_vec()),
            b"size" => pax.size = Some(number(value)?),
            b"GNU.sparse.major" => pax.sparse.major = Some(value.to_vec()),
            b"GNU.sparse.minor" => pax.sparse.minor = Some(value.to_vec()),
            b"GNU.sparse.name" => pax.sparse.name = Some(value.to_vec()),
            b"GNU.sparse.size" | b"GNU.sparse.realsize" => pax.sparse.size = Some(number(value)?),
            b"GNU.sparse.numblocks" => pax.sparse.numblocks = Some(number(value)?),
            b"GNU.sparse.offset" | b"GNU.sparse.numbytes" => {
                pax.sparse.map.push(number(value)?);
                pax.sparse.has_map = true;
            }
            b"GNU.sparse.map" => {
                pax.sparse.map.clear();
                pax.sparse.has_map = true;
                if !value.is_empty() {
                    for n in value.split(|&b| b == b',') {
                        pax.sparse.map.push(number(n)?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(pax)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        let pax = parse(b"30 path=a/very/long/name/here\n11 size=42\n22 GNU.sparse.map=0,5\n\0\0").unwrap();
        assert_eq!(pax.path.as_deref(), Some(&b"a/very/long/name/here"[..]));
        assert_eq!(pax.size, Some(42));
        assert_eq!(pax.sparse.map, [0, 5]);
        assert!(parse(b"99 path=x\n").is_err());
        assert!(parse(b"5 a=b").is_err());
        assert!(parse(b"12 size=abc\n").is_err());
    }
}
