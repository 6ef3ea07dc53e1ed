//! A Strata report in Harbor's shapes: `HarborVulnerabilityReport` (one item per finding, the spec's
//! severity scale, CVSS split into v3 and v2) and `HarborSbomReport` (Strata's own SPDX 2.3 or
//! CycloneDX 1.5 document as the `sbom` object). Pure.

use serde_json::{Map, Value, json};
use strata_scanner::report::{Finding, Report, cyclonedx, spdx};
use strata_scanner::severity::Severity;

use super::model::{Artifact, SbomFormat, Scanner};

/// The spec's scale (`Negligible` has no Strata counterpart).
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Unknown => "Unknown",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

/// Every vulnerability finding of every target, as `VulnerabilityItem`s; `severity` is the worst of them
/// (`Unknown` when there is none). `generated_at` is RFC 3339.
pub fn vulnerability_report(report: &Report, artifact: &Artifact, generated_at: &str) -> Value {
    let findings: Vec<&Finding> = report.results.iter().flat_map(|r| &r.findings).collect();
    let worst = findings.iter().map(|f| f.severity).max().unwrap_or(Severity::Unknown);
    json!({
        "generated_at": generated_at,
        "artifact": artifact,
        "scanner": Scanner::strata(),
        "severity": severity(worst),
        "vulnerabilities": findings.iter().map(|f| item(f)).collect::<Vec<_>>(),
    })
}

fn item(f: &Finding) -> Value {
    let mut item = Map::new();
    item.insert("id".into(), json!(f.id));
    item.insert("package".into(), json!(f.package));
    item.insert("version".into(), json!(f.installed_version));
    if let Some(fixed) = &f.fixed_version {
        item.insert("fix_version".into(), json!(fixed));
    }
    item.insert("severity".into(), json!(severity(f.severity)));
    item.insert("description".into(), json!(f.title.clone().unwrap_or_default()));
    let mut links: Vec<&str> = f.primary_url.iter().chain(&f.references).map(String::as_str).collect();
    links.retain(|l| l.starts_with("https://") || l.starts_with("http://"));
    links.dedup();
    item.insert("links".into(), json!(links));
    if let Some(cvss) = preferred_cvss(f) {
        item.insert("preferred_cvss".into(), cvss);
    }
    let mut vendor = json!({
        "purl": f.purl, "path": f.path, "layer_diff_id": f.layer.diff_id, "aliases": f.aliases,
    });
    if let Some(source) = &f.source_package {
        vendor["source_package"] = json!(source);
    }
    if let Some(vector) = &f.cvss_vector {
        vendor["cvss_vector"] = json!(vector);
    }
    // Harbor's spec has no place for it; a Go finding whose vulnerable symbols the linker dropped says so.
    if let Some(reachability) = f.reachability {
        vendor["reachability"] = json!(reachability.as_str());
    }
    item.insert("vendor_attributes".into(), vendor);
    Value::Object(item)
}

/// `score_v3`/`vector_v3` for CVSS 3.x vectors, `score_v2`/`vector_v2` for v2 (no `CVSS:` prefix); v4
/// has no place in the spec and stays in `vendor_attributes`.
fn preferred_cvss(f: &Finding) -> Option<Value> {
    let vector = f.cvss_vector.as_deref()?;
    let (score_key, vector_key) = if vector.starts_with("CVSS:3.") {
        ("score_v3", "vector_v3")
    } else if vector.starts_with("AV:") {
        ("score_v2", "vector_v2")
    } else {
        return None;
    };
    let mut cvss = json!({ vector_key: vector });
    if let Some(score) = f.score {
        cvss[score_key] = json!(score);
    }
    Some(cvss)
}

/// `report` is a finished report (`strata_pipeline::finish`), which lists every package: it is the whole SBOM.
pub fn sbom_report(report: &Report, artifact: &Artifact, format: SbomFormat, generated_at: &str) -> Value {
    let sbom = match format {
        SbomFormat::Spdx => spdx::to_value(report, generated_at),
        SbomFormat::CycloneDx => cyclonedx::to_value(report),
    };
    json!({
        "generated_at": generated_at,
        "artifact": artifact,
        "scanner": Scanner::strata(),
        "media_type": format.mime(),
        "sbom": sbom,
        "vendor_attributes": {"db_digest": report.db.content_digest, "db_built_at": report.db.built_at},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_findings_carry_their_reachability_in_vendor_attributes() {
        let finding = |reachability: Option<&str>| -> Finding {
            let mut v = json!({
                "id": "GO-2023-1571", "aliases": ["CVE-2022-41723"], "package": "golang.org/x/net",
                "installed_version": "v0.7.0", "severity": "HIGH", "purl": "pkg:golang/golang.org/x/net@v0.7.0",
                "path": "/usr/local/bin/goapp", "layer": {"index": 0, "diff_id": "sha256:aa"},
            });
            if let Some(r) = reachability {
                v["reachability"] = json!(r);
            }
            serde_json::from_value(v).unwrap()
        };
        for r in ["reachable", "unreachable", "unknown"] {
            assert_eq!(item(&finding(Some(r)))["vendor_attributes"]["reachability"], r);
        }
        assert!(item(&finding(None))["vendor_attributes"].get("reachability").is_none());
    }
}
