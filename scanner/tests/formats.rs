//! Every export format, rendered from a report of a real image (the debootstrapped bullseye root filesystem
//! with downgraded packages, plus a layer with a real npm lockfile), matched against real advisories (the
//! committed Debian and npm OSV subsets), validated against the official schemas committed in
//! `tests/schemas/` — offline: every `$ref` resolves to a local copy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use jsonschema::{Retrieve, Uri, Validator};
use serde_json::{Value, json};
use strata_scanner::image::Platform;
use strata_scanner::layer::analyze_layer;
use strata_scanner::merge::{LayerOrigin, merge};
use strata_scanner::misconfig::Misconfiguration;
use strata_scanner::report::policy::{self, Policy, vex};
use strata_scanner::report::{self, Report, ReportOptions, cyclonedx, sarif, spdx, trivy};
use strata_scanner::secret::SecretFinding;
use strata_scanner::severity::Severity;
use strata_scanner::source::OciLayout;
use strata_scanner::vulndb::VulnDb;
use strata_testkit::debian::{Rootfs, minbase_osv, with_source_version};
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::tarball::TarBuilder;

fn schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas")
}

/// Maps the URIs the CycloneDX schema refers to onto the committed copies; anything else is an error, so a
/// schema can never be fetched from the network.
struct Local;

impl Retrieve for Local {
    fn retrieve(&self, uri: &Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let file = match uri.as_str() {
            "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json" => "cyclonedx-spdx.schema.json",
            "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json" => "cyclonedx-jsf-0.82.schema.json",
            other => return Err(format!("no local copy of {other}").into()),
        };
        Ok(serde_json::from_slice(&std::fs::read(schemas().join(file))?)?)
    }
}

fn validator(file: &str) -> Validator {
    let schema: Value = serde_json::from_slice(&std::fs::read(schemas().join(file)).unwrap()).unwrap();
    jsonschema::options().with_retriever(Local).build(&schema).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn assert_valid(file: &str, doc: &Value) {
    let errors: Vec<String> =
        validator(file).iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).take(10).collect();
    assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
}

const DOWNGRADES: [(&str, &str); 2] = [("openssl", "1.1.1k-1+deb11u1"), ("zlib", "1:1.2.11.dfsg-2+deb11u1")];

fn npm_fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/npm").join(name)).unwrap()
}

/// Scans a real image with the engine alone: layout → layer analysis → merge → match.
fn real_report(list_packages: bool) -> Report {
    let rootfs = Rootfs::bullseye();
    let aged = DOWNGRADES.iter().fold(rootfs.status.clone(), |s, (src, v)| with_source_version(&s, src, v));
    let app = TarBuilder::new()
        .file("app/package.json", &npm_fixture("package.json"))
        .file("app/package-lock.json", &npm_fixture("package-lock-v3.json"));
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(LayerContent::TarFile(rootfs.tar.clone()), Compression::Gzip, "ADD bullseye-minbase /")
        .layer(
            LayerContent::Bytes(TarBuilder::new().file("var/lib/dpkg/status", aged.as_bytes()).build()),
            Compression::Gzip,
            "RUN apt-get install -y --allow-downgrades libssl1.1 zlib1g",
        )
        .layer(LayerContent::Bytes(app.build()), Compression::Gzip, "COPY app /app")
        .write_layout(&layout, "1.0");
    let source = OciLayout::open(&format!("{}:1.0", layout.display())).unwrap();
    let image = source.resolve(&Platform::default()).unwrap();
    let inventories: Vec<_> = image
        .layers
        .iter()
        .map(|l| analyze_layer(source.open_blob(&l.descriptor.digest).unwrap(), &l.descriptor.digest).unwrap())
        .collect();
    let inventory = merge(&image.layers, &inventories);
    let npm_osv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/npm/osv-npm-subset.jsonl.gz");
    let db = VulnDb::build(&[minbase_osv(), npm_osv]).unwrap();
    let options = ReportOptions { list_packages, ..ReportOptions::default() };
    let mut report = report::build(&image, &inventory, &db, &options);
    // Named as a registry reference would be, so targets and purls take their usual shape.
    report.artifact.name = "127.0.0.1:5055/strata/bullseye:1.0".into();
    report
}

/// Secret and misconfiguration results as the engine's other passes add them (shapes of `secret` and
/// `misconfig`), so every format renders all three classes.
fn with_secret_and_misconfig(mut report: Report) -> Report {
    let layer = report.artifact.layers.last().cloned().unwrap_or(LayerOrigin {
        index: 0,
        diff_id: "sha256:00".into(),
        created_by: None,
    });
    let mut secret = report.results[0].clone();
    secret.target = "/app/.env".into();
    secret.class = "secret".into();
    secret.kind = "secret".into();
    secret.ecosystem = None;
    secret.packages = 0;
    secret.findings.clear();
    secret.package_list = None;
    secret.secrets = vec![SecretFinding {
        rule_id: "aws-access-key-id".into(),
        category: "AWS".into(),
        title: "AWS Access Key ID".into(),
        severity: Severity::Critical,
        path: "/app/.env".into(),
        line: 3,
        masked: "AWS_ACCESS_KEY_ID=AKIA****************".into(),
        layer: layer.clone(),
        deleted_in: None,
    }];
    let mut config = secret.clone();
    config.target = "image config".into();
    config.class = "config".into();
    config.kind = "dockerfile".into();
    config.secrets.clear();
    config.misconfigurations = vec![Misconfiguration {
        id: "IMG001".into(),
        title: "Image runs as root".into(),
        severity: Severity::High,
        message: "the config sets no USER".into(),
        resolution: "add USER with a non-root uid".into(),
        source: "image config".into(),
        line: None,
        references: vec!["https://docs.docker.com/build/building/best-practices/#user".into()],
    }];
    report.results.push(secret);
    report.results.push(config);
    report
}

fn findings(report: &Report) -> BTreeSet<(String, String)> {
    report.results.iter().flat_map(|r| &r.findings).map(|f| (f.id.clone(), f.package.clone())).collect()
}

#[test]
fn every_format_of_a_real_report_validates_against_its_schema() {
    let report = with_secret_and_misconfig(real_report(true));
    let found = findings(&report);
    assert!(found.iter().any(|(id, _)| id.starts_with("DSA-")), "Debian findings: {found:?}");
    assert!(report.results.iter().any(|r| r.class == "lang-pkgs" && !r.findings.is_empty()), "npm findings: {found:?}");
    let packages: usize = report.results.iter().map(|r| r.package_list.as_ref().map_or(0, Vec::len)).sum();

    let doc = sarif::to_value(&report);
    assert_valid("sarif-schema-2.1.0.json", &doc);
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), found.len() + 2);
    let rules: BTreeSet<&str> = doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for r in results {
        assert!(rules.contains(r["ruleId"].as_str().unwrap()), "{r}");
    }
    let secret = results.iter().find(|r| r["ruleId"] == "aws-access-key-id").unwrap();
    assert_eq!(secret["locations"][0]["physicalLocation"]["region"]["startLine"], 3);
    assert_eq!(secret["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "app/.env");

    let doc = cyclonedx::to_value(&report);
    assert_valid("cyclonedx-bom-1.5.schema.json", &doc);
    let refs: BTreeSet<&str> =
        doc["components"].as_array().unwrap().iter().map(|c| c["bom-ref"].as_str().unwrap()).collect();
    assert_eq!(refs.len(), packages, "one component per package");
    let affected: BTreeSet<&str> = doc["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["affects"].as_array().unwrap())
        .map(|a| a["ref"].as_str().unwrap())
        .collect();
    assert!(!affected.is_empty() && affected.is_subset(&refs), "affects resolve to components");
    let with_deps = doc["dependencies"].as_array().unwrap().iter().filter(|d| {
        d["ref"].as_str().is_some_and(|r| r.starts_with("pkg:npm/")) && !d["dependsOn"].as_array().unwrap().is_empty()
    });
    assert!(with_deps.count() > 0, "npm dependency paths become dependency edges");
    assert!(doc["metadata"]["component"]["purl"].as_str().unwrap().starts_with("pkg:oci/bullseye@sha256"));

    let doc = spdx::to_value(&report, "2024-06-01T00:00:00Z");
    assert_valid("spdx-schema-2.3.json", &doc);
    let ids: BTreeSet<&str> =
        doc["packages"].as_array().unwrap().iter().map(|p| p["SPDXID"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), packages + 1, "the image and each package, with distinct SPDXIDs");
    for rel in doc["relationships"].as_array().unwrap() {
        for end in ["spdxElementId", "relatedSpdxElement"] {
            let id = rel[end].as_str().unwrap();
            assert!(id == "SPDXRef-DOCUMENT" || ids.contains(id), "{rel}");
        }
    }
    assert!(doc["relationships"].as_array().unwrap().iter().any(|r| r["relationshipType"] == "DEPENDS_ON"));
    let again = spdx::to_value(&report, "2025-01-01T00:00:00Z");
    assert_eq!(doc["documentNamespace"], again["documentNamespace"], "namespace derives from the image, not the clock");
    let mut other = report.clone();
    other.artifact.image_id = "sha256:ffff".into();
    assert_ne!(spdx::to_value(&other, "2024-06-01T00:00:00Z")["documentNamespace"], doc["documentNamespace"]);

    let doc = trivy::to_value(&report);
    assert_eq!(trivy::validate(&doc), Ok(()));
    let vulns: BTreeSet<(String, String)> = doc["Results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["Vulnerabilities"].as_array().into_iter().flatten())
        .map(|v| (v["VulnerabilityID"].as_str().unwrap().into(), v["PkgName"].as_str().unwrap().into()))
        .collect();
    assert_eq!(vulns, found);
    for r in doc["Results"].as_array().unwrap() {
        let target = r["Target"].as_str().unwrap();
        assert!(!target.contains(":1.0") && !target.contains("sha256:"), "no tag or digest in {target}");
    }
    assert!(doc["Results"][0]["Target"].as_str().unwrap().starts_with("127.0.0.1:5055/strata/bullseye (debian 11."));
    let secret_result = doc["Results"].as_array().unwrap().iter().find(|r| r["Class"] == "secret").unwrap();
    assert_eq!(secret_result["Secrets"][0]["Match"], "AWS_ACCESS_KEY_ID=AKIA****************");
}

#[test]
fn cyclonedx_carries_the_vex_analysis_of_suppressed_findings() {
    let mut report = real_report(true);
    let (id, package) = findings(&report).into_iter().find(|(id, _)| id.starts_with("DSA-")).unwrap();
    let mut policy = Policy::new("2024-06-01".parse().unwrap());
    let doc = json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "tests",
        "timestamp": "2024-05-01T00:00:00Z",
        "version": 1,
        "statements": [{
            "vulnerability": {"name": id},
            "products": [{"@id": format!("pkg:deb/debian/{package}")}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
        }],
    });
    policy.vex = vex::parse(&doc.to_string(), "vex.json").unwrap();
    let before = report.summary.total;
    policy::apply(&mut report, &policy);
    assert_eq!(report.summary.total, before - 1);
    let bom = cyclonedx::to_value(&report);
    assert_valid("cyclonedx-bom-1.5.schema.json", &bom);
    let entry = bom["vulnerabilities"].as_array().unwrap().iter().find(|v| v["id"] == id.as_str()).unwrap();
    assert_eq!(entry["analysis"]["state"], "not_affected");
    assert_eq!(entry["analysis"]["justification"], "code_not_reachable");
}

#[test]
fn sboms_without_the_package_list_still_name_the_vulnerable_packages() {
    let report = real_report(false);
    let bom = cyclonedx::to_value(&report);
    assert_valid("cyclonedx-bom-1.5.schema.json", &bom);
    let names: BTreeSet<&str> =
        bom["components"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for (_, package) in findings(&report) {
        assert!(names.contains(package.as_str()), "{package}");
    }
    assert_valid("spdx-schema-2.3.json", &spdx::to_value(&report, "2024-06-01T00:00:00Z"));
}

#[test]
fn trivy_validation_refuses_what_defectdojo_would_drop() {
    let good = trivy::to_value(&real_report(false));
    fn first_vuln(doc: &mut Value) -> &mut Value {
        let r = doc["Results"].as_array_mut().unwrap().iter_mut().find(|r| r.get("Vulnerabilities").is_some()).unwrap();
        &mut r["Vulnerabilities"][0]
    }
    type Break = fn(&mut Value, fn(&mut Value) -> &mut Value);
    let cases: [(&str, Break); 5] = [
        ("SchemaVersion", |d, _| d["SchemaVersion"] = json!(1)),
        ("no Target", |d, _| {
            d["Results"][0].as_object_mut().unwrap().remove("Target");
        }),
        ("no PkgName", |d, v| {
            v(d).as_object_mut().unwrap().remove("PkgName");
        }),
        ("Severity", |d, v| v(d)["Severity"] = json!("Moderate")),
        ("CVSS", |d, v| v(d)["CVSS"] = Value::Null),
    ];
    for (what, break_it) in cases {
        let mut doc = good.clone();
        break_it(&mut doc, first_vuln);
        let errors = trivy::validate(&doc).expect_err(what);
        assert!(errors.iter().any(|e| e.contains(what)), "{what}: {errors:?}");
    }
}

/// The validators are not vacuous: one schema violation per format is caught.
#[test]
fn schemas_reject_broken_documents() {
    let report = real_report(false);
    let cases: [(&str, Value, &str); 4] = [
        ("sarif-schema-2.1.0.json", sarif::to_value(&report), "/runs/0/results/0/level"),
        ("cyclonedx-bom-1.5.schema.json", cyclonedx::to_value(&report), "/components/0/type"),
        ("cyclonedx-bom-1.5.schema.json", cyclonedx::to_value(&report), "/vulnerabilities/0/ratings/0/severity"),
        ("spdx-schema-2.3.json", spdx::to_value(&report, "2024-06-01T00:00:00Z"), "/packages/0/primaryPackagePurpose"),
    ];
    for (schema, mut doc, pointer) in cases {
        *doc.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = json!("no-such-value");
        let errors: Vec<String> = validator(schema).iter_errors(&doc).map(|e| e.instance_path().to_string()).collect();
        assert!(errors.iter().any(|p| p == pointer), "{schema} {pointer}: {errors:?}");
    }
}
