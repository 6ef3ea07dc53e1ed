//! Acceptance: an image with a Go binary, a `cargo auditable` binary and a `Cargo.lock`, all real (built by
//! scripts/fixtures.d/binaries.sh), scanned by the real `strata` against real OSV Go and crates.io records.
//! The inventory must equal the builders' own accounts (`go version -m`, the `.dep-v0` JSON); the findings
//! must equal an independent reading of the same OSV records with a SemVer comparison written here.
//! A truncated ELF and an executable script must not stop the scan.

mod common;

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

use common::*;
use serde_json::Value;
use strata_testkit::fixtures;
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::tarball::TarBuilder;

fn binaries() -> PathBuf {
    let dir = fixtures::dir().join("binaries");
    assert!(dir.join("stamp").is_file(), "{} is missing: run scripts/fixtures.sh", dir.display());
    dir
}

/// The Go and crates.io OSV files from ../shared/vulndb, else the committed subset of their records that
/// name this image's packages.
fn osv() -> Vec<PathBuf> {
    match fixtures::shared_vulndb() {
        Some(dir) => vec![dir.join("osv-go.jsonl.gz"), dir.join("osv-crates.jsonl.gz")],
        None => vec![fixtures::repo_root().join("scanner/tests/fixtures/binary/osv-binaries.jsonl.gz")],
    }
}

/// (ecosystem, name, version) of every package `go version -m` lists, replacements applied.
fn go_oracle(text: &str) -> BTreeSet<(String, String, String)> {
    let go = text.lines().next().and_then(|l| l.rsplit(' ').next()).unwrap();
    let mut mods = vec![("stdlib".to_string(), go.trim_start_matches("go").to_string())];
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.trim_start().split('\t').collect();
        match f[0] {
            "dep" => mods.push((f[1].into(), f[2].into())),
            "=>" => *mods.last_mut().unwrap() = (f[1].into(), f[2].into()),
            _ => {}
        }
    }
    mods.into_iter().map(|(n, v)| ("Go".into(), n, v)).collect()
}

/// The non-local crates of the `.dep-v0` JSON.
fn auditable_oracle(json: &str) -> BTreeSet<(String, String, String)> {
    let v: Value = serde_json::from_str(json).unwrap();
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"] != "local")
        .map(|p| ("crates.io".into(), p["name"].as_str().unwrap().into(), p["version"].as_str().unwrap().into()))
        .collect()
}

/// The `[[package]]` entries of a Cargo.lock that have a `source`, read line by line.
fn lock_oracle(lock: &str) -> BTreeSet<(String, String, String)> {
    lock.split("[[package]]")
        .filter(|block| block.contains("\nsource = "))
        .map(|block| {
            let field = |k: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} = \"")))
                    .unwrap()
                    .trim_end_matches('"')
                    .to_string()
            };
            ("crates.io".into(), field("name"), field("version"))
        })
        .collect()
}

/// SemVer 2.0 precedence, written independently of the engine: numeric core, then pre-release identifiers
/// (numeric ones numerically, below alphanumeric ones; a release above its pre-releases). Build metadata
/// and a `v` prefix are ignored.
fn semver_cmp(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (Vec<u64>, Option<Vec<String>>) {
        let v = v.trim_start_matches('v').split('+').next().unwrap();
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, Some(p.split('.').map(str::to_string).collect())),
            None => (v, None),
        };
        let mut nums: Vec<u64> = core.split('.').map(|n| n.parse().unwrap()).collect();
        nums.resize(3, 0);
        (nums, pre)
    }
    let ((ca, pa), (cb, pb)) = (split(a), split(b));
    ca.cmp(&cb).then_with(|| match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            for (i, j) in x.iter().zip(&y) {
                let o = match (i.parse::<u64>(), j.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => i.cmp(j),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
    })
}

/// OSV's evaluation of one SEMVER range: walk the events in order, each one passed switches the state.
fn affected(version: &str, range: &Value) -> bool {
    let mut events: Vec<(&str, &str)> = range["events"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e.as_object().unwrap().iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap())))
        // `introduced: "0"` is below every version, pre-releases (Go pseudo-versions) included.
        .map(|(k, v)| (k, if v == "0" { "0.0.0-0" } else { v }))
        .collect();
    events.sort_by(|a, b| semver_cmp(a.1, b.1));
    let mut hit = false;
    for (kind, at) in events {
        match kind {
            "introduced" if semver_cmp(version, at) != Ordering::Less => hit = true,
            "fixed" if semver_cmp(version, at) != Ordering::Less => hit = false,
            "last_affected" if semver_cmp(version, at) == Ordering::Greater => hit = false,
            "limit" if semver_cmp(version, at) != Ordering::Less => hit = false,
            _ => {}
        }
    }
    hit
}

/// (advisory, package) for every package the OSV records cover.
fn findings_oracle(packages: &BTreeSet<(String, String, String)>, osv: &[PathBuf]) -> BTreeSet<(String, String)> {
    let mut hits = BTreeSet::new();
    for file in osv {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap()).read_to_string(&mut text).unwrap();
        for line in text.lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            if record.get("withdrawn").is_some() {
                continue;
            }
            for a in record["affected"].as_array().into_iter().flatten() {
                let (eco, name) = (&a["package"]["ecosystem"], &a["package"]["name"]);
                for (_, n, v) in packages.iter().filter(|(e, n, _)| eco == e.as_str() && name == n.as_str()) {
                    let listed = a["versions"].as_array().into_iter().flatten().any(|x| x == v.as_str());
                    let ranged = a["ranges"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|r| r["type"] == "SEMVER")
                        .any(|r| affected(v, r));
                    if listed || ranged {
                        hits.insert((record["id"].as_str().unwrap().to_string(), n.clone()));
                    }
                }
            }
        }
    }
    hits
}

fn result<'a>(report: &'a Value, target: &str) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == target)
        .unwrap_or_else(|| panic!("no result for {target}: {report:#}"))
}

fn inventory(result: &Value, ecosystem: &str) -> BTreeSet<(String, String, String)> {
    result["package_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (ecosystem.to_string(), p["name"].as_str().unwrap().into(), p["version"].as_str().unwrap().into()))
        .collect()
}

#[test]
fn go_and_rust_binaries_and_a_lockfile() {
    let dir = binaries();
    let (goapp, rustapp) = (std::fs::read(dir.join("goapp")).unwrap(), std::fs::read(dir.join("rustapp")).unwrap());
    let lock = std::fs::read_to_string(dir.join("rustapp.lock")).unwrap();
    let script = b"#!/bin/sh\n# a launcher, not a binary\n".repeat(1024);
    let tmp = tempfile::tempdir().unwrap();
    let layer = TarBuilder::new()
        .executable("usr/local/bin/goapp", &goapp)
        .executable("usr/local/bin/rustapp", &rustapp)
        .executable("usr/local/bin/broken", &goapp[..goapp.len() / 3])
        .executable("usr/local/bin/launch", &script)
        .file("src/rustapp/Cargo.lock", lock.as_bytes())
        .build();
    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(LayerContent::Bytes(layer), Compression::Gzip, "COPY binaries /")
        .write_layout(&layout, "bin");
    let osv = osv();
    let db = build_db(tmp.path(), &osv);
    let mut cmd = strata();
    cmd.args(["image", "--quiet", "--format", "json", "--list-all-pkgs", "--input"])
        .arg(format!("{}:bin", layout.display()))
        .arg("--db")
        .arg(&db);
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let report = out.json();

    let go_want = go_oracle(&std::fs::read_to_string(dir.join("goapp.modinfo")).unwrap());
    let rust_want = auditable_oracle(&std::fs::read_to_string(dir.join("rustapp.json")).unwrap());
    let lock_want = lock_oracle(&lock);
    let cases = [
        ("/usr/local/bin/goapp", "Go", &go_want),
        ("/usr/local/bin/rustapp", "crates.io", &rust_want),
        ("/src/rustapp/Cargo.lock", "crates.io", &lock_want),
    ];
    for (target, ecosystem, want) in cases {
        let r = result(&report, target);
        assert_eq!(&inventory(r, ecosystem), want, "{target}");
        let got: BTreeSet<(String, String)> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["id"].as_str().unwrap().to_string(), f["package"].as_str().unwrap().to_string()))
            .collect();
        let oracle = findings_oracle(want, &osv);
        assert!(!oracle.is_empty(), "{target}: the old versions have known advisories");
        assert_eq!(got, oracle, "{target}");
    }

    // Paths: Go lists modules flat under the main module; crates keep their graph.
    let go_net = result(&report, "/usr/local/bin/goapp")["package_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "golang.org/x/net")
        .cloned()
        .unwrap();
    assert_eq!(go_net["dependency_paths"], serde_json::json!(["example.com/strata/goapp › golang.org/x/net@v0.7.0"]));
    let smallvec = result(&report, "/usr/local/bin/rustapp")["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["package"] == "smallvec")
        .cloned()
        .expect("smallvec 1.6.0 has advisories");
    assert_eq!(smallvec["dependency_paths"], serde_json::json!(["rustapp@0.1.0 › smallvec@1.6.0"]));

    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("/usr/local/bin/broken") && warnings.contains("truncated ELF"), "{warnings}");
    assert!(!warnings.contains("launch"), "{warnings}");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}
