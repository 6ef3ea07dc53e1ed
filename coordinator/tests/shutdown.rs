//! A graceful stop of the real coordinator binary: SIGTERM with a scan in flight and a client watching it
//! ends the process with status 0 (every background task stopped and joined, the open watch ended), and
//! leaves the scan as a crash would not: unfinished rather than failed, its lease released at once, so the
//! next coordinator resumes and finishes it.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{bins, build_db, eventually, scans, small_image};
use strata_testkit::fleet::{Fleet, redis_cli};
use strata_testkit::registry::TestRegistry;

#[test]
fn sigterm_stops_the_coordinator_cleanly_and_leaves_the_scan_in_flight_to_be_resumed() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let layout = tmp.path().join("layout");
    small_image(&layout, "v1", "shutdown");
    registry.push(&layout, "v1", "shutdown/app:v1", &[]);
    let reference = format!("{}/shutdown/app:v1", registry.host());
    let db = build_db(&bins, tmp.path());
    // No worker yet: the scan waits on its layer for as long as the test needs it in flight.
    let mut fleet = Fleet::start(bins, &db, 0, &[]);

    // `submit --wait` holds a WatchScans stream open across the stop.
    let mut watcher = fleet.strata();
    watcher.args(["submit", "--wait", &reference]).stdout(Stdio::null()).stderr(Stdio::null());
    let mut watcher = watcher.spawn().expect("strata submit --wait");
    let id = eventually(60, "the scan analysing", &fleet, || {
        let all = scans(&fleet, &[]);
        let scan = all.iter().find(|s| s["reference"] == reference.as_str() && s["status"] == "analyzing")?;
        Some(scan["id"].as_str()?.to_string())
    });

    // A hang guard, not a timing assertion: a coordinator that waits on its watch or its tasks never exits.
    let status = fleet.terminate_coordinator(Duration::from_secs(60));
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert!(status.is_some(), "the coordinator did not exit within 60 s of SIGTERM\n{}", fleet.logs());
    assert!(status.is_some_and(|s| s.success()), "exit status {status:?}\n{}", fleet.logs());
    let log = fleet.log_text("coordinator.log");
    assert!(log.contains("coordinator stopped"), "{log}");
    // Released by the stop (a killed coordinator's lease would stay for its 30 s), and still unfinished.
    let lease = format!("{}:lease:{id}", fleet.prefix);
    assert_eq!(redis_cli(&["exists", &lease]).trim(), "0", "the scan's lease outlived the stop");
    let active = format!("{}:scans:active", fleet.prefix);
    assert_eq!(redis_cli(&["sismember", &active, &id]).trim(), "1", "the scan is no longer active");

    fleet.start_coordinator();
    let before = fleet.status(&id);
    assert!(matches!(before["status"].as_str(), Some("queued" | "resolving" | "analyzing")), "{before}");
    fleet.add_worker();
    let done = eventually(120, "the resumed scan done", &fleet, || {
        let scan = fleet.status(&id);
        matches!(scan["status"].as_str(), Some("done" | "partial" | "failed" | "cancelled")).then_some(scan)
    });
    assert_eq!(done["status"], "done", "{done}\n{}", fleet.logs());
}
