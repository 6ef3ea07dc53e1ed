//! What the HTTP API tests share: the binaries, a DB of real advisories, small real images, and reading
//! scans and metrics back from the real fleet.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_testkit::debian::{Rootfs, minbase_osv, with_source_version};
use strata_testkit::fleet::{Bins, Fleet};
use strata_testkit::image::{BuiltImage, Compression, ImageBuilder, LayerContent};
use strata_testkit::tarball::TarBuilder;

pub fn bins() -> Bins {
    Bins::beside(Path::new(env!("CARGO_BIN_EXE_strata-coordinator")))
}

pub fn run(mut command: Command) -> (i32, String, String) {
    let out = command.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A DB of the real Debian advisories for bullseye minbase.
pub fn build_db(bins: &Bins, dir: &Path) -> PathBuf {
    let out = dir.join("strata.db");
    let mut cmd = Command::new(&bins.strata);
    cmd.args(["db", "build", "--out"]).arg(&out).arg("--osv").arg(minbase_osv());
    let (code, _, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    out
}

/// A small real image: bullseye's own `os-release`, `debian_version` and dpkg status (openssl downgraded
/// to a version that real advisories fix, so it has findings), plus a file of its own (`marker`) so that
/// different markers give different digests. Written to the OCI layout `layout` under `tag`.
pub fn small_image(layout: &Path, tag: &str, marker: &str) -> BuiltImage {
    let rootfs = Rootfs::bullseye();
    let status = with_source_version(&rootfs.status, "openssl", "1.1.1k-1+deb11u1");
    let files = TarBuilder::new()
        .file("etc/os-release", &rootfs.file("usr/lib/os-release"))
        .file("etc/debian_version", &rootfs.file("etc/debian_version"))
        .file("var/lib/dpkg/status", status.as_bytes())
        .file(&format!("srv/{marker}"), marker.as_bytes())
        .build();
    ImageBuilder::new().layer(LayerContent::Bytes(files), Compression::Gzip, "COPY rootfs /").write_layout(layout, tag)
}

/// Every scan the coordinator has (`strata status --all --json`).
pub fn scans(fleet: &Fleet, env: &[(&str, &str)]) -> Vec<Value> {
    let mut cmd = fleet.strata();
    cmd.args(["status", "--all", "--json"]).envs(env.iter().copied());
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<Value>(&out).ok().and_then(|v| v.as_array().cloned()).unwrap_or_default()
}

/// Polls `check` until it returns `Some` (at most `secs` seconds).
pub fn eventually<T>(secs: u64, what: &str, fleet: &Fleet, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {secs} s\n{}", fleet.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The sum of a Prometheus metric's samples whose line contains every one of `with` (0 when absent).
pub fn metric(body: &str, name: &str, with: &[&str]) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name) && with.iter().all(|w| l.contains(w)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub fn coordinator_metric(fleet: &Fleet, name: &str, with: &[&str]) -> f64 {
    metric(&fleet.ops_get("coordinator", "/metrics").1, name, with)
}

/// The report's vulnerability findings as `id package` lines.
pub fn findings(report: &Value) -> std::collections::BTreeSet<String> {
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["findings"].as_array().into_iter().flatten())
        .map(|f| format!("{} {}", f["id"].as_str().unwrap_or_default(), f["package"].as_str().unwrap_or_default()))
        .collect()
}

/// The fleet's own JSON report of a scan (`strata results ID --format json`).
pub fn fleet_report(fleet: &Fleet, id: &str, env: &[(&str, &str)]) -> Value {
    let mut cmd = fleet.strata();
    cmd.args(["results", id, "--format", "json"]).envs(env.iter().copied());
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("report json")
}
