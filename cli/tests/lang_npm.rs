//! Acceptance: an image holding a real npm app (`scripts/fixtures.d/npm.sh`: real old packages installed by
//! the machine's npm) scanned by the real `strata` binary against the real Node.js Security WG advisories.
//! The oracle for dependency paths is the real npm: `npm ls --all --json` on the same app directory.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use strata_testkit::fixtures;
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::tarball::TarBuilder;

fn app_dir() -> PathBuf {
    let dir = fixtures::dir().join("npm-app");
    assert!(dir.join("app/package-lock.json").is_file(), "{} is missing: run scripts/fixtures.sh", dir.display());
    dir
}

/// The npm advisories: all of ../shared/vulndb's when present, else the committed subset of them.
fn osv() -> PathBuf {
    fixtures::shared_vulndb()
        .map(|d| d.join("osv-npm.jsonl.gz"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| fixtures::repo_root().join("scanner/tests/fixtures/npm/osv-npm-subset.jsonl.gz"))
}

/// `app/…` of the real installed app as a layer, with or without its lockfile, plus `extra` files.
fn app_layer(with_lockfile: bool, extra: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let file = std::fs::File::open(app_dir().join("node_modules.tar.gz")).expect("node_modules.tar.gz");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut layer = TarBuilder::new().file("etc/debian_version", b"11.11\n");
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().trim_start_matches("./").to_string();
        if !entry.header().entry_type().is_file() || (!with_lockfile && path == "app/package-lock.json") {
            continue;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        layer = layer.file(&path, &data);
    }
    for (path, data) in extra {
        layer = layer.file(path, data);
    }
    layer.build()
}

fn scan(dir: &Path, layer: Vec<u8>) -> Value {
    ImageBuilder::new()
        .layer(LayerContent::Bytes(layer), Compression::Gzip, "COPY app /app")
        .write_layout(&dir.join("layout"), "app");
    let mut cmd = strata();
    cmd.args(["image", "--quiet", "--format", "json", "--input"])
        .arg(format!("{}:app", dir.join("layout").display()))
        .arg("--osv")
        .arg(osv());
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    out.json()
}

/// `name@version` → every path from the app to it, by the real npm. `npm ls` prints a repeated subtree
/// once, so edges are gathered wherever a package is expanded and all paths enumerated from them.
fn npm_ls_paths() -> BTreeMap<String, BTreeSet<String>> {
    let out = std::process::Command::new("npm")
        .args(["ls", "--all", "--json"])
        .current_dir(app_dir().join("app"))
        .output()
        .expect("run npm ls");
    assert!(out.status.success(), "npm ls: {}", String::from_utf8_lossy(&out.stderr));
    let tree: Value = serde_json::from_slice(&out.stdout).expect("npm ls JSON");
    fn edges(node: &Value, from: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
        for (name, child) in node["dependencies"].as_object().into_iter().flatten() {
            let label = format!("{name}@{}", child["version"].as_str().unwrap_or_default());
            out.entry(from.to_string()).or_default().insert(label.clone());
            edges(child, &label, out);
        }
    }
    fn all(g: &BTreeMap<String, BTreeSet<String>>, at: &str, path: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
        for child in g.get(at).into_iter().flatten() {
            let path = format!("{path} › {child}");
            out.entry(child.clone()).or_default().insert(path.clone());
            all(g, child, &path, out);
        }
    }
    let root =
        format!("{}@{}", tree["name"].as_str().unwrap_or_default(), tree["version"].as_str().unwrap_or_default());
    let (mut graph, mut paths) = (BTreeMap::new(), BTreeMap::new());
    edges(&tree, &root, &mut graph);
    all(&graph, &root, &root, &mut paths);
    paths
}

fn npm_results(report: &Value) -> Vec<&Value> {
    report["results"].as_array().expect("results").iter().filter(|r| r["ecosystem"] == "npm").collect()
}

#[test]
fn findings_carry_npm_ls_paths_with_and_without_lockfile() {
    let oracle = npm_ls_paths();
    let tmp = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for (with_lockfile, target) in [(true, "/app/package-lock.json"), (false, "/app/node_modules")] {
        let dir = tmp.path().join(format!("lock-{with_lockfile}"));
        let report = scan(&dir, app_layer(with_lockfile, &[]));
        let results = npm_results(&report);
        assert_eq!(results.len(), 1, "one npm target: {results:#?}");
        assert_eq!(results[0]["target"], target);
        assert_eq!(results[0]["packages"], oracle.len(), "every package once");
        let mut findings = BTreeMap::new();
        for f in results[0]["findings"].as_array().unwrap() {
            let id = format!("{}@{}", f["package"].as_str().unwrap(), f["installed_version"].as_str().unwrap());
            let paths: BTreeSet<String> =
                f["dependency_paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
            assert_eq!(Some(&paths), oracle.get(&id), "{id} ({target})");
            assert_eq!(f["dev"].as_bool().unwrap_or(false), id.starts_with("moment@"), "{id} dev");
            findings.insert((f["id"].as_str().unwrap().to_string(), id), ());
        }
        // A careful manual check of the advisories' ranges against the installed versions.
        let vulnerable: BTreeSet<&str> = findings.keys().map(|(_, id)| id.as_str()).collect();
        for id in [
            "express@4.2.0",
            "qs@0.6.6",
            "send@0.3.0",
            "negotiator@0.4.9",
            "lodash@4.17.4",
            "handlebars@4.0.11",
            "marked@0.3.5",
            "moment@2.10.6",
        ] {
            assert!(vulnerable.contains(id), "{id} missing from {vulnerable:?}");
        }
        assert!(oracle["send@0.3.0"].len() == 2 && oracle["qs@0.6.6"].len() == 1, "the app has multi-path findings");
        seen.push(findings.into_keys().collect::<Vec<_>>());
    }
    assert_eq!(seen[0], seen[1], "the same findings with and without the lockfile");
}

#[test]
fn bad_lockfiles_are_warnings() {
    let mut huge = br#"{"lockfileVersion": 3, "packages": {"": {"name": "big"}}, "padding": ""#.to_vec();
    huge.resize(50 * 1024 * 1024, b'x');
    huge.extend_from_slice(b"\"}");
    let deep = format!(
        "{{\"lockfileVersion\":1,\"dependencies\":{}{{}}{}}}",
        "{\"a\":{\"dependencies\":".repeat(10_000),
        "}}".repeat(10_000)
    );
    let extra = [
        ("big/package-lock.json", huge),
        ("deep/package-lock.json", deep.into_bytes()),
        ("html/package-lock.json", b"<html><body>502 Bad Gateway</body></html>".to_vec()),
        ("half/yarn.lock", b"# yarn lockfile v1\n\n\"express@4.2.0\":\n  version \"4.2".to_vec()),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let report = scan(tmp.path(), app_layer(true, &extra));
    let warnings: Vec<&str> =
        report["warnings"].as_array().expect("warnings").iter().filter_map(Value::as_str).collect();
    for (path, what) in
        [("/deep/package-lock.json", "recursion limit"), ("/html/package-lock.json", "not a valid npm lockfile")]
    {
        assert!(warnings.iter().any(|w| w.contains(path) && w.contains(what)), "{path}: {what} in {warnings:#?}");
    }
    // A lockfile over its size cap is not a mere warning: skipping it hides packages, so the report is
    // incomplete and names the file and the cap.
    let incomplete = report["incomplete"].as_array().expect("incomplete");
    assert!(
        incomplete
            .iter()
            .any(|i| i["path"] == "/big/package-lock.json" && i["reason"].as_str().unwrap().contains("cap")),
        "{incomplete:#?}"
    );
    assert!(!npm_results(&report)[0]["findings"].as_array().unwrap().is_empty(), "the scan went on");
}
