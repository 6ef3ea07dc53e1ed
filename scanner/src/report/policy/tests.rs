//! Table-driven: a report with Debian and npm findings (real advisories of the committed fixtures), an
//! ignore file and OpenVEX documents in the shape `vexctl create` writes.

use super::*;
use crate::merge::LayerOrigin;
use crate::report::{Artifact, DbInfo, Summary, TargetResult};
use crate::severity::Severity;

fn finding(id: &str, aliases: &[&str], package: &str, source: Option<&str>, purl: &str, path: &str) -> Finding {
    Finding {
        id: id.into(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        package: package.into(),
        installed_version: purl.rsplit_once('@').map_or("", |(_, v)| v.split('?').next().unwrap_or("")).into(),
        source_package: source.map(Into::into),
        fixed_version: Some("9".into()),
        severity: Severity::High,
        severity_source: None,
        score: None,
        title: None,
        primary_url: None,
        cvss_vector: None,
        references: Vec::new(),
        purl: purl.into(),
        path: path.into(),
        dependency_paths: Vec::new(),
        dependency_paths_cut: 0,
        dev: false,
        layer: LayerOrigin { index: 0, diff_id: "sha256:00".into(), created_by: None },
        reachability: None,
    }
}

const LIBSSL: &str = "pkg:deb/debian/libssl1.1@1.1.1k-1%2Bdeb11u1?arch=amd64&distro=debian-11.6&upstream=openssl";
const ZLIB: &str = "pkg:deb/debian/zlib1g@1%3A1.2.11.dfsg-2%2Bdeb11u1?arch=amd64&distro=debian-11.6&upstream=zlib";
const QS: &str = "pkg:npm/qs@6.5.1";
const DIGEST: &str = "sha256:5b0d4bd4c5b4ba1b1bb8bd1e1e0e9ec62cf1f2cb2b9dbd4c1b8e1e0b8a9f7c6d";

fn report() -> Report {
    let os = vec![
        finding(
            "DSA-5343-1",
            &["CVE-2022-4450", "CVE-2023-0286"],
            "libssl1.1",
            Some("openssl"),
            LIBSSL,
            "/var/lib/dpkg/status",
        ),
        finding("DSA-5103-1", &["CVE-2022-0778"], "libssl1.1", Some("openssl"), LIBSSL, "/var/lib/dpkg/status"),
        finding("DSA-5218-1", &["CVE-2022-37434"], "zlib1g", Some("zlib"), ZLIB, "/var/lib/dpkg/status"),
    ];
    let npm = vec![finding("GHSA-hrpp-h998-j3pp", &["CVE-2022-24999"], "qs", None, QS, "/app/package-lock.json")];
    let target = |target: &str, class: &str, findings: Vec<Finding>| TargetResult {
        target: target.into(),
        class: class.into(),
        kind: "x".into(),
        ecosystem: None,
        packages: findings.len(),
        notice: None,
        findings,
        package_list: None,
        secrets: Vec::new(),
        misconfigurations: Vec::new(),
        suppressed: Vec::new(),
        hidden: Default::default(),
    };
    let results = vec![target("debian 11.6", "os-pkgs", os), target("/app/package-lock.json", "lang-pkgs", npm)];
    Report {
        schema_version: 1,
        artifact: Artifact {
            name: "127.0.0.1:5055/strata/app:1.0".into(),
            image_id: "sha256:11".into(),
            repo_digest: Some(DIGEST.into()),
            platform: "linux/amd64".into(),
            os: None,
            layers: Vec::new(),
        },
        db: DbInfo {
            content_digest: "sha256:22".into(),
            built_at: "2023-04-30T00:00:00Z".into(),
            newest_advisory: None,
            stale: None,
        },
        summary: summarize(&results),
        results,
        warnings: Vec::new(),
        incomplete: Vec::new(),
        advice: None,
    }
}

/// A document as `vexctl create` writes it, with one statement per case.
fn vex_doc(statements: &str) -> String {
    format!(
        r#"{{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://openvex.dev/docs/public/vex-0f1c2b",
  "author": "Strata tests",
  "timestamp": "2024-03-01T10:00:00Z",
  "version": 1,
  "statements": [{statements}]
}}"#
    )
}

fn remaining(report: &Report) -> Vec<String> {
    report.results.iter().flat_map(|r| &r.findings).map(|f| format!("{} {}", f.id, f.package)).collect()
}

#[test]
fn vex_statements_suppress_by_status_and_product() {
    let image = format!("pkg:oci/app@{}?repository_url=127.0.0.1:5055/strata/app", DIGEST.replace(':', "%3A"));
    let all = ["DSA-5343-1 libssl1.1", "DSA-5103-1 libssl1.1", "DSA-5218-1 zlib1g", "GHSA-hrpp-h998-j3pp qs"];
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "not_affected on the package purl, named by a CVE alias",
            r#"{"vulnerability":{"name":"CVE-2022-0778"},"products":[{"@id":"pkg:deb/debian/libssl1.1"}],
               "status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}"#
                .into(),
            vec!["DSA-5343-1 libssl1.1", "DSA-5218-1 zlib1g", "GHSA-hrpp-h998-j3pp qs"],
        ),
        (
            "fixed on the image with the package as subcomponent, named by @id URL",
            format!(
                r#"{{"vulnerability":{{"@id":"https://nvd.nist.gov/vuln/detail/CVE-2022-37434"}},
                   "products":[{{"@id":"{image}","subcomponents":[{{"@id":"pkg:deb/debian/zlib1g?arch=amd64"}}]}}],
                   "status":"fixed"}}"#
            ),
            vec!["DSA-5343-1 libssl1.1", "DSA-5103-1 libssl1.1", "GHSA-hrpp-h998-j3pp qs"],
        ),
        (
            "not_affected on the whole image (no subcomponents), by advisory id",
            r#"{"vulnerability":{"name":"GHSA-hrpp-h998-j3pp"},"products":[{"@id":"pkg:oci/app"}],
               "status":"not_affected","impact_statement":"qs is only used at build time"}"#
                .into(),
            vec!["DSA-5343-1 libssl1.1", "DSA-5103-1 libssl1.1", "DSA-5218-1 zlib1g"],
        ),
        (
            "affected and under_investigation keep the finding",
            r#"{"vulnerability":{"name":"CVE-2022-0778"},"products":[{"@id":"pkg:deb/debian/libssl1.1"}],"status":"affected",
                "action_statement":"upgrade"},
               {"vulnerability":{"name":"CVE-2022-37434"},"products":[{"@id":"pkg:deb/debian/zlib1g"}],"status":"under_investigation"}"#
                .into(),
            all.to_vec(),
        ),
        (
            "another image, another version, another package: no match",
            r#"{"vulnerability":{"name":"CVE-2022-0778"},"products":[{"@id":"pkg:oci/other"}],"status":"fixed"},
               {"vulnerability":{"name":"CVE-2022-24999"},"products":[{"@id":"pkg:npm/qs@6.11.0"}],"status":"fixed"},
               {"vulnerability":{"name":"CVE-2022-37434"},"products":[{"@id":"pkg:deb/debian/libssl1.1"}],"status":"fixed"}"#
                .into(),
            all.to_vec(),
        ),
        (
            "a later affected statement overrides an earlier not_affected",
            r#"{"vulnerability":{"name":"CVE-2022-24999"},"products":[{"@id":"pkg:npm/qs@6.5.1"}],"status":"not_affected",
                "justification":"vulnerable_code_not_present","timestamp":"2024-01-01T00:00:00Z"},
               {"vulnerability":{"name":"CVE-2022-24999"},"products":[{"@id":"pkg:npm/qs"}],"status":"affected",
                "timestamp":"2024-02-01T00:00:00Z"}"#
                .into(),
            all.to_vec(),
        ),
    ];
    for (name, statements, want) in cases {
        let mut r = report();
        let mut policy = Policy::new("2024-06-01".parse().unwrap());
        policy.vex = vex::parse(&vex_doc(&statements), "app.openvex.json").unwrap_or_else(|e| panic!("{name}: {e}"));
        apply(&mut r, &policy);
        assert_eq!(remaining(&r), want, "{name}");
        assert_eq!(r.summary.total, want.len(), "{name}: summary counts only what remains");
        let suppressed: usize = r.results.iter().map(|t| t.suppressed.len()).sum();
        assert_eq!(suppressed, all.len() - want.len(), "{name}");
    }
}

#[test]
fn suppression_reason_is_in_the_json() {
    let mut r = report();
    let mut policy = Policy::new("2024-06-01".parse().unwrap());
    policy.vex = vex::parse(
        &vex_doc(
            r#"{"vulnerability":{"name":"CVE-2022-0778"},"products":[{"@id":"pkg:deb/debian/libssl1.1"}],
                "status":"not_affected","justification":"vulnerable_code_not_in_execute_path",
                "impact_statement":"BN_mod_sqrt is never called"}"#,
        ),
        "app.openvex.json",
    )
    .unwrap();
    apply(&mut r, &policy);
    let json = serde_json::to_value(&r.results[0].suppressed[0]).unwrap();
    assert_eq!(json["vulnerability"]["id"], "DSA-5103-1");
    assert_eq!(json["suppression"]["by"], "vex");
    assert_eq!(json["suppression"]["rule"], "not_affected");
    assert_eq!(json["suppression"]["justification"], "vulnerable_code_not_in_execute_path");
    assert_eq!(json["suppression"]["reason"], "BN_mod_sqrt is never called");
    assert!(json["suppression"]["source"].as_str().unwrap().contains("vex-0f1c2b"));
    let back: Suppressed = serde_json::from_value(json).unwrap();
    assert_eq!(back, r.results[0].suppressed[0]);
}

#[test]
fn ignore_file_scopes_and_expiry() {
    let file = r#"
ignore:
  - id: CVE-2023-0286
    package: "lib*"
    reason: accepted until the rebuild
    expires: 2024-05-31
  - id: GHSA-hrpp-h998-j3pp
    path: /app/**
    reason: dev server only
  - id: DSA-5218-1
    package: openssl
    reason: wrong package, must not match zlib
"#;
    let cases = [
        ("2024-05-31", vec!["DSA-5103-1 libssl1.1", "DSA-5218-1 zlib1g"], 0),
        ("2024-06-01", vec!["DSA-5343-1 libssl1.1", "DSA-5103-1 libssl1.1", "DSA-5218-1 zlib1g"], 1),
    ];
    for (today, want, warnings) in cases {
        let mut r = report();
        let mut policy = Policy::new(today.parse().unwrap());
        policy.ignore = ignore::parse(file, ".strataignore").unwrap();
        apply(&mut r, &policy);
        assert_eq!(remaining(&r), want, "{today}");
        assert_eq!(r.summary.total, want.len());
        assert_eq!(r.warnings.len(), warnings, "{today}: {:?}", r.warnings);
    }
}

#[test]
fn scanners_drop_what_was_not_asked_for() {
    let mut r = report();
    let mut policy = Policy::new("2024-06-01".parse().unwrap());
    policy.scanners = [Scanner::Secret].into_iter().collect();
    apply(&mut r, &policy);
    assert_eq!(
        r.summary,
        Summary {
            total: 0,
            by_severity: Severity::ALL.iter().map(|s| (*s, 0)).collect(),
            secrets: 0,
            misconfigurations: 0,
            ..Default::default()
        }
    );
    assert_eq!(
        "vuln,secret,config".split(',').map(|s| s.parse::<Scanner>().unwrap()).collect::<Vec<_>>(),
        [Scanner::Vuln, Scanner::Secret, Scanner::Misconfig]
    );
    assert!("license".parse::<Scanner>().is_err());
}

#[test]
fn vex_documents_that_are_not_openvex_or_incomplete_are_refused() {
    let bad = [
        (r#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#.to_string(), "not an OpenVEX"),
        (vex_doc("").replace("openvex.dev/ns/v0.2.0", "example.com/vex"), "is not OpenVEX"),
        (vex_doc(r#"{"vulnerability":{"name":"CVE-1"},"products":[],"status":"not_affected"}"#), "justification"),
        (vex_doc(r#"{"vulnerability":{"name":"CVE-1"},"products":[],"status":"wontfix"}"#), "unknown status"),
        (
            vex_doc(
                r#"{"vulnerability":{"name":"CVE-1"},"products":[],"status":"not_affected","justification":"trust me"}"#,
            ),
            "unknown justification",
        ),
    ];
    for (doc, needle) in bad {
        let err = vex::parse(&doc, "x.json").unwrap_err().to_string();
        assert!(err.contains(needle), "{doc}: {err}");
    }
}

#[test]
fn an_incomplete_report_fails_the_gate_even_without_findings() {
    let mut report = report();
    report.results.iter_mut().for_each(|r| r.findings.clear());
    report.summary = summarize(&report.results);
    assert!(!report.fails_gate(), "no findings, complete");
    report.incomplete.push(crate::report::Incomplete {
        layer: LayerOrigin { index: 1, diff_id: "sha256:33".into(), created_by: None },
        path: Some("/var/lib/rpm/Packages".into()),
        reason: "over its cap".into(),
    });
    assert!(report.fails_gate());
    assert_eq!(report.incomplete_lines(), ["layer #1 sha256:33 /var/lib/rpm/Packages: over its cap"]);
    let sarif = crate::report::sarif::to_value(&report);
    assert_eq!(sarif["runs"][0]["invocations"][0]["executionSuccessful"], false);
    let table = crate::report::to_table(&report, crate::report::TableStyle::default());
    assert!(table.contains("INCOMPLETE") && table.contains("/var/lib/rpm/Packages: over its cap"), "{table}");
}
