//! Unit tests of ingestion, the file format and queries, on small records written to a temp dir.

use std::io::Write;

use super::*;

const DSA: &str = r#"{"id":"DSA-5380-1","modified":"2023-03-29T00:00:00Z","upstream":["CVE-2023-1393"],"summary":"xorg-server - security update","affected":[{"package":{"ecosystem":"Debian:11","name":"xorg-server"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2:1.20.11-1+deb11u6"}]}]}],"references":[{"type":"ADVISORY","url":"https://security-tracker.debian.org/tracker/DSA-5380-1"}]}"#;
const PYSEC: &str = r#"{"id":"PYSEC-2005-1","modified":"2021-07-16T01:31:33Z","affected":[{"package":{"name":"Trac","ecosystem":"PyPI"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"0.10"}]}],"versions":["0.8.4","0.9"]}]}"#;
const WITHDRAWN: &str = r#"{"id":"PYSEC-2020-999","withdrawn":"2021-01-01T00:00:00Z","affected":[{"package":{"name":"trac","ecosystem":"PyPI"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}"#;
const UBUNTU: &str = r#"{"id":"USN-1","affected":[{"package":{"ecosystem":"Ubuntu:Pro:22.04:LTS","name":"curl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"7.81.0-1ubuntu1.15"}]}]},{"package":{"ecosystem":"Ubuntu:22.04:LTS","name":"curl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"7.81.0-1ubuntu1.14"}]}]}]}"#;

fn gz(lines: &[&str]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(lines.join("\n").as_bytes()).unwrap();
    enc.finish().unwrap()
}

fn zip(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(text.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn db_of(records: &[&str]) -> VulnDb {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.jsonl.gz");
    std::fs::write(&path, gz(records)).unwrap();
    VulnDb::build(&[path]).unwrap()
}

#[test]
fn every_source_kind_and_directory_walk() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(nested.join("DSA-5380-1.json"), DSA).unwrap();
    std::fs::write(dir.path().join("pypi.jsonl.gz"), gz(&[PYSEC, WITHDRAWN])).unwrap();
    std::fs::write(dir.path().join("all.zip"), zip(&[("USN-1.json", UBUNTU), ("notes.txt", "ignored")])).unwrap();
    std::fs::write(dir.path().join("README.md"), "not a source").unwrap();

    let db = VulnDb::build(&[dir.path().to_path_buf()]).unwrap();
    let ids: Vec<&str> = db.advisories().iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["DSA-5380-1", "PYSEC-2005-1", "USN-1"]);
    let h = db.header();
    assert_eq!(h.withdrawn_skipped, 1);
    assert_eq!(h.sources, vec![SourceInfo { location: dir.path().display().to_string(), records: 3 }]);
    let counts: Vec<(&str, u64)> = h.record_counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(counts, [("Debian:11", 1), ("PyPI", 1), ("Ubuntu:22.04", 1)]);
    assert!(db.warnings().is_empty());

    // The same files given one by one give the same advisories, with one SourceInfo each.
    let single =
        VulnDb::build(&[nested.join("DSA-5380-1.json"), dir.path().join("pypi.jsonl.gz"), dir.path().join("all.zip")])
            .unwrap();
    assert_eq!(single.advisories(), db.advisories());
    let per_source: Vec<u64> = single.header().sources.iter().map(|s| s.records).collect();
    assert_eq!(per_source, [1, 1, 1]);
    assert_eq!(single.header().content_digest, db.header().content_digest, "body digest is deterministic");
}

#[test]
fn bad_records_warn_and_bad_sources_fail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl.gz");
    let bad_event = r#"{"id":"BAD-1","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"bogus":"1"}]}]}]}"#;
    std::fs::write(&path, gz(&[DSA, "{not json", "", bad_event, PYSEC])).unwrap();
    let db = VulnDb::build(std::slice::from_ref(&path)).unwrap();
    assert_eq!(db.advisories().len(), 2);
    let w = db.warnings();
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(w[0].source, path.display().to_string());
    assert_eq!(w[0].location, "line 2");
    assert_eq!(w[1].location, "line 4, BAD-1");

    let missing = dir.path().join("nope.jsonl.gz");
    let err = VulnDb::build(std::slice::from_ref(&missing)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Io);
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");

    let corrupt = dir.path().join("corrupt.jsonl.gz");
    std::fs::write(&corrupt, b"\x1f\x8b\x08\x00garbage").unwrap();
    let err = VulnDb::build(std::slice::from_ref(&corrupt)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Parse);
    assert!(err.to_string().contains("corrupt.jsonl.gz"), "{err}");

    let other = dir.path().join("data.csv");
    std::fs::write(&other, "a,b").unwrap();
    assert_eq!(VulnDb::build(&[other]).unwrap_err().kind, ErrorKind::Invalid);
}

#[test]
fn duplicate_ids_keep_the_newer_record() {
    let older = DSA.replace("2:1.20.11-1+deb11u6", "2:1.20.11-1+deb11u5").replace("2023-03-29", "2023-03-01");
    let db = db_of(&[DSA, &older]);
    assert_eq!(db.advisories().len(), 1);
    let m = db.matches("Debian:11", "xorg-server", "2:1.20.11-1+deb11u4");
    assert_eq!(m[0].fixed_version.as_deref(), Some("2:1.20.11-1+deb11u6"));
}

#[test]
fn queries() {
    let db = db_of(&[DSA, PYSEC, WITHDRAWN, UBUNTU]);
    assert!(db.has_ecosystem("Debian:11") && db.has_ecosystem("Ubuntu:22.04") && db.has_ecosystem("PyPI"));
    assert!(!db.has_ecosystem("Debian:12"));

    let m = db.matches("Debian:11", "xorg-server", "2:1.20.11-1+deb11u5");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].advisory.id, "DSA-5380-1");
    assert!(db.matches("Debian:11", "xorg-server", "2:1.20.11-1+deb11u6").is_empty());
    assert!(db.matches("Debian:10", "xorg-server", "2:1.20.11-1+deb11u5").is_empty());

    // PEP 503 names on both sides; the withdrawn record never matches.
    let m = db.matches("PyPI", "TRAC", "0.9");
    assert_eq!(m.iter().map(|m| m.advisory.id.as_str()).collect::<Vec<_>>(), ["PYSEC-2005-1"]);
    assert_eq!(m[0].fixed_version.as_deref(), Some("0.10"));
    assert!(db.matches("PyPI", "trac", "0.10").is_empty());

    // Pro and LTS entries of one USN fold into Ubuntu:22.04: one match, the lower fix.
    let m = db.matches("Ubuntu:22.04", "curl", "7.81.0-1ubuntu1.13");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].fixed_version.as_deref(), Some("7.81.0-1ubuntu1.14"));
    let m = db.matches("Ubuntu:22.04", "curl", "7.81.0-1ubuntu1.14");
    assert_eq!(m[0].fixed_version.as_deref(), Some("7.81.0-1ubuntu1.15"));
}

#[test]
fn file_round_trip_and_checks() {
    let db = db_of(&[DSA, PYSEC, UBUNTU]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strata.db");
    db.write(&path).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["strata.db"], "no temporary file left behind");
    let loaded = VulnDb::load(&path).unwrap();
    assert_eq!(loaded.header(), db.header());
    assert_eq!(loaded.advisories(), db.advisories());
    assert_eq!(loaded.to_bytes().unwrap(), std::fs::read(&path).unwrap(), "re-encoding is byte-identical");

    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"STRATADB"));
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let err = VulnDb::from_bytes(&flipped).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Database);
    assert!(err.message.contains("corrupt"), "{err}");

    // A file of the previous format (before Go import data) is refused, not misread.
    assert_eq!(FORMAT_VERSION, 3);
    let mut old_bytes = bytes.clone();
    let key = b"\"format_version\":3";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len() - 1;
    old_bytes[at] = b'2';
    let err = VulnDb::from_bytes(&old_bytes).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Database);
    assert!(err.message.contains("format version 2 is not supported"), "{err}");

    for junk in [&b""[..], b"STRATADB", b"NOTADB\0\0\0\0\0\0", &bytes[..20]] {
        assert_eq!(VulnDb::from_bytes(junk).unwrap_err().kind, ErrorKind::Database);
    }
    let missing = VulnDb::load(&dir.path().join("missing.db")).unwrap_err();
    assert_eq!(missing.kind, ErrorKind::Database);
    assert!(missing.to_string().contains("missing.db"));
}
