//! `strata-loadtest nights --faults` end to end on a tiny population, with the real binaries, its own
//! registry, RabbitMQ node and Redis: the report must show that no scan was lost to the faults, and that
//! night 2 analysed the rebuilt layers and nothing else.

use std::process::Command;

use serde_json::Value;

#[test]
fn two_nights_with_faults_lose_nothing_and_night_two_analyses_only_rebuilt_layers() {
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = (dir.path().join("report.json"), dir.path().join("plot.svg"));
    let out = Command::new(env!("CARGO_BIN_EXE_strata-loadtest"))
        .args(["nights", "--images", "40", "--change-rate", "0.1", "--faults", "--fault-at", "0,0,0"])
        .args(["--timeout-minutes", "10"])
        .args(["--anchor-mib", "16", "--json"])
        .arg(&json)
        .arg("--plot")
        .arg(&svg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Each failure names its check first; the report table (stdout) follows for the figures.
    assert!(
        out.status.success(),
        "check failed: strata-loadtest nights exited {}: {}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let nights = report["nights"].as_array().unwrap();
    assert_eq!(nights.len(), 2, "check failed: two nights in the report\n{stdout}");
    for night in nights {
        let n = &night["night"];
        assert_eq!(night["nothing_lost"], true, "check failed: night {n} lost no scan\n{stdout}");
        let statuses = night["statuses"].as_object().unwrap();
        let done = statuses.get("done").and_then(Value::as_u64).unwrap_or(0);
        let failed = statuses.get("failed").and_then(Value::as_u64).unwrap_or(0);
        assert_eq!(done + failed, 40, "check failed: night {n}, every scan ends done or failed: {statuses:?}");
        assert_eq!(night["images"], 40, "check failed: night {n} scanned 40 images");
    }
    // The faults were injected during night 1, right after the submission, and are in the report.
    let actions: Vec<&str> =
        nights[0]["faults"].as_array().unwrap().iter().filter_map(|f| f["action"].as_str()).collect();
    for what in ["SIGKILL worker-", "RabbitMQ", "Redis"] {
        assert!(
            actions.iter().any(|a| a.contains(what) && !a.contains("not reached")),
            "check failed: the fault {what:?} was injected in night 1: {actions:?}"
        );
    }
    // Night 2: four images rebuilt, their four new layers analysed, nothing analysed twice.
    let layers = &nights[1]["layers"];
    assert_eq!(layers["new_layers"], 4, "check failed: night 2 has the 4 rebuilt layers: {layers}");
    assert_eq!(layers["reanalysed"], 0, "check failed: night 2 analysed no layer again: {layers}");
    let failed_first = layers["first_analysed_old_layers"].as_u64().unwrap();
    assert_eq!(
        layers["distinct_analysed"].as_u64().unwrap(),
        4 + failed_first,
        "check failed: night 2 analysed only new layers (and ones night 1 failed): {layers}"
    );
    assert_eq!(
        report["checks"]["night2_analysed_only_new_layers"], true,
        "check failed: the report's own night2_analysed_only_new_layers: {}",
        report["checks"]
    );
    // The DB update reached night 2: the advisories it added show up as findings.
    let findings = |n: &Value| n["findings"]["total"].as_u64().unwrap_or(0);
    assert!(
        findings(&nights[1]) > findings(&nights[0]),
        "check failed: night 2's DB update (+{} advisories) added findings: night 1 {}, night 2 {} (DB from {})\n{stdout}",
        report["db"]["added_in_night2"],
        findings(&nights[0]),
        findings(&nights[1]),
        report["db"]["sources"]
    );
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"), "check failed: the plot is an SVG");
}
