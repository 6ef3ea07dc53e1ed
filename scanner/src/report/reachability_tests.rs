//! Reachability in every format, the `--reachable-only` filter and policy: one report with a Go binary's
//! findings (real Go advisories) in each state, plus an OS finding the engine does not assess.

use serde_json::Value;

use super::policy::{self, Policy};
use super::*;
use crate::merge::LayerOrigin;

const NET: &str = "pkg:golang/golang.org/x/net@v0.7.0";
const STDLIB: &str = "pkg:golang/stdlib@v1.19.4";
const TEXT: &str = "pkg:golang/golang.org/x/text@v0.3.7";
const DIGEST: &str = "sha256:5b0d4bd4c5b4ba1b1bb8bd1e1e0e9ec62cf1f2cb2b9dbd4c1b8e1e0b8a9f7c6d";

fn finding(id: &str, purl: &str, path: &str, severity: Severity, reachability: Option<Reachability>) -> Finding {
    let (name, version) = purl.trim_start_matches("pkg:golang/").rsplit_once('@').unwrap_or_default();
    Finding {
        id: id.into(),
        aliases: vec![format!("CVE-{}", id.trim_start_matches("GO-"))],
        package: name.into(),
        installed_version: version.into(),
        source_package: None,
        fixed_version: Some("v9.9.9".into()),
        severity,
        severity_source: None,
        score: None,
        title: Some(format!("{id} in {name}")),
        primary_url: None,
        cvss_vector: None,
        references: Vec::new(),
        purl: purl.into(),
        path: path.into(),
        dependency_paths: Vec::new(),
        dependency_paths_cut: 0,
        dev: false,
        layer: LayerOrigin { index: 1, diff_id: "sha256:aa".into(), created_by: Some("COPY server /app/".into()) },
        reachability,
    }
}

fn target(name: &str, class: &str, findings: Vec<Finding>) -> TargetResult {
    TargetResult {
        target: name.into(),
        class: class.into(),
        kind: if class == "os-pkgs" { "debian".into() } else { "golang".into() },
        ecosystem: None,
        packages: findings.len(),
        notice: None,
        findings,
        package_list: None,
        secrets: Vec::new(),
        misconfigurations: Vec::new(),
        suppressed: Vec::new(),
        hidden: Hidden::default(),
    }
}

/// `/app/server` keeps a vulnerable x/net symbol, drops stdlib's and has no symbol data for x/text;
/// `/app/tool` drops x/net's, so x/net is reachable in one binary and unreachable in the other.
fn report() -> Report {
    use Reachability::*;
    let server = vec![
        finding("GO-2023-1571", NET, "/app/server", Severity::High, Some(Reachable)),
        finding("GO-2023-1704", STDLIB, "/app/server", Severity::High, Some(Unreachable)),
        finding("GO-2022-1059", TEXT, "/app/server", Severity::Medium, Some(Unknown)),
    ];
    let tool = vec![finding("GO-2023-1571", NET, "/app/tool", Severity::High, Some(Unreachable))];
    let mut os = finding("DSA-5417-1", "pkg:deb/debian/openssl@1.1.1n-0", "/var/lib/dpkg/status", Severity::Low, None);
    os.aliases = vec!["CVE-2023-0464".into()];
    let results = vec![
        target("debian 11.6", "os-pkgs", vec![os]),
        target("/app/server", "lang-pkgs", server),
        target("/app/tool", "lang-pkgs", tool),
    ];
    Report {
        schema_version: REPORT_SCHEMA_VERSION,
        artifact: Artifact {
            name: "127.0.0.1:5055/strata/gosvc:1.0".into(),
            image_id: "sha256:11".into(),
            repo_digest: Some(DIGEST.into()),
            platform: "linux/amd64".into(),
            os: None,
            layers: Vec::new(),
        },
        db: DbInfo {
            content_digest: "sha256:22".into(),
            built_at: "2024-05-01T08:00:00Z".into(),
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

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn summary_counts_unreachable_and_the_filter_hides_only_those() {
    let mut r = report();
    assert_eq!((r.summary.total, r.summary.unreachable, r.summary.hidden), (5, 2, 0));
    hide_unreachable(&mut r);
    let left: Vec<(&str, &str)> =
        r.results.iter().flat_map(|t| &t.findings).map(|f| (f.id.as_str(), f.path.as_str())).collect();
    assert_eq!(
        left,
        [("DSA-5417-1", "/var/lib/dpkg/status"), ("GO-2023-1571", "/app/server"), ("GO-2022-1059", "/app/server")]
    );
    assert_eq!((r.summary.total, r.summary.unreachable, r.summary.hidden), (3, 2, 2));
    assert_eq!(r.summary.hidden_by.unreachable, 2);
    assert_eq!(r.results.iter().map(|t| t.hidden.unreachable).collect::<Vec<_>>(), [0, 1, 1]);
    let again = r.clone();
    hide_unreachable(&mut r);
    assert_eq!(r, again, "the filter applies once, however often it runs");
    let json = parse(&to_json(&r));
    assert_eq!(json["summary"]["unreachable"], 2);
    assert_eq!(json["summary"]["hidden_by"]["unreachable"], 2);
    assert_eq!(json["results"][1]["findings"][0]["reachability"], "reachable");
    assert_eq!(json["results"][1]["findings"][1]["reachability"], "unknown");
    assert!(json["results"][0]["findings"][0].get("reachability").is_none());
}

#[test]
fn table_marks_each_go_finding_and_says_how_many_are_unreachable() {
    let r = report();
    let table = to_table(&r, TableStyle::default());
    let server = table.split("/app/server (lang-pkgs").nth(1).unwrap();
    let header = server.lines().find(|l| l.contains("Package")).unwrap();
    assert!(header.contains("Reachable"), "{header}");
    for (id, mark) in [("GO-2023-1571", "reachable"), ("GO-2023-1704", "unreachable"), ("GO-2022-1059", "unknown")] {
        let line = server.lines().find(|l| l.contains(id)).unwrap();
        assert!(line.split(['│', '┆']).any(|c| c.trim() == mark), "{id}: {line}");
    }
    let os = table.split("debian 11.6").nth(1).unwrap().split("/app/server").next().unwrap();
    assert!(!os.contains("Reachable"), "an OS table has no reachability column: {os}");
    assert!(table.contains("2 findings unreachable (Go symbols not in the binary)\n"), "{table}");

    let mut hidden = report();
    hide_unreachable(&mut hidden);
    let table = to_table(&hidden, TableStyle::default());
    assert!(table.contains("Hidden by filters: 2 (--reachable-only: 2 unreachable)"), "{table}");
    assert!(table.contains("2 findings unreachable (Go symbols not in the binary), 2 hidden by --reachable-only"));
    assert!(!table.contains("GO-2023-1704"));
}

#[test]
fn sarif_lowers_unreachable_results_and_tags_them() {
    let sarif = sarif::to_value(&report());
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let by = |id: &str, path: &str| {
        results
            .iter()
            .find(|r| r["ruleId"] == id && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == path)
            .unwrap()
    };
    let unreachable = by("GO-2023-1704", "app/server");
    assert_eq!(unreachable["level"], "note");
    assert_eq!(unreachable["rank"], 1.0);
    assert_eq!(unreachable["properties"]["tags"], serde_json::json!(["unreachable"]));
    assert_eq!(unreachable["properties"]["reachability"], "unreachable");
    let reachable = by("GO-2023-1571", "app/server");
    assert_eq!(reachable["level"], "error");
    assert!(reachable.get("rank").is_none());
    assert_eq!(reachable["properties"]["reachability"], "reachable");
    assert_eq!(by("GO-2023-1571", "app/tool")["level"], "note");
    assert_eq!(by("GO-2022-1059", "app/server")["level"], "warning");
    assert!(by("DSA-5417-1", "var/lib/dpkg/status").get("properties").is_none());
}

#[test]
fn cyclonedx_analysis_says_code_not_present_for_unreachable() {
    let mut r = report();
    // CycloneDX lists vulnerabilities against components, which come from the package lists.
    for t in &mut r.results {
        t.package_list = Some(
            t.findings
                .iter()
                .map(|f| PackageEntry {
                    name: f.package.clone(),
                    version: f.installed_version.clone(),
                    arch: None,
                    source_name: None,
                    source_version: None,
                    purl: f.purl.clone(),
                    path: f.path.clone(),
                    dev: false,
                    dependency_paths: Vec::new(),
                    layer: f.layer.clone(),
                })
                .collect(),
        );
    }
    let bom = cyclonedx::to_value(&r);
    let vulns = bom["vulnerabilities"].as_array().unwrap();
    let reachability = |v: &Value| {
        v["properties"].as_array().and_then(|p| p.iter().find(|p| p["name"] == "strata:reachability")).cloned()
    };
    let net: Vec<&Value> = vulns.iter().filter(|v| v["id"] == "GO-2023-1571").collect();
    assert_eq!(net.len(), 2, "reachable in one binary, unreachable in the other: two entries");
    for v in &net {
        match reachability(v).unwrap()["value"].as_str().unwrap() {
            "reachable" => assert!(v.get("analysis").is_none(), "{v}"),
            "unreachable" => {
                assert_eq!(v["analysis"]["state"], "not_affected");
                assert_eq!(v["analysis"]["justification"], "code_not_present");
            }
            other => panic!("{other}"),
        }
    }
    let unknown = vulns.iter().find(|v| v["id"] == "GO-2022-1059").unwrap();
    assert_eq!(reachability(unknown).unwrap()["value"], "unknown");
    assert!(unknown.get("analysis").is_none());
    let os = vulns.iter().find(|v| v["id"] == "DSA-5417-1").unwrap();
    assert!(reachability(os).is_none() && os.get("analysis").is_none());
}

#[test]
fn trivy_json_carries_it_under_custom() {
    let trivy = trivy::to_value(&report());
    let server = &trivy["Results"][1]["Vulnerabilities"];
    assert_eq!(server[1]["VulnerabilityID"], "GO-2023-1704");
    assert_eq!(server[1]["Custom"]["Reachability"], "unreachable");
    assert_eq!(server[0]["Custom"]["Reachability"], "reachable");
    assert!(trivy["Results"][0]["Vulnerabilities"][0].get("Custom").is_none());
    assert_eq!(trivy::validate(&trivy), Ok(()));
}

#[test]
fn openvex_states_what_the_analysis_established_and_is_deterministic() {
    let r = report();
    let doc = openvex::to_value(&r);
    assert_eq!(doc["@context"], "https://openvex.dev/ns/v0.2.0");
    assert_eq!(doc["timestamp"], "2024-05-01T08:00:00Z");
    assert!(doc["@id"].as_str().unwrap().starts_with("urn:strata:openvex:"));
    let statements = doc["statements"].as_array().unwrap();
    let status: Vec<(&str, &str)> = statements
        .iter()
        .map(|s| (s["vulnerability"]["name"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    // x/net is reachable in /app/server: one statement for the package, and it is `affected`. The OS
    // finding was not assessed and gets none.
    assert_eq!(
        status,
        [("GO-2022-1059", "under_investigation"), ("GO-2023-1571", "affected"), ("GO-2023-1704", "not_affected")]
    );
    let stdlib = &statements[2];
    assert_eq!(stdlib["justification"], "vulnerable_code_not_present");
    assert_eq!(stdlib["vulnerability"]["aliases"], serde_json::json!(["CVE-2023-1704"]));
    assert_eq!(stdlib["products"][0]["@id"], image_purl(&r.artifact));
    assert_eq!(stdlib["products"][0]["subcomponents"][0]["identifiers"]["purl"], STDLIB);
    assert!(statements[1]["action_statement"].as_str().unwrap().contains("v9.9.9"));
    assert_eq!(openvex::to_openvex(&r), openvex::to_openvex(&report()));
    let mut other = report();
    other.db.built_at = "2024-05-02T08:00:00Z".into();
    assert_ne!(openvex::to_value(&other)["@id"], doc["@id"]);
    // A scan without the vuln scanner has no DB time and nothing assessed: no statements, no timestamp.
    let mut bare = report();
    bare.db.built_at.clear();
    bare.results.iter_mut().flat_map(|t| &mut t.findings).for_each(|f| f.reachability = None);
    let bare = openvex::to_value(&bare);
    assert_eq!((bare.get("timestamp"), &bare["statements"]), (None, &serde_json::json!([])));

    // Strata's own `--vex` reads it back: the unreachable finding is suppressed, nothing else is.
    let vex = policy::vex::parse(&openvex::to_openvex(&r), "strata.openvex.json").unwrap();
    let mut p = Policy::new("2024-06-01".parse().unwrap());
    p.vex = vex;
    let mut applied = report();
    policy::apply(&mut applied, &p);
    let suppressed: Vec<&str> = applied
        .results
        .iter()
        .flat_map(|t| &t.suppressed)
        .map(|s| match &s.item {
            policy::SuppressedItem::Vulnerability(f) => f.id.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(suppressed, ["GO-2023-1704"]);
}

#[test]
fn ignore_entries_scoped_to_unreachable_suppress_only_those() {
    let text = "ignore:\n  - reachability: unreachable\n    reason: dead code, the linker dropped it\n";
    let mut p = Policy::new("2024-06-01".parse().unwrap());
    p.ignore = policy::ignore::parse(text, ".strataignore").unwrap();
    let mut r = report();
    policy::apply(&mut r, &p);
    let gone: Vec<(&str, &str, &str)> = r
        .results
        .iter()
        .flat_map(|t| &t.suppressed)
        .filter_map(|s| match &s.item {
            policy::SuppressedItem::Vulnerability(f) => {
                Some((f.id.as_str(), f.path.as_str(), s.suppression.rule.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(gone, [("GO-2023-1704", "/app/server", "*"), ("GO-2023-1571", "/app/tool", "*")]);
    assert_eq!((r.summary.total, r.summary.unreachable), (3, 0));
}
