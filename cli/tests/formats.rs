//! Acceptance: the real `strata` binary writes every export format for a real image (the debootstrapped
//! bullseye root filesystem with packages downgraded to versions real Debian advisories fix), each valid
//! against its official schema; `--exit-code` honours `.strataignore` entries and OpenVEX statements, and an
//! expired ignore entry no longer suppresses. A Go binary's findings carry their reachability into SARIF,
//! CycloneDX (schema-valid) and OpenVEX, and `--reachable-only` counts what it hides.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use jsonschema::{Retrieve, Uri};
use serde_json::{Value, json};
use strata_scanner::report::{self, Reachability, Report, cyclonedx, openvex, policy, sarif, trivy};
use strata_testkit::fixtures;
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

const DOWNGRADES: [(&str, &str); 2] = [("openssl", "1.1.1k-1+deb11u1"), ("zlib", "1:1.2.11.dfsg-2+deb11u1")];

fn schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scanner/tests/schemas")
}

/// CycloneDX's two referenced schemas from the committed copies; nothing is fetched.
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

fn schema_errors(file: &str, doc: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_slice(&std::fs::read(schemas().join(file)).unwrap()).unwrap();
    let validator = jsonschema::options().with_retriever(Local).build(&schema).unwrap();
    validator.iter_errors(doc).map(|e| format!("{e} at {}", e.instance_path())).take(10).collect()
}

struct Fixture {
    _registry: TestRegistry,
    tmp: tempfile::TempDir,
    reference: String,
    db: PathBuf,
}

fn fixture() -> Fixture {
    let rootfs = Rootfs::bullseye();
    let aged = DOWNGRADES.iter().fold(rootfs.status.clone(), |s, (src, v)| with_source_version(&s, src, v));
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(LayerContent::TarFile(rootfs.tar.clone()), Compression::Gzip, "ADD bullseye-minbase /")
        .layer(
            LayerContent::Bytes(TarBuilder::new().file("var/lib/dpkg/status", aged.as_bytes()).build()),
            Compression::Gzip,
            "RUN apt-get install -y --allow-downgrades libssl1.1 zlib1g",
        )
        .write_layout(&layout, "1.0");
    let registry = TestRegistry::start();
    registry.push(&layout, "1.0", "strata/formats:1.0", &[]);
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let reference = format!("{}/strata/formats:1.0", registry.host());
    Fixture { _registry: registry, tmp, reference, db }
}

impl Fixture {
    /// Runs `strata image` in `cwd` (where a default `.strataignore` is looked for).
    fn scan(&self, cwd: &Path, args: &[&str]) -> Outcome {
        let mut cmd = strata();
        cmd.current_dir(cwd).arg("image").arg(&self.reference).arg("--db").arg(&self.db).arg("--quiet").args(args);
        run(&mut cmd)
    }

    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

#[test]
fn every_format_validates_and_policy_decides_the_exit_code() {
    let f = fixture();
    let plain = f.dir("plain");

    let json = f.scan(&plain, &["--format", "json", "--exit-code", "3"]);
    assert_eq!(json.code, 3, "findings remain: {}", json.stderr);
    let report = json.json();
    let found = findings(&report);
    let packages: BTreeSet<&str> = found.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(packages, BTreeSet::from(["libssl1.1", "zlib1g"]), "{found:?}");

    for (format, schema) in [
        ("sarif", "sarif-schema-2.1.0.json"),
        ("cyclonedx", "cyclonedx-bom-1.5.schema.json"),
        ("spdx", "spdx-schema-2.3.json"),
    ] {
        let out = f.scan(&plain, &["--format", format]);
        assert_eq!(out.code, 0, "{format}: {}", out.stderr);
        let errors = schema_errors(schema, &out.json());
        assert!(errors.is_empty(), "{format}:\n{}", errors.join("\n"));
    }
    let out = f.scan(&plain, &["--format", "cyclonedx"]);
    let components = out.json()["components"].as_array().unwrap().len();
    assert!(components > 80, "the SBOM lists every package, not only vulnerable ones: {components}");

    let out = f.scan(&plain, &["--format", "trivy-json"]);
    let doc = out.json();
    assert_eq!(trivy::validate(&doc), Ok(()));
    let vulns: BTreeSet<(String, String)> = doc["Results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["Vulnerabilities"].as_array().into_iter().flatten())
        .map(|v| (v["VulnerabilityID"].as_str().unwrap().into(), v["PkgName"].as_str().unwrap().into()))
        .collect();
    assert_eq!(vulns, found);
    let target = doc["Results"][0]["Target"].as_str().unwrap();
    let repo = f.reference.trim_end_matches(":1.0");
    assert!(target.starts_with(&format!("{repo} (debian 11.")), "{target}");

    // Policy: the zlib advisory ignored by its CVE alias in ./.strataignore, the openssl ones declared
    // not_affected by an OpenVEX document that names them by CVE and the package purl.
    let zlib: Vec<&Value> = finding_values(&report).filter(|f| f["package"] == "zlib1g").collect();
    let zlib_cve = zlib[0]["aliases"][0].as_str().unwrap().to_string();
    let statements: Vec<Value> = finding_values(&report)
        .filter(|f| f["package"] == "libssl1.1")
        .map(|f| {
            json!({
                "vulnerability": {"name": f["aliases"][0]},
                "products": [{"@id": "pkg:deb/debian/libssl1.1"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
                "impact_statement": "the service never terminates TLS itself",
            })
        })
        .collect();
    let vex = f.tmp.path().join("app.openvex.json");
    let doc = json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://openvex.dev/docs/public/vex-strata-formats-test",
        "author": "Strata tests",
        "timestamp": "2024-03-01T10:00:00Z",
        "version": 1,
        "statements": statements,
    });
    std::fs::write(&vex, doc.to_string()).unwrap();
    let vex = vex.to_str().unwrap();
    let ignore = |expires: &str| {
        format!(
            "ignore:\n  - id: {zlib_cve}\n    package: 'zlib*'\n    expires: {expires}\n    reason: rebuilt weekly\n"
        )
    };
    let accepted = f.dir("accepted");
    std::fs::write(accepted.join(".strataignore"), ignore("2999-12-31")).unwrap();
    let expired = f.dir("expired");
    std::fs::write(expired.join(".strataignore"), ignore("2001-01-01")).unwrap();

    let both = f.scan(&accepted, &["--format", "json", "--exit-code", "3", "--vex", vex]);
    assert_eq!(both.code, 0, "everything suppressed: {}", both.stderr);
    let r = both.json();
    assert_eq!(r["summary"]["total"], 0);
    let suppressed: Vec<&Value> = r["results"][0]["suppressed"].as_array().unwrap().iter().collect();
    assert_eq!(suppressed.len(), found.len());
    let by_vex = suppressed.iter().filter(|s| s["suppression"]["by"] == "vex").count();
    assert_eq!(by_vex, found.len() - zlib.len());
    assert!(suppressed.iter().all(|s| s["suppression"]["by"] == "ignorefile"
        || s["suppression"]["justification"] == "vulnerable_code_not_in_execute_path"));

    let vex_only = f.scan(&plain, &["--format", "json", "--exit-code", "3", "--vex", vex]);
    assert_eq!(vex_only.code, 3, "zlib remains without the ignore file");
    assert_eq!(vex_only.json()["summary"]["total"].as_u64().unwrap() as usize, zlib.len());

    let out = f.scan(&expired, &["--format", "json", "--exit-code", "3", "--vex", vex]);
    assert_eq!(out.code, 3, "an expired entry no longer suppresses");
    let r = out.json();
    assert_eq!(r["summary"]["total"].as_u64().unwrap() as usize, zlib.len());
    assert!(r["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("expired on 2001-01-01")));

    // The SARIF and Trivy outputs count what the policy left, like the exit code.
    let out = f.scan(&accepted, &["--format", "trivy-json", "--vex", vex]);
    assert!(out.json()["Results"][0].get("Vulnerabilities").is_none());
}

#[test]
fn bad_policy_input_is_a_usage_error_before_the_scan() {
    let f = fixture();
    let dir = f.dir("bad");
    std::fs::write(dir.join(".strataignore"), "ignore:\n  - id: CVE-2022-37434\n").unwrap();
    let out = f.scan(&dir, &["--format", "json"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("reason"), "{}", out.stderr);
    let plain = f.dir("plain");
    let out = f.scan(&plain, &["--scanners", "vuln,licence"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let cdx = plain.join("bom.json");
    std::fs::write(&cdx, r#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#).unwrap();
    let out = f.scan(&plain, &["--vex", cdx.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("OpenVEX"), "{}", out.stderr);
}

fn finding_values(report: &Value) -> impl Iterator<Item = &Value> {
    report["results"].as_array().into_iter().flatten().flat_map(|r| r["findings"].as_array().into_iter().flatten())
}

/// The Go fixture binary (golang.org/x/net v0.7.0, golang.org/x/text v0.3.7) alone in an OCI layout, and a
/// DB of the committed Go advisories that name its modules.
fn go_image(tmp: &Path) -> (String, PathBuf) {
    let goapp = fixtures::dir().join("binaries/goapp");
    assert!(goapp.is_file(), "{} is missing: run scripts/fixtures.sh", goapp.display());
    let layer = TarBuilder::new().executable("usr/local/bin/goapp", &std::fs::read(&goapp).unwrap()).build();
    let layout = tmp.join("layout");
    ImageBuilder::new()
        .layer(LayerContent::Bytes(layer), Compression::Gzip, "COPY goapp /")
        .write_layout(&layout, "go");
    let osv = fixtures::repo_root().join("scanner/tests/fixtures/binary/osv-binaries.jsonl.gz");
    (format!("{}:go", layout.display()), build_db(tmp, &[osv]))
}

fn go_scan(input: &str, db: &Path, args: &[&str]) -> Outcome {
    let mut cmd = strata();
    cmd.args(["image", "--quiet", "--input", input, "--db"]).arg(db).args(args);
    run(&mut cmd)
}

/// A finding's identity in a JSON report: one advisory may name several modules of one binary (stdlib and
/// golang.org/x/net), so the package is part of it.
type FindingKey = (String, String, String);

fn finding_key(f: &Value) -> FindingKey {
    (f["id"].as_str().unwrap().into(), f["path"].as_str().unwrap().into(), f["package"].as_str().unwrap().into())
}

/// The findings with `reachability`, from a JSON report.
fn with_reachability(report: &Value, reachability: &str) -> BTreeSet<FindingKey> {
    finding_values(report).filter(|f| f["reachability"] == reachability).map(finding_key).collect()
}

#[test]
fn go_reachability_in_sarif_cyclonedx_and_openvex() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, db) = go_image(tmp.path());
    let out = go_scan(&input, &db, &["--format", "json", "--list-all-pkgs"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plain = out.json();

    // What the engine decided (once it decides) is what the filter hides and the summary counts.
    let unreachable = with_reachability(&plain, "unreachable");
    assert_eq!(plain["summary"]["unreachable"].as_u64().unwrap_or(0) as usize, unreachable.len());
    let out = go_scan(&input, &db, &["--format", "json", "--reachable-only"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let only = out.json();
    let all: BTreeSet<FindingKey> = finding_values(&plain).map(finding_key).collect();
    let kept: BTreeSet<FindingKey> = finding_values(&only).map(finding_key).collect();
    assert_eq!(kept, all.difference(&unreachable).cloned().collect::<BTreeSet<_>>());
    assert_eq!(only["summary"]["hidden_by"]["unreachable"].as_u64().unwrap_or(0) as usize, unreachable.len());

    // OpenVEX is about the unreachable findings: leaving them out would defeat it.
    let refused = go_scan(&input, &db, &["--format", "openvex", "--reachable-only"]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("--format openvex") && refused.stderr.contains("--reachable-only"),
        "{}",
        refused.stderr
    );
    let vex = go_scan(&input, &db, &["--format", "openvex"]);
    assert_eq!(vex.code, 0, "{}", vex.stderr);
    let vex = vex.json();
    assert_eq!(vex["@context"], "https://openvex.dev/ns/v0.2.0");
    let assessed = finding_values(&plain).filter(|f| f.get("reachability").is_some()).count();
    assert!(vex["statements"].as_array().unwrap().len() <= assessed);
    assert_eq!(vex, go_scan(&input, &db, &["--format", "openvex"]).json(), "deterministic");

    // The real report with reachability set here, as the engine sets it: the first Go finding reachable,
    // the second unreachable, the rest unknown.
    let mut report: Report = serde_json::from_value(plain.clone()).unwrap();
    let go = report.results.iter_mut().find(|r| r.target == "/usr/local/bin/goapp").expect("a goapp target");
    assert!(go.findings.len() >= 2, "goapp's modules have real advisories: {:?}", go.findings);
    for (i, f) in go.findings.iter_mut().enumerate() {
        f.reachability = Some(
            [Reachability::Reachable, Reachability::Unreachable][..].get(i).copied().unwrap_or(Reachability::Unknown),
        );
    }
    let (reachable, dead) = (go.findings[0].clone(), go.findings[1].clone());
    report.summary = report::summarize(&report.results);

    let doc = sarif::to_value(&report);
    let errors = schema_errors("sarif-schema-2.1.0.json", &doc);
    assert!(errors.is_empty(), "sarif:\n{}", errors.join("\n"));
    let results = doc["runs"][0]["results"].as_array().unwrap();
    // One advisory may name several modules of the binary (stdlib and golang.org/x/net): by package too.
    let result = |f: &report::Finding| {
        let package = format!("Package: {}\n", f.package);
        let found = results.iter().find(|r| {
            r["ruleId"] == f.id.as_str() && r["message"]["text"].as_str().is_some_and(|t| t.starts_with(&package))
        });
        found.unwrap_or_else(|| panic!("no SARIF result for {} {}", f.id, f.package))
    };
    assert_eq!((result(&dead)["level"].as_str(), result(&dead)["rank"].as_f64()), (Some("note"), Some(1.0)));
    assert_eq!(result(&dead)["properties"]["tags"], json!(["unreachable"]));
    assert_eq!(result(&reachable)["properties"]["reachability"], "reachable");

    let bom = cyclonedx::to_value(&report);
    let errors = schema_errors("cyclonedx-bom-1.5.schema.json", &bom);
    assert!(errors.is_empty(), "cyclonedx:\n{}", errors.join("\n"));
    let vulns = bom["vulnerabilities"].as_array().unwrap();
    let entry = vulns
        .iter()
        .find(|v| v["id"] == dead.id.as_str() && v["properties"][0]["value"] == "unreachable")
        .unwrap_or_else(|| panic!("no unreachable entry for {}: {bom:#}", dead.id));
    assert_eq!(entry["analysis"]["state"], "not_affected");
    assert_eq!(entry["analysis"]["justification"], "code_not_present");
    assert_eq!(entry["affects"].as_array().unwrap().len(), 1);

    let vex = openvex::to_value(&report);
    let statements = vex["statements"].as_array().unwrap();
    let statement = |f: &report::Finding| {
        statements
            .iter()
            .find(|s| {
                s["vulnerability"]["name"] == f.id.as_str()
                    && s["products"][0]["subcomponents"][0]["@id"] == f.purl.as_str()
            })
            .unwrap()
    };
    assert_eq!(statement(&dead)["justification"], "vulnerable_code_not_present");
    assert_eq!(statement(&reachable)["status"], "affected");
    assert_eq!(vex["timestamp"], plain["db"]["built_at"]);
    let parsed = policy::vex::parse(&vex.to_string(), "goapp.openvex.json").unwrap();
    assert_eq!(parsed.len(), statements.len());

    report::hide_unreachable(&mut report);
    assert_eq!(report.summary.hidden_by.unreachable, 1);
    let left = |f: &report::Finding| f.id == dead.id && f.purl == dead.purl && f.path == dead.path;
    assert!(!report.results.iter().flat_map(|r| &r.findings).any(left));
}
