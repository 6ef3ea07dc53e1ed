use std::io::Read;
use std::path::PathBuf;

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rpm").join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if !name.ends_with(".gz") {
        return raw;
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut out).unwrap();
    out
}

/// `rpm -qa --qf '%{NAME} %{EPOCH}:%{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM}\n'` lines, as Strata writes
/// them: no `(none):` epoch, source rpm reduced to its name.
fn oracle() -> Vec<String> {
    let text = String::from_utf8(fixture("oracle-rpm.txt")).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let version = f[1].strip_prefix("(none):").unwrap_or(f[1]);
            let source = header::source_name(f[3]).unwrap_or("-");
            format!("{} {version} {} {source}", f[0], f[2])
        })
        .collect();
    lines.sort();
    lines
}

fn shown(packages: &[Package]) -> Vec<String> {
    let mut lines: Vec<String> = packages
        .iter()
        .map(|p| {
            assert_eq!(p.kind, crate::package::PackageKind::Rpm);
            let arch = p.arch.as_deref().unwrap_or("(none)");
            format!("{} {} {arch} {}", p.name, p.version, p.source_name.as_deref().unwrap_or("-"))
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn sqlite_rpmdb_matches_rpm_qa() {
    let packages = parse(Kind::Sqlite, &fixture("rpmdb.sqlite.gz")).unwrap();
    assert_eq!(shown(&packages), oracle());
    assert!(oracle().iter().any(|l| l.starts_with("strata-fixture-data 2:1.4.0~rc2-3.el9 noarch strata-fixture")));
}

/// The same headers in a Berkeley DB hash file; one spans several overflow pages.
#[test]
fn berkeley_db_matches_rpm_qa() {
    let packages = parse(Kind::BerkeleyDb, &fixture("Packages.gz")).unwrap();
    assert_eq!(shown(&packages), oracle());
}

#[test]
fn classify_table() {
    assert_eq!(classify("var/lib/rpm/rpmdb.sqlite"), Some(Kind::Sqlite));
    assert_eq!(classify("usr/lib/sysimage/rpm/rpmdb.sqlite"), Some(Kind::Sqlite));
    assert_eq!(classify("var/lib/rpm/Packages"), Some(Kind::BerkeleyDb));
    assert_eq!(classify("usr/lib/sysimage/rpm/Packages"), Some(Kind::BerkeleyDb));
    assert_eq!(classify("var/lib/rpm/Packages.db"), None);
    assert_eq!(classify("var/lib/rpm/rpmdb.sqlite-shm"), None);
    assert_eq!(classify("home/x/var/lib/rpm/Packages"), None);
}

#[test]
fn broken_databases_are_errors() {
    let sqlite = fixture("rpmdb.sqlite.gz");
    let bdb = fixture("Packages.gz");
    let cases: [(Kind, &[u8]); 6] = [
        (Kind::Sqlite, b"not a database"),
        (Kind::Sqlite, &sqlite[..sqlite.len() / 3]),
        (Kind::Sqlite, &bdb),
        (Kind::BerkeleyDb, b"not a database"),
        (Kind::BerkeleyDb, &bdb[..bdb.len() / 2]),
        (Kind::BerkeleyDb, &sqlite),
    ];
    for (i, (kind, bytes)) in cases.into_iter().enumerate() {
        assert!(parse(kind, bytes).is_err(), "case {i} parsed");
    }
}
