//! Helpers shared by the CLI's acceptance tests: run the real `strata` binary, build real images from the
//! debootstrapped bullseye root filesystem, and an independent oracle (Debian's own `dpkg
//! --compare-versions`) for which advisories apply.

#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
#[allow(unused_imports)] // not every test binary needs all of it
pub use strata_testkit::debian::*;

pub fn strata() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("strata").expect("strata binary");
    cmd.env_remove("STRATA_REGISTRY_USERNAME").env_remove("STRATA_REGISTRY_PASSWORD").env("NO_COLOR", "1");
    cmd
}

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

pub fn run(cmd: &mut assert_cmd::Command) -> Outcome {
    let out = cmd.output().expect("run strata");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Builds a DB file with `strata db build` from `osv` into `dir`.
pub fn build_db(dir: &Path, osv: &[PathBuf]) -> PathBuf {
    let out = dir.join("strata.db");
    let mut cmd = strata();
    cmd.args(["db", "build", "--out"]).arg(&out).arg("--osv").args(osv);
    let o = run(&mut cmd);
    assert_eq!(o.code, 0, "db build failed: {}", o.stderr);
    out
}

/// Findings of a JSON report as (advisory, package) pairs.
pub fn findings(report: &Value) -> BTreeSet<(String, String)> {
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["findings"].as_array().into_iter().flatten())
        .map(|f| {
            (f["id"].as_str().unwrap_or_default().to_string(), f["package"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

/// The report minus what legitimately differs between sources (the name given, the manifest digest).
pub fn comparable(mut report: Value) -> Value {
    report["artifact"]["name"] = Value::Null;
    report["artifact"]["repo_digest"] = Value::Null;
    report
}

/// `skopeo copy` between two transports.
pub fn skopeo_copy(src: &str, dst: &str, extra: &[&str]) {
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false"])
        .args(extra)
        .args([src, dst])
        .output()
        .expect("skopeo");
    assert!(out.status.success(), "skopeo copy {src} {dst}: {}", String::from_utf8_lossy(&out.stderr));
}
