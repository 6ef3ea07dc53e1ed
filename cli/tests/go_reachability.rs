//! Acceptance: Go symbol reachability against an independent oracle, Debian's `govulncheck` in binary mode,
//! run on the same binaries with a local DB built here from the same OSV records (../shared/vulndb
//! osv-go.jsonl.gz; withdrawn records left out on both sides). For every binary Strata's reachable set (by
//! advisory id) must equal govulncheck's, and every other Go finding Strata has must be unreachable.
//!
//! Binaries (scripts/fixtures.d/binaries.sh builds the small ones with Debian's Go toolchain): a program that
//! calls vulnerable standard library functions, one that only imports their packages, each also stripped;
//! the stripped goapp (vulnerable golang.org/x/net and x/text modules, one replaced) and its unstripped twin;
//! Debian's own stripped `go` and `gofmt` (golang-1.19-go) with unstripped twins rebuilt from Debian's
//! golang-1.19-src. This govulncheck (0.0~git20230201) cannot read a stripped binary (it needs the
//! `go.func.*` symbol), so a stripped binary is compared against its unstripped twin's govulncheck answer.
//! Debian's stripped docker-registry and skopeo have no twin: only checked to be decided (never `unknown`
//! where the advisory names imports) and reported as figures.
//! All are scanned from one real image pushed to a local `docker-registry`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;
use strata_testkit::fixtures;
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

fn osv_go() -> PathBuf {
    let dir = fixtures::shared_vulndb().expect("../shared/vulndb is needed for the govulncheck oracle");
    dir.join("osv-go.jsonl.gz")
}

/// The legacy layout this govulncheck reads from `file://DIR`: `index.json` (module → last modified),
/// `<module path>.json` (the module's entries), `ID/<id>.json` and `ID/index.json` (all ids).
fn govulncheck_db(osv: &Path, dir: &Path) {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(osv).unwrap()).read_to_string(&mut text).unwrap();
    let mut by_module: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut modified: BTreeMap<String, String> = BTreeMap::new();
    let mut ids = Vec::new();
    std::fs::create_dir_all(dir.join("ID")).unwrap();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if record.get("withdrawn").is_some() {
            continue;
        }
        let id = record["id"].as_str().unwrap().to_string();
        std::fs::write(dir.join("ID").join(format!("{id}.json")), line).unwrap();
        let modules: BTreeSet<String> = record["affected"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["package"]["name"].as_str().map(str::to_owned))
            .collect();
        for module in modules {
            let when = record["modified"].as_str().unwrap_or_default().to_string();
            let latest = modified.entry(module.clone()).or_default();
            if *latest < when {
                *latest = when;
            }
            by_module.entry(module).or_default().push(record.clone());
        }
        ids.push(id);
    }
    for (module, entries) in &by_module {
        let path = dir.join(format!("{module}.json"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec(entries).unwrap()).unwrap();
    }
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&modified).unwrap()).unwrap();
    std::fs::write(dir.join("ID/index.json"), serde_json::to_vec(&ids).unwrap()).unwrap();
}

/// The advisories govulncheck finds a vulnerable symbol of in `binary`.
fn govulncheck(db: &Path, binary: &Path) -> BTreeSet<String> {
    let out = Command::new("govulncheck")
        .arg("-json")
        .arg(binary)
        .env("GOVULNDB", format!("file://{}", db.display()))
        .output()
        .expect("govulncheck (Debian package govulncheck; scripts/setup.sh installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("govulncheck {}: not JSON ({e}): {stdout}\n{}", binary.display(), String::from_utf8_lossy(&out.stderr))
    });
    report["Vulns"].as_array().into_iter().flatten().map(|v| v["OSV"]["id"].as_str().unwrap().to_string()).collect()
}

/// Advisory ids of one target's findings, by reachability.
fn by_reachability(report: &Value, target: &str) -> BTreeMap<String, BTreeSet<String>> {
    let result = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == target)
        .unwrap_or_else(|| panic!("no result for {target}"));
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in result["findings"].as_array().unwrap() {
        let reach = f["reachability"].as_str().unwrap_or_else(|| panic!("{target}: no reachability on {f}"));
        out.entry(reach.to_string()).or_default().insert(f["id"].as_str().unwrap().to_string());
    }
    out
}

#[test]
fn reachable_sets_equal_govulncheck() {
    let reach = fixtures::dir().join("binaries/reach");
    assert!(reach.join("gofmt").is_file(), "{} is missing: run scripts/fixtures.sh", reach.display());
    let debian_go = Path::new("/usr/lib/go-1.19/bin");
    // (path in the image, file, the unstripped file govulncheck reads)
    let mut cases: Vec<(String, PathBuf, PathBuf)> = Vec::new();
    for prog in ["calls", "imports"] {
        cases.push((format!("/usr/local/bin/{prog}"), reach.join(prog), reach.join(prog)));
        cases.push((
            format!("/usr/local/bin/{prog}-stripped"),
            reach.join(format!("{prog}-stripped")),
            reach.join(prog),
        ));
    }
    let goapp = fixtures::dir().join("binaries/goapp");
    cases.push(("/usr/local/bin/goapp".into(), goapp, reach.join("goapp")));
    for prog in ["go", "gofmt"] {
        cases.push((format!("/usr/local/bin/{prog}-twin"), reach.join(prog), reach.join(prog)));
        cases.push((format!("/usr/lib/go-1.19/bin/{prog}"), debian_go.join(prog), reach.join(prog)));
    }
    let undecided = ["/usr/bin/docker-registry", "/usr/bin/skopeo"];

    let mut layer = TarBuilder::new();
    for (path, file, _) in &cases {
        layer = layer.executable(path.trim_start_matches('/'), &std::fs::read(file).unwrap());
    }
    for path in undecided {
        layer = layer.executable(path.trim_start_matches('/'), &std::fs::read(path).unwrap());
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(LayerContent::Bytes(layer.build()), Compression::Gzip, "COPY go-programs /")
        .write_layout(&layout, "go");
    let registry = TestRegistry::start();
    registry.push(&layout, "go", "strata/go-reach:1", &[]);

    let osv = osv_go();
    let db = build_db(tmp.path(), std::slice::from_ref(&osv));
    let mut cmd = strata();
    cmd.args(["image", "--quiet", "--format", "json", "--db"])
        .arg(&db)
        .arg(format!("{}/strata/go-reach:1", registry.host()));
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let report = out.json();

    let gv_db = tmp.path().join("govulndb");
    govulncheck_db(&osv, &gv_db);
    let mut oracle: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    for (target, file, twin) in &cases {
        let want = oracle.entry(twin.clone()).or_insert_with(|| govulncheck(&gv_db, twin));
        let got = by_reachability(&report, target);
        let reachable = got.get("reachable").cloned().unwrap_or_default();
        let unreachable = got.get("unreachable").map_or(0, BTreeSet::len);
        let unknown = got.get("unknown").cloned().unwrap_or_default();
        eprintln!(
            "{target}: reachable {}/{} equal to govulncheck{}, unreachable {unreachable}, unknown {}",
            reachable.intersection(want).count(),
            want.len(),
            if file == twin { "" } else { " (run on the unstripped twin)" },
            unknown.len()
        );
        if &reachable != want {
            failures.push(format!(
                "{target}: Strata only {:?}, govulncheck only {:?}",
                reachable.difference(want).collect::<Vec<_>>(),
                want.difference(&reachable).collect::<Vec<_>>()
            ));
        }
        if !unknown.is_empty() {
            failures.push(format!("{target}: unknown {unknown:?} though the table is readable"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(!oracle[&reach.join("calls")].is_empty(), "the calling program reaches vulnerable stdlib code");
    // Module symbols land on their module's package, the replaced x/text included.
    let goapp_reached: BTreeSet<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["target"] == "/usr/local/bin/goapp")
        .flat_map(|r| r["findings"].as_array().unwrap())
        .filter(|f| f["reachability"] == "reachable")
        .filter_map(|f| f["package"].as_str())
        .collect();
    assert_eq!(goapp_reached, BTreeSet::from(["golang.org/x/net", "golang.org/x/text", "stdlib"]));

    for target in undecided {
        let got = by_reachability(&report, target);
        let count = |k: &str| got.get(k).map_or(0, BTreeSet::len);
        eprintln!(
            "{target} (stripped, no twin: not compared): reachable {}, unreachable {}, unknown {}",
            count("reachable"),
            count("unreachable"),
            count("unknown")
        );
        assert!(count("reachable") > 0, "{target}: {got:?}");
    }
}
