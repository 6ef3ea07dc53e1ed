//! The vulnerability DB end to end: built from committed real OSV records, written, loaded, corrupted; and,
//! when the shared data set is present, built from all of it and checked against independent counts and
//! against `dpkg --compare-versions` as an oracle for Debian matching.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_scanner::ErrorKind;
use strata_scanner::severity::Severity;
use strata_scanner::vulndb::VulnDb;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv")
}

fn ids(db: &VulnDb, eco: &str, name: &str, version: &str) -> Vec<(String, Option<String>)> {
    db.matches(eco, name, version).into_iter().map(|m| (m.advisory.id.clone(), m.fixed_version)).collect()
}

fn one(id: &str, fixed: Option<&str>) -> Vec<(String, Option<String>)> {
    vec![(id.to_owned(), fixed.map(str::to_owned))]
}

#[test]
fn fixtures_build_and_match() {
    let db = VulnDb::build(&[fixtures()]).unwrap();
    assert!(db.warnings().is_empty(), "{:?}", db.warnings());
    let h = db.header();
    assert_eq!(h.withdrawn_skipped, 1, "PYSEC-2006-10 is withdrawn");
    assert_eq!(db.advisories().len(), 6);
    assert_eq!(h.sources.len(), 1);
    assert_eq!(h.sources[0].records, 6);
    let mut want: BTreeMap<String, u64> =
        ["Debian:10", "Debian:11", "crates.io", "PyPI", "npm", "RubyGems"].iter().map(|e| (e.to_string(), 1)).collect();
    for minor in 2..=8 {
        want.insert(format!("Alpine:v3.{minor}"), 1);
    }
    assert_eq!(h.record_counts, want);

    // DSA-5147-1: one fix per release.
    assert_eq!(ids(&db, "Debian:11", "dpkg", "1.20.9"), one("DSA-5147-1", Some("1.20.10")));
    assert_eq!(ids(&db, "Debian:11", "dpkg", "1.20.10"), vec![]);
    assert_eq!(ids(&db, "Debian:10", "dpkg", "1.19.7"), one("DSA-5147-1", Some("1.19.8")));
    assert_eq!(ids(&db, "Debian:10", "dpkg", "1.19.8"), vec![]);
    assert!(!db.has_ecosystem("Debian:12"));

    // Alpine letter versions, and an image release with a patch number.
    assert_eq!(ids(&db, "Alpine:v3.4", "openssl", "1.0.2g-r0"), one("ALPINE-CVE-2016-2105", Some("1.0.2h-r0")));
    assert_eq!(ids(&db, "Alpine:3.4.6", "openssl", "1.0.2g-r3"), one("ALPINE-CVE-2016-2105", Some("1.0.2h-r0")));
    assert_eq!(ids(&db, "Alpine:v3.4", "openssl", "1.0.2h-r0"), vec![]);
    assert_eq!(ids(&db, "Alpine:v3.9", "openssl", "1.0.2g-r0"), vec![]);

    // crates.io with a CVSS vector.
    let m = db.matches("crates.io", "openssl", "0.8.3");
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].advisory.severity, m[0].advisory.cvss_score), (Severity::High, Some(8.1)));
    assert_eq!(m[0].fixed_version.as_deref(), Some("0.9.0"));
    assert!(db.matches("crates.io", "openssl", "0.9.0").is_empty());

    // PyPI: `versions` list plus an open range; PEP 503 name; the withdrawn plone record never matches.
    let m = db.matches("PyPI", "Apache_Atlas", "0.0.11");
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].advisory.id.as_str(), m[0].advisory.severity), ("PYSEC-2017-105", Severity::High));
    assert_eq!(m[0].fixed_version, None);
    assert_eq!(ids(&db, "PyPI", "plone", "2.5"), vec![]);

    // npm last_affected; its CVSS vector wins over the database_specific number.
    assert_eq!(ids(&db, "npm", "bassmaster", "1.5.1"), one("x_NSWG-ECO-1", None));
    assert_eq!(ids(&db, "npm", "bassmaster", "1.5.2"), vec![]);

    // RubyGems: two ranges, severity from database_specific.cvss_v3.
    assert_eq!(ids(&db, "RubyGems", "sidekiq", "5.1.3"), one("x_RUBYSEC-sidekiq-CVE-2021-30151", Some("5.2.0")));
    assert_eq!(ids(&db, "RubyGems", "sidekiq", "5.2.9"), vec![]);
    assert_eq!(ids(&db, "RubyGems", "sidekiq", "6.0.0"), one("x_RUBYSEC-sidekiq-CVE-2021-30151", Some("6.2.1")));
    assert_eq!(ids(&db, "RubyGems", "sidekiq", "6.2.1"), vec![]);
    let sidekiq = db.advisories().iter().find(|a| a.id == "x_RUBYSEC-sidekiq-CVE-2021-30151").unwrap();
    assert_eq!((sidekiq.severity, sidekiq.cvss_score), (Severity::Medium, Some(6.1)));
}

/// Splits a DB file by its documented layout: magic, u32 LE header length, JSON header, body.
fn split_file(bytes: &[u8]) -> (serde_json::Value, &[u8]) {
    assert_eq!(&bytes[..8], b"STRATADB");
    let len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    (serde_json::from_slice(&bytes[12..12 + len]).unwrap(), &bytes[12 + len..])
}

fn join_file(header: &serde_json::Value, body: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).unwrap();
    let mut out = b"STRATADB".to_vec();
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(body);
    out
}

#[test]
fn file_round_trip_corruption_and_version() {
    let db = VulnDb::build(&[fixtures()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vuln.db");
    db.write(&path).unwrap();
    let loaded = VulnDb::load(&path).unwrap();
    assert_eq!(loaded.header(), db.header());
    assert_eq!(loaded.advisories(), db.advisories());
    assert_eq!(loaded.matches("Debian:11", "dpkg", "1.20.9"), db.matches("Debian:11", "dpkg", "1.20.9"));

    let bytes = std::fs::read(&path).unwrap();
    let (header, body) = split_file(&bytes);
    use sha2::Digest;
    assert_eq!(header["content_digest"], hex::encode(sha2::Sha256::digest(body)));
    assert_eq!(header["built_at"].as_str().map(|s| s.ends_with('Z')), Some(true));

    // One flipped bit anywhere in the body.
    for at in [0, body.len() / 2, body.len() - 1] {
        let mut corrupt = bytes.clone();
        corrupt[bytes.len() - body.len() + at] ^= 0x40;
        std::fs::write(&path, &corrupt).unwrap();
        let err = VulnDb::load(&path).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Database, "{err}");
        assert!(err.to_string().contains("vuln.db"), "the error names the file: {err}");
    }

    // Another format version, with a correct digest: rejected for its version, not its bytes.
    let mut future = header.clone();
    future["format_version"] = serde_json::json!(header["format_version"].as_u64().unwrap() + 1);
    let err = VulnDb::from_bytes(&join_file(&future, body)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Database);
    assert!(err.message.contains("version"), "{err}");
    // The unchanged header re-joined still loads, so the rejection above is the version's doing.
    assert!(VulnDb::from_bytes(&join_file(&header, body)).is_ok());
}

/// `../shared/vulndb` when this machine has it, else the committed subset of it (testkit/fixtures/osv:
/// real Debian, npm and PyPI records), so the checks below always run on real data; `true` for the former.
fn shared_data() -> (PathBuf, bool) {
    if let Some(dir) = strata_testkit::fixtures::shared_vulndb() {
        return (dir, true);
    }
    let subset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/fixtures/osv");
    eprintln!("../shared/vulndb is not used: checking the committed subset {} instead", subset.display());
    (subset, false)
}

/// Every record of the shared data set, read without any Strata code.
fn raw_records(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    for file in files {
        let reader = BufReader::new(flate2::read::GzDecoder::new(std::fs::File::open(&file).unwrap()));
        for line in reader.lines() {
            out.push(serde_json::from_str(&line.unwrap()).unwrap());
        }
    }
    out
}

/// `dpkg --compare-versions a lt b`: Debian's own comparison is the oracle, so it must be there.
fn dpkg_lt(a: &str, b: &str) -> bool {
    let status = Command::new("dpkg").args(["--compare-versions", a, "lt", b]).status();
    status.expect("dpkg (the oracle) runs; it is part of every Debian machine").success()
}

#[test]
fn shared_data_counts_and_debian_oracle() {
    let (dir, full) = shared_data();
    let db = VulnDb::build(std::slice::from_ref(&dir)).unwrap();
    assert!(db.warnings().is_empty(), "{:?}", &db.warnings()[..db.warnings().len().min(5)]);

    let records = raw_records(&dir);
    let live: Vec<&serde_json::Value> = records.iter().filter(|r| r.get("withdrawn").is_none()).collect();
    assert_eq!(db.header().withdrawn_skipped as usize, records.len() - live.len());
    assert_eq!(db.advisories().len(), live.len());
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for r in &live {
        let ecos: BTreeSet<&str> =
            r["affected"].as_array().into_iter().flatten().filter_map(|a| a["package"]["ecosystem"].as_str()).collect();
        for eco in ecos {
            *want.entry(eco.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(db.header().record_counts, want);

    // Real bullseye source packages at versions that shipped in Debian 11 point releases or security updates.
    let table = [
        ("openssl", "1.1.1n-0+deb11u3"),
        ("openssl", "1.1.1n-0+deb11u4"),
        ("glibc", "2.31-13+deb11u5"),
        ("curl", "7.74.0-1.3+deb11u3"),
        ("xorg-server", "2:1.20.11-1+deb11u5"),
        ("linux", "5.10.158-2"),
        ("linux", "5.10.92-1"),
        ("dpkg", "1.20.12"),
        ("systemd", "247.3-7+deb11u1"),
        ("nginx", "1.18.0-6.1+deb11u2"),
        ("apache2", "2.4.56-1~deb11u1"),
        ("openssh", "1:8.4p1-5+deb11u1"),
        ("sudo", "1.9.5p2-3+deb11u1"),
        ("git", "1:2.30.2-1+deb11u1"),
        ("tiff", "4.2.0-1+deb11u3"),
        ("postgresql-13", "13.9-0+deb11u1"),
        ("firefox-esr", "102.8.0esr-1~deb11u1"),
        ("libxml2", "2.9.10+dfsg-6.7+deb11u3"),
        ("zlib", "1:1.2.11.dfsg-2+deb11u2"),
        ("expat", "2.2.10-2+deb11u5"),
        ("imagemagick", "8:6.9.11.60+dfsg-1.3+deb11u1"),
        ("bash", "5.1-2+deb11u1"),
        // As released with Debian 11.0.
        ("openssl", "1.1.1k-1"),
        ("glibc", "2.31-13"),
        ("curl", "7.74.0-1.3"),
        ("systemd", "247.3-6"),
        ("sudo", "1.9.5p2-3"),
        ("tiff", "4.2.0-1"),
        ("bind9", "1:9.16.15-1"),
        ("gzip", "1.10-4"),
        ("xz-utils", "5.2.5-2"),
        ("gnupg2", "2.2.27-2"),
        ("krb5", "1.18.3-6"),
        ("util-linux", "2.36.1-8"),
        ("gnutls28", "3.7.1-5"),
    ];
    let mut with_matches = 0;
    for (name, installed) in table {
        // Expected: advisories with a Debian:11 entry for `name` whose fixed version is above `installed`
        // (all ranges in this data are introduced 0 → fixed, or introduced 0 alone for unfixed entries).
        let mut expected: BTreeMap<String, Option<String>> = BTreeMap::new();
        for r in &live {
            for a in r["affected"].as_array().into_iter().flatten() {
                if a["package"]["ecosystem"] != "Debian:11" || a["package"]["name"] != name {
                    continue;
                }
                let fixed = a["ranges"][0]["events"].as_array().unwrap().iter().find_map(|e| e["fixed"].as_str());
                let hit = match fixed {
                    Some(f) => dpkg_lt(installed, f),
                    None => true,
                };
                if hit {
                    expected.insert(r["id"].as_str().unwrap().to_owned(), fixed.map(str::to_owned));
                }
            }
        }
        let got: BTreeMap<String, Option<String>> = db
            .matches("Debian:11", name, installed)
            .into_iter()
            .map(|m| (m.advisory.id.clone(), m.fixed_version))
            .collect();
        assert_eq!(got, expected, "{name} {installed}");
        with_matches += usize::from(!got.is_empty());
    }
    // The table must exercise both outcomes, or the comparison above proves little (the committed subset
    // covers only the minbase image's source packages: openssl, zlib, gzip, xz-utils, gnupg2, …).
    let least = if full { 10 } else { 6 };
    assert!(with_matches >= least && with_matches < table.len(), "{with_matches} of {} pairs matched", table.len());
}
