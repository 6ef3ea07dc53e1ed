//! `--reachable-only` through the fleet: `strata submit --reachable-only` stores the flag with the scan
//! (`ScanOptions.reachable_only`), the runner finishes the report with it, and the result hides exactly the
//! findings the plain scan of the same image marks unreachable, counting them; `strata results
//! --reachable-only` of the plain scan shows the same report as the filtered scan, and its OpenVEX document
//! is the one `strata image` writes. Real coordinator and worker, RabbitMQ, Redis and a registry; a real Go
//! binary and the real Go advisories naming its modules.

mod common;

use std::collections::BTreeSet;

use common::{bins, run};
use serde_json::Value;
use strata_coordinator::store::ScanStore;
use strata_testkit::fixtures;
use strata_testkit::fleet::Fleet;
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

/// (id, package, path) of a JSON report's findings, optionally only those with `reachability`.
fn findings(report: &Value, reachability: Option<&str>) -> BTreeSet<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["findings"].as_array().into_iter().flatten())
        .filter(|f| reachability.is_none_or(|r| f["reachability"] == r))
        .map(|f| (text(&f["id"]), text(&f["package"]), text(&f["path"])))
        .collect()
}

fn report(fleet: &Fleet, id: &str, extra: &[&str]) -> Value {
    let mut cmd = fleet.strata();
    cmd.args(["results", id, "--format", "json"]).args(extra);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "results {id}: {err}");
    serde_json::from_str(&out).expect("report JSON")
}

#[test]
fn reachable_only_is_stored_with_the_scan_and_hides_what_is_unreachable() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let goapp = fixtures::dir().join("binaries/goapp");
    assert!(goapp.is_file(), "{} is missing: run scripts/fixtures.sh", goapp.display());
    let layer = TarBuilder::new().executable("usr/local/bin/goapp", &std::fs::read(&goapp).unwrap()).build();
    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(LayerContent::Bytes(layer), Compression::Gzip, "COPY goapp /")
        .write_layout(&layout, "go");
    let registry = TestRegistry::start();
    registry.push(&layout, "go", "strata/goapp:1", &[]);
    let reference = format!("{}/strata/goapp:1", registry.host());
    let osv = fixtures::repo_root().join("scanner/tests/fixtures/binary/osv-binaries.jsonl.gz");
    let db = bins.build_db(tmp.path(), &[osv], "strata.db");
    let fleet = Fleet::start(bins, &db, 1, &[]);

    let submit = |extra: &[&str]| {
        let mut cmd = fleet.strata();
        cmd.args(["submit", "--wait"]).args(extra).arg(&reference);
        let (code, out, err) = run(cmd);
        assert_eq!(code, 0, "submit {extra:?}: {out}\n{err}\n{}", fleet.logs());
        out.lines().next().and_then(|l| l.split('\t').next()).expect("a scan id").to_string()
    };
    let plain = submit(&[]);
    let filtered = submit(&["--reachable-only"]);

    // The flag travels with the submission and is stored with the scan, so rescans finish with it too.
    let stored = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
        let store = ScanStore::connect(&client, &fleet.prefix).await.unwrap();
        let flag = |scan: strata_proto::v1::Scan| scan.options.map(|o| o.reachable_only);
        (flag(store.get(&plain).await.unwrap()), flag(store.get(&filtered).await.unwrap()))
    });
    assert_eq!(stored, (Some(false), Some(true)));

    let all = report(&fleet, &plain, &[]);
    let only = report(&fleet, &filtered, &[]);
    assert!(!findings(&all, None).is_empty(), "goapp's modules have real advisories: {all:#}");
    let unreachable = findings(&all, Some("unreachable"));
    let kept: BTreeSet<_> = findings(&all, None).difference(&unreachable).cloned().collect();
    assert_eq!(findings(&only, None), kept);
    let count = |r: &Value, at: &[&str]| at.iter().fold(r, |v, k| &v[*k]).as_u64().unwrap_or(0) as usize;
    assert_eq!(count(&only, &["summary", "hidden_by", "unreachable"]), unreachable.len());
    assert_eq!(count(&only, &["summary", "unreachable"]), unreachable.len(), "hidden, still counted");
    assert_eq!(count(&all, &["summary", "unreachable"]), unreachable.len());
    // The same filter at display time gives the report the fleet finished with it.
    assert_eq!(report(&fleet, &plain, &["--reachable-only"]), only);

    // OpenVEX from the stored report is the document a local scan writes: one finishing path.
    let openvex = |args: &[&str]| {
        let mut cmd = fleet.strata();
        cmd.args(args).args(["--format", "openvex"]);
        let (code, out, err) = run(cmd);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str::<Value>(&out).expect("OpenVEX JSON")
    };
    let fleet_vex = openvex(&["results", &plain]);
    assert_eq!(fleet_vex["@context"], "https://openvex.dev/ns/v0.2.0");
    assert_eq!(fleet_vex, openvex(&["image", &reference, "--quiet", "--db", db.to_str().unwrap()]));

    let mut cmd = fleet.strata();
    cmd.args(["results", &plain, "--format", "openvex", "--reachable-only"]);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--reachable-only"), "{err}");
}
