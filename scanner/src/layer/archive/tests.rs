use std::io::Read;

use super::*;
use crate::budget::Budget;

mod differential;

/// What the reader makes of each entry: path, type flag after normalisation, size, link, content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    pub path: Vec<u8>,
    pub kind: tar::EntryType,
    pub size: u64,
    pub link: Option<Vec<u8>>,
    pub content: Vec<u8>,
    pub problem: Option<String>,
}

pub(super) fn read_all_with(tar: &[u8], budget: &Budget) -> io::Result<Vec<Seen>> {
    let meter = Meter::new(budget);
    let mut reader = Reader::new(tar, &meter);
    let mut out = Vec::new();
    while let Some(e) = reader.next()? {
        let mut content = Vec::new();
        if e.problem.is_none() {
            reader.content().read_to_end(&mut content)?;
            assert_eq!(content.len() as u64, e.size, "{:?}", String::from_utf8_lossy(&e.path));
        }
        out.push(Seen {
            path: e.path,
            kind: e.header.entry_type(),
            size: e.size,
            link: e.link,
            content,
            problem: e.problem,
        });
    }
    Ok(out)
}

pub(super) fn read_all(tar: &[u8]) -> Vec<Seen> {
    read_all_with(tar, &Budget::default()).unwrap()
}

/// A raw header block: name, type flag, size; everything else plausible. The checksum is set.
fn block(name: &[u8], flag: u8, size: u64) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_mode(0o644);
    h.set_size(size);
    h.as_mut_bytes()[156] = flag;
    h.set_cksum();
    h.as_bytes().to_vec()
}

fn padded(mut data: Vec<u8>) -> Vec<u8> {
    data.resize(data.len().div_ceil(512) * 512, 0);
    data
}

fn entry(name: &[u8], flag: u8, data: &[u8]) -> Vec<u8> {
    let mut out = block(name, flag, data.len() as u64);
    out.extend(padded(data.to_vec()));
    out
}

fn end(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend([0u8; 1024]);
    tar
}

fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut digits = 1;
    while (body.len() + digits).to_string().len() != digits {
        digits += 1;
    }
    format!("{}{body}", body.len() + digits)
}

#[test]
fn pax_records_are_self_consistent() {
    for (k, v) in [("path", "a"), ("path", &"x".repeat(95)), ("size", "7")] {
        let r = pax_record(k, v);
        let (n, _) = r.split_once(' ').unwrap();
        assert_eq!(n.parse::<usize>().unwrap(), r.len(), "{r}");
    }
}

#[test]
fn gnu_long_name_over_the_budget_is_skipped_as_a_stream() {
    let huge = vec![b'a'; 300_000];
    let mut tar = entry(b"././@LongLink", b'L', &huge);
    tar.extend(entry(b"short-name", b'0', b"data"));
    tar.extend(entry(b"next", b'0', b"more"));
    let budget = Budget { header_bytes: 64 * 1024, ..Budget::default() };
    let seen = read_all_with(&end(tar), &budget).unwrap();
    assert_eq!(seen.len(), 2);
    let problem = seen[0].problem.as_deref().unwrap();
    assert!(problem.contains("GNU long name is 300000 bytes") && problem.contains("header_bytes"), "{problem}");
    assert_eq!((seen[1].path.as_slice(), seen[1].content.as_slice()), (&b"next"[..], &b"more"[..]));
}

#[test]
fn pax_path_size_and_precedence() {
    let long = "d/".repeat(80) + "file";
    let records = pax_record("path", &long) + &pax_record("linkpath", "target");
    let mut tar = entry(b"PaxHeaders/x", b'x', records.as_bytes());
    tar.extend(entry(b"truncated", b'2', b""));
    // A PAX size overrides the header's; a GNU long name overrides a PAX path.
    let mut sized = entry(b"PaxHeaders/y", b'x', (pax_record("size", "3") + &pax_record("path", "pax")).as_bytes());
    sized.extend(entry(b"././@LongLink", b'L', b"gnu-long\0"));
    sized.extend(block(b"header", b'0', 999));
    sized.extend(padded(b"abc".to_vec()));
    tar.extend(sized);
    let seen = read_all(&end(tar));
    assert_eq!(seen[0].path, long.as_bytes());
    assert_eq!(seen[0].link.as_deref(), Some(&b"target"[..]));
    assert_eq!((seen[1].path.as_slice(), seen[1].content.as_slice()), (&b"gnu-long"[..], &b"abc"[..]));
}

#[test]
fn header_only_entries_have_no_data_whatever_their_size() {
    // A hard link with a size: a runtime (Go's archive/tar) reads no data, so neither do we; the next
    // header follows at once.
    let mut tar = block(b"var/lib/dpkg/status", b'1', 1024);
    tar.extend(entry(b"after", b'0', b"x"));
    let seen = read_all(&end(tar));
    assert_eq!(seen.len(), 2);
    assert_eq!((seen[0].kind, seen[0].size), (tar::EntryType::Link, 0));
    assert_eq!(seen[1].path, b"after");
}

#[test]
fn old_type_with_a_slash_is_a_directory_and_a_zero_block_then_data_is_an_error() {
    let seen = read_all(&end(entry(b"dir/", b'\0', b"")));
    assert_eq!(seen[0].kind, tar::EntryType::Directory);
    let mut bad = entry(b"a", b'0', b"x");
    bad.extend([0u8; 512]);
    bad.extend(entry(b"hidden", b'0', b"y"));
    assert!(read_all_with(&bad, &Budget::default()).is_err());
    // No end blocks at all is accepted, as Go does.
    assert_eq!(read_all(&entry(b"a", b'0', b"x")).len(), 1);
    let mut corrupt = entry(b"a", b'0', b"x");
    corrupt[0] = b'b';
    assert!(read_all_with(&corrupt, &Budget::default()).is_err());
}

#[test]
fn pax_sparse_1_0_is_expanded() {
    let records = pax_record("GNU.sparse.major", "1")
        + &pax_record("GNU.sparse.minor", "0")
        + &pax_record("GNU.sparse.name", "var/lib/dpkg/status")
        + &pax_record("GNU.sparse.realsize", "2000");
    let mut data = padded(b"2\n0\n3\n1500\n2\n".to_vec());
    data.extend(b"abcde");
    let mut tar = entry(b"PaxHeaders/s", b'x', records.as_bytes());
    tar.extend(entry(b"GNUSparseFile.0/status", b'0', &data));
    let seen = read_all(&end(tar));
    assert_eq!(seen[0].path, b"var/lib/dpkg/status");
    assert_eq!(seen[0].size, 2000);
    let mut want = vec![0u8; 2000];
    want[..3].copy_from_slice(b"abc");
    want[1500..1502].copy_from_slice(b"de");
    assert_eq!(seen[0].content, want);
}

#[test]
fn invalid_sparse_map_is_a_problem_of_the_entry_not_the_archive() {
    // The map promises 10 bytes of data, 3 are stored.
    let records = pax_record("GNU.sparse.map", "0,10") + &pax_record("GNU.sparse.size", "10");
    let mut tar = entry(b"PaxHeaders/s", b'x', records.as_bytes());
    tar.extend(entry(b"f", b'0', b"abc"));
    tar.extend(entry(b"g", b'0', b"ok"));
    let seen = read_all(&end(tar));
    assert!(seen[0].problem.as_deref().unwrap().contains("sparse"));
    assert_eq!(seen[1].content, b"ok");
}

#[test]
fn old_gnu_sparse_is_expanded() {
    let mut h = tar::Header::new_gnu();
    h.set_path("big").unwrap();
    h.set_mode(0o644);
    h.set_size(4);
    h.set_entry_type(tar::EntryType::GNUSparse);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.sparse[0].set_offset(100);
    gnu.sparse[0].set_length(4);
    gnu.sparse[1].set_offset(1000);
    gnu.sparse[1].set_length(0);
    gnu.set_real_size(1000);
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend(padded(b"wxyz".to_vec()));
    let seen = read_all(&end(tar));
    assert_eq!((seen[0].kind, seen[0].size), (tar::EntryType::Regular, 1000));
    assert_eq!(&seen[0].content[100..104], b"wxyz");
    assert_eq!(seen[0].content.iter().filter(|&&b| b != 0).count(), 4);
}
