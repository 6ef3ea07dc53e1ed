use super::*;
use crate::package::Package;

fn fixture(rel: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    std::fs::read(format!("{path}{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn find<'a>(packages: &'a [Package], name: &str) -> &'a Package {
    packages.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("{name} missing"))
}

#[test]
fn classify_table() {
    for (path, want) in [
        ("app/Cargo.lock", Some(Kind::CargoLock)),
        ("Cargo.lock", Some(Kind::CargoLock)),
        ("src/app/Cargo.lock.orig", None),
        ("root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/serde-1.0.0/Cargo.lock", None),
        ("usr/local/cargo/git/checkouts/x/Cargo.lock", Some(Kind::CargoLock)),
        ("home/u/.cargo/git/checkouts/x/abc/Cargo.lock", None),
    ] {
        assert_eq!(classify(path), want, "{path}");
    }
}

/// The lockfile `cargo auditable build` wrote for scanner/tests/fixtures/binary/rustapp.
#[test]
fn real_lockfile_with_paths() {
    let packages = parse_lock(&fixture("tests/fixtures/binary/rustapp/Cargo.lock")).unwrap();
    let mut names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    // A lockfile holds every platform's crates (time 0.1 needs winapi on Windows), unlike a binary.
    assert_eq!(
        names,
        ["libc", "smallvec", "time", "winapi", "winapi-i686-pc-windows-gnu", "winapi-x86_64-pc-windows-gnu"],
        "the local crate is only a path root"
    );
    assert_eq!(find(&packages, "smallvec").version, "1.6.0");
    assert_eq!(find(&packages, "smallvec").dependency_paths, ["rustapp@0.1.0 › smallvec@1.6.0"]);
    let libc = find(&packages, "libc");
    assert_eq!(libc.dependency_paths, [format!("rustapp@0.1.0 › time@0.1.43 › libc@{}", libc.version)]);
    assert!(packages.iter().all(|p| p.kind == crate::package::PackageKind::Cargo));
}

/// This workspace's own lockfile: every crates.io crate reported once per entry, each reachable from a
/// workspace member. The oracle is a plain count of `source = ` lines.
#[test]
fn workspace_lockfile() {
    let bytes = fixture("../Cargo.lock");
    let text = String::from_utf8(bytes.clone()).unwrap();
    let sourced = text.lines().filter(|l| l.starts_with("source = ")).count();
    let packages = parse_lock(&bytes).unwrap();
    assert_eq!(packages.len(), sourced);
    for p in &packages {
        assert!(
            p.dependency_paths.iter().all(|path| path.starts_with("strata-")),
            "{} {:?}",
            p.name,
            p.dependency_paths
        );
        assert!(!p.dependency_paths.is_empty() || p.dependency_paths_cut == 0, "{}", p.name);
        assert!(p.dependency_paths.len() <= graph::MAX_PATHS);
    }
    assert!(!find(&packages, "tar").dependency_paths.is_empty());
}

#[test]
fn bad_lockfiles_are_errors() {
    let real = fixture("tests/fixtures/binary/rustapp/Cargo.lock");
    for (what, bytes) in [
        ("not toml", b"{\"packages\": []}".to_vec()),
        ("not utf-8", vec![0xff, 0xfe, 0x00]),
        ("truncated", real[..real.len() / 2].to_vec()),
        (
            "dangling dependency",
            b"version = 3\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\ndependencies = [\"b 1.0.0\"]\n".to_vec(),
        ),
    ] {
        assert!(parse_lock(&bytes).is_err(), "{what}");
    }
}
