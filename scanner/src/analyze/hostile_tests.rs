//! Crafted lockfiles through the whole analyser: long dependency chains in every format that has paths,
//! and a 28 MB-class npm lockfile. Outputs stay bounded (paths per package, packages per path, bytes in
//! all) and the work linear; each test runs under a generous hang guard, never a timing assertion.

use std::fmt::Write;
use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::analyze::graph::{MAX_PATHS, MAX_SHOWN, MAX_TOTAL_BYTES, SEPARATOR};

/// Runs `f` on a thread; a hang fails the test after `secs` instead of stalling the suite.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs)).expect("hang guard: the analyser did not finish")
}

fn analyse(path: &'static str, bytes: Vec<u8>) -> Analysis {
    let kind = classify(path).expect("a file of interest");
    within(600, move || analyze(kind, path, &bytes, &Budget::default()).expect("parses"))
}

/// Bounded outputs: at most MAX_PATHS paths a package, MAX_SHOWN packages a path, MAX_TOTAL_BYTES in all.
fn assert_bounded(analysis: &Analysis, packages: usize) {
    let found = analysis.packages();
    assert_eq!(found.len(), packages);
    let bytes: usize = found.iter().flat_map(|p| &p.dependency_paths).map(String::len).sum();
    assert!(bytes <= MAX_TOTAL_BYTES, "{bytes} bytes of paths");
    for p in found {
        assert!(p.dependency_paths.len() <= MAX_PATHS, "{}", p.name);
        for path in &p.dependency_paths {
            assert!(path.split(SEPARATOR).count() <= MAX_SHOWN + 1, "{path}");
        }
    }
}

const CHAIN: usize = 15_000;

/// The deepest package of a chain: its one path shows the root, `…` and its nearest parents.
fn assert_chain_end(analysis: &Analysis, name: &str) {
    let last = analysis.packages().iter().find(|p| p.name == name).expect("the chain's end");
    assert_eq!(last.dependency_paths.len(), 1);
    assert!(last.dependency_paths[0].contains(" › … › "), "{}", last.dependency_paths[0]);
    assert!(last.dependency_paths[0].ends_with(&format!("{name}@1.0.0")), "{}", last.dependency_paths[0]);
}

/// The entries of a chain `p0 → p1 → … → p14999`, each written by `entry(i, next)`.
fn chain(entry: impl Fn(usize, Option<usize>) -> String) -> String {
    (0..CHAIN).map(|i| entry(i, (i + 1 < CHAIN).then_some(i + 1))).collect()
}

/// A lockfile holding a 15k chain: analysed completely, bounded, the chain's end shown elided.
fn check_chain(path: &'static str, lock: String) {
    let got = analyse(path, lock.into_bytes());
    assert_eq!(got.incomplete, None);
    assert_bounded(&got, CHAIN);
    assert_chain_end(&got, &format!("p{}", CHAIN - 1));
}

#[test]
fn npm_chain_of_15k() {
    let entries = chain(|i, next| {
        let deps = next.map(|n| format!(r#","dependencies":{{"p{n}":"1"}}"#)).unwrap_or_default();
        format!(r#","node_modules/p{i}":{{"version":"1.0.0"{deps}}}"#)
    });
    let lock = format!(
        r#"{{"name":"app","version":"1.0.0","lockfileVersion":3,"packages":{{"":{{"name":"app","version":"1.0.0","dependencies":{{"p0":"1"}}}}{entries}}}}}"#
    );
    assert!(lock.len() < 2 * 1024 * 1024);
    check_chain("app/package-lock.json", lock);
}

#[test]
fn cargo_chain_of_15k() {
    let entries = chain(|i, next| {
        let deps = next.map(|n| format!("dependencies = [\"p{n}\"]\n")).unwrap_or_default();
        let source = "registry+https://github.com/rust-lang/crates.io-index";
        format!("\n[[package]]\nname = \"p{i}\"\nversion = \"1.0.0\"\nsource = \"{source}\"\n{deps}")
    });
    let root = "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\"p0\"]\n";
    check_chain("app/Cargo.lock", format!("{root}{entries}"));
}

#[test]
fn gemfile_chain_of_15k() {
    let specs = chain(|i, next| {
        let deps = next.map(|n| format!("      p{n}\n")).unwrap_or_default();
        format!("    p{i} (1.0.0)\n{deps}")
    });
    let lock =
        format!("GEM\n  remote: https://rubygems.org/\n  specs:\n{specs}\nPLATFORMS\n  ruby\n\nDEPENDENCIES\n  p0\n");
    check_chain("app/Gemfile.lock", lock);
}

#[test]
fn uv_chain_of_15k() {
    let entries = chain(|i, next| {
        let deps = next.map(|n| format!("dependencies = [{{ name = \"p{n}\" }}]\n")).unwrap_or_default();
        let source = "{ registry = \"https://pypi.org/simple\" }";
        format!("\n[[package]]\nname = \"p{i}\"\nversion = \"1.0.0\"\nsource = {source}\n{deps}")
    });
    let root = "version = 1\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = { editable = \".\" }\n\
                dependencies = [{ name = \"p0\" }]\n";
    check_chain("app/uv.lock", format!("{root}{entries}"));
}

/// 28 MB, shaped like a real monorepo lock (resolved URLs and integrity hashes): 90,000 flat packages
/// with 4 dependencies each, the application depending on all of them, and a 400-deep nested chain whose
/// every level also depends on flat packages. On main, edges were merged by a search per edge and each
/// dependency resolved by formatting every ancestor's path: it never ended.
#[test]
fn npm_lockfile_of_28_mb() {
    const FLAT: usize = 90_000;
    const DEPTH: usize = 400;
    let integrity = format!("sha512-{}==", "Qk9H".repeat(21));
    let mut lock = String::with_capacity(30 << 20);
    lock.push_str(r#"{"name":"app","version":"1.0.0","lockfileVersion":3,"packages":{"":{"name":"app","version":"1.0.0","dependencies":{"c":"1""#);
    for i in 0..FLAT {
        write!(lock, r#","p{i}":"1""#).unwrap();
    }
    lock.push_str("}}");
    for i in 0..FLAT {
        let deps: Vec<String> = (1..=4).map(|k| format!(r#""p{}":"1""#, (i * 7 + k * 1009) % FLAT)).collect();
        write!(
            lock,
            r#","node_modules/p{i}":{{"version":"1.0.0","resolved":"https://registry.npmjs.org/p{i}/-/p{i}-1.0.0.tgz","integrity":"{integrity}","license":"MIT","dependencies":{{{}}}}}"#,
            deps.join(",")
        )
        .unwrap();
    }
    let mut location = String::from("node_modules/c");
    for d in 0..DEPTH {
        let deps: Vec<String> = (0..8).map(|k| format!(r#""p{}":"1""#, (d * 13 + k) % FLAT)).collect();
        write!(lock, r#","{location}":{{"version":"1.0.{d}","dependencies":{{"c":"1",{}}}}}"#, deps.join(",")).unwrap();
        location.push_str("/node_modules/c");
    }
    lock.push_str("}}");
    assert!(lock.len() > 25 << 20 && lock.len() < 32 << 20, "{} bytes", lock.len());
    let got = analyse("app/package-lock.json", lock.into_bytes());
    assert_eq!(got.incomplete, None);
    assert_bounded(&got, FLAT + DEPTH);
    let deepest = got.packages().iter().find(|p| p.version == format!("1.0.{}", DEPTH - 1)).unwrap();
    assert!(deepest.dependency_paths[0].starts_with("app@1.0.0 › … › c@1.0."), "{:?}", deepest.dependency_paths);
}

/// A tar of regular files (the default header's mode and type).
fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// Through the layer walk: each partial analysis is recorded on the layer with the file and the cap named,
/// and what could be analysed still is.
#[test]
fn partial_analyses_mark_the_layer_incomplete() {
    use sha2::{Digest, Sha256};
    let status = b"Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: install ok installed\nVersion: 2\n\n";
    let flood: String =
        (0..300).map(|i| format!("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCY{i:010}\n")).collect();
    let tar = tar_of(&[("var/lib/dpkg/status", status), ("app/.env", flood.as_bytes())]);
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
    let budget = Budget { packages_per_file: 1, secrets_per_file: 5, ..Budget::default() };
    let inventory =
        crate::layer::analyze_layer_with(&tar[..], &digest, crate::secret::Scanner::builtin(), &budget).unwrap();
    let reasons: Vec<String> =
        inventory.incomplete.iter().map(|i| format!("{} {}", i.path.as_deref().unwrap_or("-"), i.reason)).collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("/var/lib/dpkg/status `/var/lib/dpkg/status`: lists 2 packages")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.starts_with("/app/.env") && r.contains("`secrets_per_file`")), "{reasons:?}");
    match &inventory.files["var/lib/dpkg/status"] {
        FileContent::Packages { packages, .. } => assert_eq!(packages.len(), 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(inventory.secrets.len(), 5);
}
