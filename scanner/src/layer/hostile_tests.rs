//! Hostile layers: each budget, each runtime tar semantic the walk must honour, each way a layer could
//! look clean while analysis was skipped.

use std::io::Write;
use std::time::Duration;

use super::tests::{STATUS, digest_of, gzip, tar_of};
use super::*;

fn run(blob: &[u8], budget: &Budget) -> Result<LayerInventory> {
    analyze_layer_with(blob, &digest_of(blob), Scanner::builtin(), budget)
}

fn raw_header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_mode(0o644);
    h.set_size(size);
    h.set_entry_type(kind);
    h.set_cksum();
    h
}

fn append(builder: &mut tar::Builder<Vec<u8>>, path: &str, kind: tar::EntryType, data: &[u8]) {
    builder.append(&raw_header(path, kind, data.len() as u64), data).unwrap();
}

fn link(builder: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
    let mut h = raw_header(path, tar::EntryType::Link, 0);
    h.set_link_name(target).unwrap();
    h.set_cksum();
    builder.append(&h, &[][..]).unwrap();
}

fn reasons(inv: &LayerInventory) -> String {
    format!("{:?}", inv.incomplete)
}

/// A zstd stream of a tar whose one file claims 1 GiB of zeros: the same small frame of 1 MiB of zeros
/// repeated (zstd decodes concatenated frames as one stream), so the test stays fast.
fn zstd_bomb(frames: usize) -> Vec<u8> {
    let header = raw_header("junk", tar::EntryType::Regular, 1 << 30);
    let mut blob = zstd::encode_all(&header.as_bytes()[..], 1).unwrap();
    let zeros = zstd::encode_all(&vec![0u8; 1 << 20][..], 1).unwrap();
    for _ in 0..frames {
        blob.extend_from_slice(&zeros);
    }
    blob
}

#[test]
fn a_zstd_bomb_stops_at_the_decompressed_budget_and_is_still_verified() {
    let blob = zstd_bomb(64);
    assert!(blob.len() < 64 * 1024, "{} bytes", blob.len());
    let budget = Budget { decompressed_bytes: 16 << 20, ..Budget::default() };
    let inv = run(&blob, &budget).unwrap();
    assert!(reasons(&inv).contains("`decompressed_bytes`"), "{}", reasons(&inv));
    assert!(inv.stats.uncompressed_bytes < 20 << 20, "{}", inv.stats.uncompressed_bytes);
    assert_eq!(inv.stats.blob_bytes, blob.len() as u64, "the whole compressed blob is hashed");
    let err = analyze_layer_with(&blob[..], &digest_of(b"x"), Scanner::builtin(), &budget).unwrap_err();
    assert_eq!(err.kind, ErrorKind::DigestMismatch);
}

#[test]
fn a_zstd_bomb_stops_at_the_ratio_past_its_floor() {
    let budget = Budget { max_ratio: 100, ratio_floor_bytes: 4 << 20, ..Budget::default() };
    let inv = run(&zstd_bomb(64), &budget).unwrap();
    assert!(reasons(&inv).contains("`max_ratio`"), "{}", reasons(&inv));
    // Under the floor a very compressible layer is fine.
    let budget = Budget { max_ratio: 100, ratio_floor_bytes: 1 << 30, ..Budget::default() };
    let inv = run(&zstd_bomb(8), &budget);
    assert!(inv.is_err(), "the truncated bomb is read to its end and found truncated");
}

#[test]
fn the_wall_deadline_stops_the_walk() {
    let blob = gzip(&tar_of(&[("var/lib/dpkg/status", STATUS)]));
    let inv = run(&blob, &Budget { wall: Duration::ZERO, ..Budget::default() }).unwrap();
    assert!(reasons(&inv).contains("`wall`"), "{}", reasons(&inv));
    assert!(inv.files.is_empty());
}

#[test]
fn long_names_and_pax_headers_over_the_budget_are_streamed_past_and_reported() {
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "././@LongLink", tar::EntryType::GNULongName, &vec![b'a'; 8 << 20]);
    append(&mut b, "hidden-by-long-name", tar::EntryType::Regular, b"x");
    append(&mut b, "PaxHeaders/x", tar::EntryType::XHeader, &vec![b'9'; 4 << 20]);
    append(&mut b, "hidden-by-pax", tar::EntryType::Regular, b"x");
    append(&mut b, "var/lib/dpkg/status", tar::EntryType::Regular, STATUS);
    let blob = gzip(&b.into_inner().unwrap());
    assert!(blob.len() < 100 * 1024);
    let inv = run(&blob, &Budget::default()).unwrap();
    assert_eq!(inv.incomplete.len(), 2, "{}", reasons(&inv));
    assert!(inv.incomplete[0].reason.contains("GNU long name is 8388608 bytes"), "{}", reasons(&inv));
    assert_eq!(inv.incomplete[0].path.as_deref(), Some("/hidden-by-long-name"));
    assert!(inv.incomplete[1].reason.contains("`header_bytes`"), "{}", reasons(&inv));
    assert!(inv.files.contains_key("var/lib/dpkg/status"), "the rest of the layer is analysed");
}

#[test]
fn the_declared_size_bounds_the_read() {
    let blob = gzip(&tar_of(&[("var/lib/dpkg/status", STATUS)]));
    let mut longer = blob.clone();
    longer.extend_from_slice(b"bytes past the declared size are never read");
    let size = blob.len() as u64;
    let d = digest_of(&blob);
    let inv = analyze_layer_sized(&longer[..], &d, Some(size), Scanner::builtin(), &Budget::default()).unwrap();
    assert_eq!(inv.stats.blob_bytes, size);
    let err = analyze_layer_sized(&blob[..], &d, Some(size + 1), Scanner::builtin(), &Budget::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::DigestMismatch);
    assert!(err.message.contains("declared"), "{err}");
}

#[test]
fn a_hard_linked_package_db_is_analysed_or_reported() {
    // The target was analysed as the same kind of file: the link gets its content.
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "var/lib/dpkg/status.d/base", tar::EntryType::Regular, STATUS);
    link(&mut b, "var/lib/dpkg/status", "./var/lib/dpkg/status.d/base");
    let inv = run(&b.into_inner().unwrap(), &Budget::default()).unwrap();
    assert!(inv.is_complete(), "{}", reasons(&inv));
    assert_eq!(inv.files.get("var/lib/dpkg/status"), inv.files.get("var/lib/dpkg/status.d/base"));
    assert!(inv.files.contains_key("var/lib/dpkg/status"));

    // The target was read as nothing of interest: its content is gone, so the layer says so.
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "tmp/db", tar::EntryType::Regular, STATUS);
    link(&mut b, "var/lib/dpkg/status", "tmp/db");
    let inv = run(&b.into_inner().unwrap(), &Budget::default()).unwrap();
    assert_eq!(inv.incomplete.len(), 1);
    assert_eq!(inv.incomplete[0].path.as_deref(), Some("/var/lib/dpkg/status"));
    assert!(inv.incomplete[0].reason.contains("/tmp/db"), "{}", reasons(&inv));

    // The target is in a lower layer: left to the merge.
    let mut b = tar::Builder::new(Vec::new());
    link(&mut b, "var/lib/dpkg/status", "var/lib/dpkg/status.d/base");
    let inv = run(&b.into_inner().unwrap(), &Budget::default()).unwrap();
    assert!(inv.is_complete());
    assert_eq!(inv.hardlinks.get("var/lib/dpkg/status").map(String::as_str), Some("var/lib/dpkg/status.d/base"));
}

#[test]
fn a_package_db_stored_as_a_pax_sparse_file_is_analysed() {
    let mut b = tar::Builder::new(Vec::new());
    let realsize = STATUS.len().to_string();
    b.append_pax_extensions([
        ("GNU.sparse.major", &b"1"[..]),
        ("GNU.sparse.minor", &b"0"[..]),
        ("GNU.sparse.name", &b"var/lib/dpkg/status"[..]),
        ("GNU.sparse.realsize", realsize.as_bytes()),
    ])
    .unwrap();
    let mut data = format!("1\n0\n{realsize}\n").into_bytes();
    data.resize(512, 0);
    data.extend_from_slice(STATUS);
    append(&mut b, "GNUSparseFile.0/status", tar::EntryType::Regular, &data);
    let inv = run(&gzip(&b.into_inner().unwrap()), &Budget::default()).unwrap();
    assert!(inv.is_complete(), "{}", reasons(&inv));
    assert!(inv.files.contains_key("var/lib/dpkg/status"), "{:?}", inv.files.keys());
}

#[test]
fn a_package_db_over_its_cap_makes_the_layer_incomplete() {
    // An old GNU sparse file claiming 65 MiB: over dpkg's 64 MiB cap without a byte of it being stored.
    let mut h = raw_header("var/lib/dpkg/status", tar::EntryType::GNUSparse, STATUS.len() as u64);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.sparse[0].set_offset(0);
    gnu.sparse[0].set_length(STATUS.len() as u64);
    gnu.set_real_size(65 << 20);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, STATUS).unwrap();
    let inv = run(&b.into_inner().unwrap(), &Budget::default()).unwrap();
    assert_eq!(inv.incomplete.len(), 1, "{}", reasons(&inv));
    assert_eq!(inv.incomplete[0].path.as_deref(), Some("/var/lib/dpkg/status"));
    assert!(inv.incomplete[0].reason.contains("68157440 bytes is over"), "{}", reasons(&inv));
}

#[test]
fn an_empty_whiteout_deletes_nothing() {
    let blob = tar_of(&[(".wh.", b""), ("etc/.wh.", b""), ("var/lib/dpkg/status", STATUS)]);
    let inv = run(&blob, &Budget::default()).unwrap();
    assert!(inv.whiteouts.is_empty(), "{:?}", inv.whiteouts);
    assert_eq!(inv.warnings.len(), 2);
    assert!(inv.warnings[0].message.contains("invalid"), "{:?}", inv.warnings);
}

#[test]
fn a_name_that_is_not_utf8_is_a_warning_and_the_rest_is_analysed() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = raw_header("x", tar::EntryType::Regular, 1);
    h.as_old_mut().name[..9].copy_from_slice(b"usr/caf\xe9\0");
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    append(&mut b, "var/lib/dpkg/status", tar::EntryType::Regular, STATUS);
    let inv = run(&b.into_inner().unwrap(), &Budget::default()).unwrap();
    assert!(inv.is_complete());
    assert_eq!(inv.warnings.len(), 1);
    assert_eq!(inv.warnings[0].path, "/usr/caf\u{fffd}");
    assert!(inv.files.contains_key("var/lib/dpkg/status"));
}

#[test]
fn a_gzip_bomb_after_the_end_of_the_archive_costs_nothing_but_hashing() {
    let mut tar = tar_of(&[("var/lib/dpkg/status", STATUS)]);
    tar.extend(vec![0u8; 32 << 20]);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&tar).unwrap();
    let blob = enc.finish().unwrap();
    let inv = run(&blob, &Budget { decompressed_bytes: 1 << 20, ..Budget::default() }).unwrap();
    assert!(inv.is_complete(), "nothing a runtime unpacks was skipped: {}", reasons(&inv));
    assert!(inv.files.contains_key("var/lib/dpkg/status"));
}

#[test]
fn a_run_of_metadata_entries_counts_against_the_entries_budget() {
    let mut b = tar::Builder::new(Vec::new());
    for _ in 0..50 {
        append(&mut b, "PaxHeaders/g", tar::EntryType::XGlobalHeader, b"");
    }
    append(&mut b, "var/lib/dpkg/status", tar::EntryType::Regular, STATUS);
    let inv = run(&b.into_inner().unwrap(), &Budget { entries: 10, ..Budget::default() }).unwrap();
    assert!(reasons(&inv).contains("more than 10 metadata entries (budget `entries`)"), "{}", reasons(&inv));
    assert!(inv.files.is_empty());
}

#[test]
fn a_later_entry_replaces_a_link_and_a_link_replaces_an_earlier_file() {
    let mut b = tar::Builder::new(Vec::new());
    link(&mut b, "var/lib/dpkg/status", "var/lib/dpkg/status.d/base");
    append(&mut b, "var/lib/dpkg/status", tar::EntryType::Regular, STATUS);
    append(&mut b, "lib/apk/db/installed", tar::EntryType::Regular, b"P:musl\nV:1.2.4-r2\n\n");
    link(&mut b, "lib/apk/db/installed", "lib/apk/db/installed.old");
    let inv = run(&b.into_inner().unwrap(), &Budget::default()).unwrap();
    assert!(inv.files.contains_key("var/lib/dpkg/status"));
    assert!(!inv.files.contains_key("lib/apk/db/installed"));
    let links: Vec<_> = inv.hardlinks.keys().collect();
    assert_eq!(links, ["lib/apk/db/installed"]);
}
