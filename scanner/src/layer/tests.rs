use std::io::Write;

use sha2::{Digest, Sha256};

use super::*;
use crate::error::ErrorKind;

pub(super) const STATUS: &[u8] =
    b"Package: libssl1.1\nStatus: install ok installed\nSource: openssl\nVersion: 1.1.1n-0+deb11u3\n\n";

pub(super) fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // set_path refuses `..` and absolute paths, so write the raw name as a hostile tool would.
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

pub(super) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub(super) fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn analyze(blob: &[u8]) -> Result<LayerInventory> {
    analyze_layer(blob, &digest_of(blob))
}

#[test]
fn gzip_zstd_and_plain_give_the_same_inventory() {
    let tar = tar_of(&[("./var/lib/dpkg/status", STATUS), ("./usr/bin/true", b"\x7fELF"), ("etc/.wh.motd", b"")]);
    let plain = analyze(&tar).unwrap();
    let gz = analyze(&gzip(&tar)).unwrap();
    let zst = analyze(&zstd::encode_all(&tar[..], 3).unwrap()).unwrap();
    assert_eq!(plain.files, gz.files);
    assert_eq!(plain.files, zst.files);
    assert_eq!(plain.files.len(), 1);
    assert_eq!(gz.whiteouts.iter().collect::<Vec<_>>(), ["etc/motd"]);
    assert_eq!(gz.stats.uncompressed_bytes, tar.len() as u64);
    assert_eq!(zst.stats.entries, 3);
}

#[test]
fn digest_mismatch_names_the_layer() {
    let blob = gzip(&tar_of(&[("etc/hostname", b"x")]));
    let wrong = digest_of(b"something else");
    let err = analyze_layer(&blob[..], &wrong).unwrap_err();
    assert_eq!(err.kind, ErrorKind::DigestMismatch);
    assert!(err.message.contains(&wrong), "{err}");
}

#[test]
fn corrupt_and_truncated_blobs_are_parse_errors() {
    let blob = gzip(&tar_of(&[("var/lib/dpkg/status", STATUS), ("big", &[7u8; 100_000])]));
    let truncated = &blob[..blob.len() / 2];
    let err = analyze(truncated).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Parse, "{err}");

    let mut corrupt = blob.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    let err = analyze(&corrupt).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Parse | ErrorKind::DigestMismatch), "{err}");
}

#[test]
fn hostile_paths_are_refused_with_the_entry_named() {
    for path in ["../../etc/passwd", "/etc/passwd"] {
        let err = analyze(&tar_of(&[(path, b"root:x:0:0")])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Parse);
        assert!(err.message.contains(path), "{err}");
    }
}

#[test]
fn garbage_status_names_the_file() {
    let err = analyze(&tar_of(&[("var/lib/dpkg/status", b"Package: x\ngarbage\n")])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Parse);
    assert!(err.message.contains("/var/lib/dpkg/status") && err.message.contains("line 2"), "{err}");
}

#[test]
fn oversized_file_is_incomplete_not_an_error() {
    let big = vec![b'#'; (analyze::FileKind::OsRelease.size_cap() + 1) as usize];
    let inv = analyze(&tar_of(&[("etc/os-release", &big)])).unwrap();
    assert!(inv.files.is_empty());
    assert_eq!(inv.incomplete.len(), 1, "skipping a file an analyser needs is not a clean result");
    assert_eq!(inv.incomplete[0].path.as_deref(), Some("/etc/os-release"));
    assert!(inv.incomplete[0].reason.contains("cap"), "{:?}", inv.incomplete);
}

#[test]
fn opaque_dirs_are_recorded() {
    let inv = analyze(&tar_of(&[("./var/lib/dpkg/.wh..wh..opq", b""), ("var/lib/dpkg/status", STATUS)])).unwrap();
    assert_eq!(inv.opaque_dirs.iter().collect::<Vec<_>>(), ["var/lib/dpkg"]);
    assert!(inv.files.contains_key("var/lib/dpkg/status"));
}

#[test]
fn empty_blob_is_an_error_not_a_panic() {
    // An empty stream is a valid (empty) tar only if it verifies; here it does, and nothing is found.
    let inv = analyze(b"").unwrap();
    assert!(inv.files.is_empty());
    assert!(analyze(&[0x1f, 0x8b, 0x08]).is_err());
}

#[test]
fn over_the_entry_budget_the_layer_is_incomplete_and_still_verified() {
    let tar = tar_of(&[("etc/a", b"1"), ("etc/b", b"2"), ("var/lib/dpkg/status", STATUS)]);
    let blob = gzip(&tar);
    let budget = Budget { entries: 2, ..Budget::default() };
    let inventory = analyze_layer_with(&blob[..], &digest_of(&blob), Scanner::builtin(), &budget).unwrap();
    assert!(!inventory.is_complete());
    assert!(inventory.incomplete[0].reason.contains("budget `entries`"), "{:?}", inventory.incomplete);
    assert!(inventory.files.is_empty(), "nothing past the budget is analysed");
    // The rest of the blob is still hashed: a wrong digest is still caught.
    let err = analyze_layer_with(&blob[..], &digest_of(b"other"), Scanner::builtin(), &budget).unwrap_err();
    assert_eq!(err.kind, ErrorKind::DigestMismatch);
}
