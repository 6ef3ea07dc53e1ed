//! What DefectDojo receives of a report: Strata's trivy-json, shaped for DefectDojo's Trivy importer
//! (`dojo/tools/trivy/parser.py` in DefectDojo 3.2.0). One function, used by the fleet and the CLI.
//!
//! - **OS targets carry neither registry nor point release** (`debian 11`, not
//!   `127.0.0.1:5055/app (debian 11.11)`): the importer takes an OS finding's `file_path` from `Target`
//!   (OS packages have no `PkgPath`) and puts `Target` in the description, and both feed the finding's hash.
//!   The same digest under another registry name, or a point release, would close and recreate every OS
//!   finding. The product name already says which repository it is.
//! - **Layer, Dockerfile step, dependency paths and Go reachability go in `References`**: the importer
//!   shows them on the finding but hashes neither under DefectDojo's default nor under the recommended
//!   fields, so a rebuild that changes a step or a path, or a binary that stops linking a vulnerable
//!   symbol, does not close anything.
//! - **An incomplete analysis is a finding of its own** (`STRATA-INCOMPLETE`, HIGH, in the target
//!   `strata: incomplete analysis`), listing what was skipped: a report with gaps must not look clean in
//!   DefectDojo either. It closes by itself with the first complete upload.

use serde_json::{Value, json};
use strata_scanner::report::{Finding, Reachability, Report};

use super::client::{DefectDojoError, Upload, validate};

/// The target of the incomplete-analysis finding.
pub const INCOMPLETE_TARGET: &str = "strata: incomplete analysis";

/// The file a `reimport-scan` of `report` sends.
pub fn to_dojo_file(report: &Report) -> Vec<u8> {
    serde_json::to_vec_pretty(&to_dojo_value(report)).unwrap_or_default()
}

pub fn to_dojo_value(report: &Report) -> Value {
    let mut doc = strata_scanner::report::trivy::to_value(report);
    if let Some(results) = doc.get_mut("Results").and_then(Value::as_array_mut) {
        // `to_value` writes one result per report target, in order.
        for (out, r) in results.iter_mut().zip(&report.results) {
            if r.class == "os-pkgs" {
                out["Target"] = json!(stable_os(&r.kind, &r.target));
            }
            let Some(vulns) = out.get_mut("Vulnerabilities").and_then(Value::as_array_mut) else { continue };
            for (v, f) in vulns.iter_mut().zip(&r.findings) {
                let mut references: Vec<Value> = v["References"].as_array().cloned().unwrap_or_default();
                references.extend(origin_lines(f).into_iter().map(Value::String));
                v["References"] = Value::Array(references);
            }
        }
        if !report.incomplete.is_empty() {
            results.push(incomplete_result(report));
        }
    }
    doc
}

/// `debian 11.11` → `debian 11`; Alpine keeps its branch (`alpine 3.18.4` → `alpine 3.18`); a release
/// naming scheme not listed here stays as it is.
fn stable_os(family: &str, target: &str) -> String {
    let Some((name, version)) = target.rsplit_once(' ') else { return target.to_string() };
    let keep = match family {
        "alpine" => 2,
        "debian" | "rhel" | "centos" | "rocky" | "alma" | "almalinux" | "oracle" | "amazon" | "redhat" => 1,
        _ => return target.to_string(),
    };
    let short: Vec<&str> = version.split('.').take(keep).collect();
    format!("{name} {}", short.join("."))
}

/// Where the package came from and how the application reaches it, for a person triaging the finding.
fn origin_lines(f: &Finding) -> Vec<String> {
    let mut lines = vec![match &f.layer.created_by {
        Some(step) if !step.is_empty() => {
            format!("Strata: layer #{} ({}), from `{step}`", f.layer.index, f.layer.diff_id)
        }
        _ => format!("Strata: layer #{} ({})", f.layer.index, f.layer.diff_id),
    }];
    lines.push(format!("Strata: listed in {}", f.path));
    lines.extend(f.dependency_paths.iter().map(|p| format!("Strata: dependency path {p}")));
    if f.dependency_paths_cut > 0 {
        lines.push(format!("Strata: {} more dependency path(s) not listed", f.dependency_paths_cut));
    }
    lines.extend(f.reachability.map(reachability_line));
    lines
}

/// The engine's verdict on a Go finding, in words a triager can act on.
fn reachability_line(r: Reachability) -> String {
    let why = match r {
        Reachability::Reachable => "a vulnerable Go symbol the advisory names is in the binary",
        Reachability::Unreachable => "none of the vulnerable Go symbols the advisory names is in the binary",
        Reachability::Unknown => "the advisory names no Go symbols, or the binary's function table was unreadable",
    };
    format!("Strata: Reachability: {} ({why})", r.as_str())
}

fn incomplete_result(report: &Report) -> Value {
    let gaps = report.incomplete_lines();
    json!({
        "Target": INCOMPLETE_TARGET,
        "Class": "config",
        "Type": "strata",
        "Misconfigurations": [{
            "Type": "strata",
            "ID": "STRATA-INCOMPLETE",
            "Title": "Incomplete analysis: the findings of this image are a lower bound",
            "Description": "Strata skipped or cut short part of this image's analysis; what it did not \
                            read may hold vulnerabilities or secrets that are not listed.",
            "Message": gaps.join("\n"),
            "Resolution": "Raise the budget named in each line, or fix the file it names, and scan again.",
            "Severity": "HIGH",
            "Status": "FAIL",
            "References": [],
            "CauseMetadata": {},
        }],
    })
}

/// The uploads of one report: its file validated, split by target when over `limit` bytes, each part
/// with its test title; every name checked against DefectDojo's limits. `upload.names.test_title` is the
/// title before any split.
pub fn uploads(upload: &Upload, file: Vec<u8>, limit: usize) -> Result<Vec<(Upload, Vec<u8>)>, DefectDojoError> {
    validate(&file)?;
    let base = upload.names.test_title.clone();
    let parts = split_by_target(file, limit)?;
    let titles: Vec<String> = parts
        .iter()
        .map(|(target, _)| match target {
            Some(target) => format!("{base} | {target}"),
            None => base.clone(),
        })
        .collect();
    let mut out = Vec::with_capacity(parts.len());
    for ((_, bytes), title) in parts.into_iter().zip(&titles) {
        let mut part = upload.clone();
        part.names.test_title = title.clone();
        part.base_title = base.clone();
        part.titles = titles.clone();
        part.names.check_lengths()?;
        out.push((part, bytes));
    }
    Ok(out)
}

/// One upload's file, and the target it holds when the report was split.
pub type Part = (Option<String>, Vec<u8>);

/// Splits a Trivy report over `limit` bytes into one document per `Target` (sorted by target, so the
/// split is the same every night), each keeping the report's other top-level fields. Returns
/// `(None, file)` when no split is needed. A single target over the limit is refused: DefectDojo would
/// reject it anyway, and a partial upload with `close_old_findings` would close what was left out.
pub fn split_by_target(file: Vec<u8>, limit: usize) -> Result<Vec<Part>, DefectDojoError> {
    if file.len() <= limit {
        return Ok(vec![(None, file)]);
    }
    let value: Value =
        serde_json::from_slice(&file).map_err(|e| DefectDojoError::InvalidReport(format!("not JSON: {e}")))?;
    let mut results: Vec<Value> = value.get("Results").and_then(Value::as_array).cloned().unwrap_or_default();
    let target = |r: &Value| r.get("Target").and_then(Value::as_str).unwrap_or_default().to_string();
    results.sort_by_key(|r| target(r));
    // Results sharing a target (a path two analysers report) travel together: one target, one part.
    let mut grouped: Vec<(String, Vec<Value>)> = Vec::new();
    for r in results {
        let name = target(&r);
        match grouped.last_mut() {
            Some((last, rs)) if *last == name => rs.push(r),
            _ => grouped.push((name, vec![r])),
        }
    }
    let mut parts = Vec::with_capacity(grouped.len());
    for (name, rs) in grouped {
        let mut doc = value.clone();
        doc["Results"] = Value::Array(rs);
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| DefectDojoError::InvalidReport(e.to_string()))?;
        if bytes.len() > limit {
            return Err(DefectDojoError::InvalidReport(format!(
                "target {name:?} alone is {} bytes, over DefectDojo's upload limit of {limit}",
                bytes.len()
            )));
        }
        parts.push((Some(name), bytes));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_by_target_and_deterministic() {
        let doc = serde_json::json!({"SchemaVersion": 2, "ArtifactName": "a", "Results": [
            {"Target": "b", "Vulnerabilities": [{"VulnerabilityID": "X", "PkgName": "p", "Severity": "LOW"}]},
            {"Target": "a", "Vulnerabilities": [{"VulnerabilityID": "Y", "PkgName": "q", "Severity": "LOW"}]},
        ]});
        let bytes = serde_json::to_vec_pretty(&doc).unwrap();
        assert_eq!(split_by_target(bytes.clone(), bytes.len()).unwrap().len(), 1);
        let parts = split_by_target(bytes.clone(), bytes.len() - 1).unwrap();
        let targets: Vec<_> = parts.iter().map(|(t, _)| t.clone().unwrap()).collect();
        assert_eq!(targets, ["a", "b"]);
        assert_eq!(parts, split_by_target(bytes.clone(), bytes.len() - 1).unwrap());
        assert!(matches!(split_by_target(bytes, 10), Err(DefectDojoError::InvalidReport(_))));
    }

    #[test]
    fn os_targets_drop_the_point_release() {
        assert_eq!(stable_os("debian", "debian 11.11"), "debian 11");
        assert_eq!(stable_os("debian", "debian 12"), "debian 12");
        assert_eq!(stable_os("alpine", "alpine 3.18.4"), "alpine 3.18");
        assert_eq!(stable_os("ubuntu", "ubuntu 22.04"), "ubuntu 22.04");
    }

    #[test]
    fn go_findings_say_whether_they_are_reachable() {
        let finding = |reachability: &str| -> Finding {
            let mut v = serde_json::json!({
                "id": "GO-2023-1571", "aliases": ["CVE-2022-41723"], "package": "golang.org/x/net",
                "installed_version": "v0.7.0", "severity": "HIGH", "purl": "pkg:golang/golang.org/x/net@v0.7.0",
                "path": "/app/server", "layer": {"index": 1, "diff_id": "sha256:aa"},
            });
            if !reachability.is_empty() {
                v["reachability"] = serde_json::json!(reachability);
            }
            serde_json::from_value(v).unwrap()
        };
        let line = |r: &str| origin_lines(&finding(r)).into_iter().find(|l| l.contains("Reachability"));
        assert_eq!(
            line("unreachable").as_deref(),
            Some(
                "Strata: Reachability: unreachable (none of the vulnerable Go symbols the advisory names is in the binary)"
            )
        );
        assert!(line("reachable").unwrap().starts_with("Strata: Reachability: reachable ("));
        assert!(line("unknown").unwrap().starts_with("Strata: Reachability: unknown ("));
        assert_eq!(line(""), None);
    }
}
