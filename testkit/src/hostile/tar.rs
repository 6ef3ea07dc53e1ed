//! Raw tar entries as a hostile tool writes them: headers built byte by byte (GNU long names, PAX records,
//! sparse maps, hard links, sizes past 8 GiB), with data streamed in rather than held.

use std::io::{self, Write};

pub const REGULAR: u8 = b'0';
pub const HARD_LINK: u8 = b'1';
pub const DIRECTORY: u8 = b'5';
pub const GNU_LONG_NAME: u8 = b'L';
pub const PAX: u8 = b'x';

/// A ustar header. `name` must fit in 100 bytes; sizes of 8 GiB and more use GNU's base-256 encoding.
pub fn header(name: &[u8], size: u64, kind: u8, link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    assert!(name.len() <= 100 && link.len() <= 100, "name or link longer than a ustar field");
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(if kind == DIRECTORY { b"0000755\0" } else { b"0000644\0" });
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    if size < 8 << 30 {
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    h[136..148].copy_from_slice(b"14000000000\0");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// A header for an executable regular file (mode 0755): what the walk hands to the binary analysers.
pub fn executable_header(name: &[u8], size: u64) -> [u8; 512] {
    let mut h = header(name, size, REGULAR, b"");
    h[100..108].copy_from_slice(b"0000755\0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn padding(out: &mut dyn Write, size: u64) -> io::Result<()> {
    let pad = (512 - size % 512) % 512;
    out.write_all(&vec![0u8; pad as usize])
}

/// One entry with its data.
pub fn entry(out: &mut dyn Write, name: &str, kind: u8, data: &[u8]) {
    out.write_all(&header(name.as_bytes(), data.len() as u64, kind, b"")).expect("write tar");
    out.write_all(data).expect("write tar");
    padding(out, data.len() as u64).expect("write tar");
}

/// One entry of `size` bytes of `byte`, streamed in 1 MiB pieces.
pub fn filled(out: &mut dyn Write, name: &[u8], kind: u8, size: u64, byte: u8) {
    out.write_all(&header(name, size, kind, b"")).expect("write tar");
    repeat(out, byte, size);
    padding(out, size).expect("write tar");
}

pub fn repeat(out: &mut dyn Write, byte: u8, mut size: u64) {
    let chunk = vec![byte; 1 << 20];
    while size > 0 {
        let n = size.min(chunk.len() as u64);
        out.write_all(&chunk[..n as usize]).expect("write tar");
        size -= n;
    }
}

/// A hard link `name` → `target` (both archive paths).
pub fn hard_link(out: &mut dyn Write, name: &str, target: &str) {
    out.write_all(&header(name.as_bytes(), 0, HARD_LINK, target.as_bytes())).expect("write tar");
}

/// A PAX extended header (type `x`) with these records, applying to the next entry.
pub fn pax(out: &mut dyn Write, records: &[(&str, &str)]) {
    let mut body = Vec::new();
    for (key, value) in records {
        let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        body.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
    }
    entry(out, "./PaxHeaders/0", PAX, &body);
}

/// The end-of-archive marker: two zero blocks.
pub fn end(out: &mut dyn Write) {
    out.write_all(&[0u8; 1024]).expect("write tar");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the helpers write is a tar that the `tar` crate (another implementation) reads back.
    #[test]
    fn round_trips_through_the_tar_crate() {
        let mut out = Vec::new();
        entry(&mut out, "etc/hostname", REGULAR, b"box\n");
        pax(&mut out, &[("path", "a/very/long/name")]);
        entry(&mut out, "short", REGULAR, b"x");
        hard_link(&mut out, "etc/hostname2", "etc/hostname");
        end(&mut out);
        let mut archive = ::tar::Archive::new(&out[..]);
        let names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["etc/hostname", "a/very/long/name", "etc/hostname2"]);
    }
}
