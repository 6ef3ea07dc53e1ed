//! Acceptance: what the fleet commands say when there is nothing to show — `strata status` with no active
//! scan, `strata results` of a scan that failed or does not exist — and the coordinator's INFO log line per
//! scan, on a real coordinator and worker.

mod common;

use common::{bins, build_db, run};
use strata_testkit::fleet::Fleet;
use strata_testkit::registry::TestRegistry;

#[test]
fn status_results_and_logs_explain_themselves() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db(&bins, tmp.path());
    let fleet = Fleet::start(bins.clone(), &db, 1, &[]);
    let registry = TestRegistry::start();

    // Nothing active: the header, and where the finished scans are.
    let mut status = fleet.strata();
    status.arg("status");
    let (code, out, err) = run(status);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("SCAN\tIMAGE\tSTATUS"), "{out}");
    assert_eq!(lines[1], "no active scans; `strata status --all` lists finished ones too", "{out}");

    // A repository that does not exist: the scan fails, and `results` says so in words.
    let reference = format!("{}/team/nothing:1.0", registry.host());
    let mut submit = fleet.strata();
    submit.args(["submit", "--wait", &reference]);
    let (code, out, err) = run(submit);
    assert_eq!(code, 2, "{out}\n{err}\n{}", fleet.logs());
    let id = out.lines().find(|l| l.contains(&reference)).and_then(|l| l.split('\t').next()).unwrap().to_string();
    let mut results = fleet.strata();
    results.args(["results", &id]);
    let (code, _, err) = run(results);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("scan {id} ({reference}) failed: ")), "{err}");
    assert!(err.contains("repository team/nothing does not exist"), "{err}");
    assert!(!err.contains("NotFound") && !err.contains("status:"), "raw gRPC text: {err}");

    let mut unknown = fleet.strata();
    unknown.args(["results", "no-such-scan"]);
    let (code, _, err) = run(unknown);
    assert_eq!(code, 2);
    assert!(err.contains("no scan no-such-scan on this coordinator"), "{err}");

    // --all lists the failed scan under the header, and no hint.
    let mut all = fleet.strata();
    all.args(["status", "--all"]);
    let (_, out, _) = run(all);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.lines().nth(1).is_some_and(|l| l.starts_with(&id) && l.contains("failed")), "{out}");

    // The coordinator's log has one INFO line when the scan came in and one when it ended.
    let log = fleet.log_text("coordinator.log");
    let mentions = |what: &str| log.lines().any(|l| l.contains("INFO") && l.contains(what) && l.contains(&id));
    assert!(mentions("scan submitted") && mentions("scan finished"), "{log}");
    // The fleet logs JSON lines: the status is a field of its own.
    assert!(log.lines().any(|l| l.contains("scan finished") && l.contains(r#""status":"failed""#)), "{log}");
}
