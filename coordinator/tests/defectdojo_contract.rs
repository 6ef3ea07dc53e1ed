//! Contract: the same scenarios on the real DefectDojo 3.2.0 (`scripts/defectdojo.sh`, from
//! `../shared/defectdojo`) and on the test kit's mock, step by step. A test fails when the real product
//! breaks an expectation, and when the mock's statistics (created / closed / reactivated / untouched, and
//! the active findings after each step) differ from the real product's, so the mock cannot drift.
//!
//! The report is real: the `strata` binary scans a bullseye image with an old openssl, two AWS keys in one
//! file and a root-user config. Variants (a registry rename, a point release, a fix published, an
//! incomplete analysis) are edits of that report, sent through the product's own shaping
//! (`defectdojo::document`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use sha2::Digest as _;
use strata_coordinator::defectdojo::concurrent::{self, Settled};
use strata_coordinator::defectdojo::document::{to_dojo_file, uploads};
use strata_coordinator::defectdojo::{Client, DefectDojoError, ImportResult, Names, Token, Upload, orphans};
use strata_scanner::report::Report;
use strata_testkit::debian::{Rootfs, minbase_osv, with_source_version};
use strata_testkit::defectdojo::{HashMode, MockDefectDojo};
use strata_testkit::defectdojo_real::{RealDefectDojo, request, unique};
use strata_testkit::fleet::{Bins, run};
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::tarball::TarBuilder;

const MOCK_KEY: &str = "dd-contract-key-6b1d";

/// A DefectDojo to run a scenario on: the real one or the mock, and how to read what it holds.
enum Dojo {
    Real(RealDefectDojo),
    Mock(MockDefectDojo),
}

impl Dojo {
    fn name(&self) -> &'static str {
        match self {
            Dojo::Real(_) => "real DefectDojo",
            Dojo::Mock(_) => "mock",
        }
    }

    fn client(&self) -> Client {
        let (url, key) = match self {
            Dojo::Real(d) => (d.url(), d.token()),
            Dojo::Mock(m) => (m.url(), MOCK_KEY.to_string()),
        };
        Client::new(&url, Token::new(key), Duration::from_secs(300)).expect("client")
    }

    /// Active findings of a test.
    fn active(&self, test_id: i64) -> usize {
        match self {
            Dojo::Real(d) => d.findings(test_id, true).len(),
            Dojo::Mock(m) => {
                let path = format!("/api/v2/findings/?test={test_id}&active=true");
                let (status, body) = request(&m.url(), MOCK_KEY, "GET", &path);
                assert_eq!(status, 200, "{body}");
                serde_json::from_str::<serde_json::Value>(&body).unwrap()["count"].as_u64().unwrap_or(0) as usize
            }
        }
    }

    fn delete_test(&self, test_id: i64) -> u16 {
        let path = format!("/api/v2/tests/{test_id}/");
        match self {
            Dojo::Real(d) => d.delete(&path),
            Dojo::Mock(m) => request(&m.url(), MOCK_KEY, "DELETE", &path).0,
        }
    }
}

/// The pair to compare: the real DefectDojo with `mode`'s hash settings, and a mock with the same.
fn dojos(mode: HashMode) -> Option<(Dojo, Dojo)> {
    let real = RealDefectDojo::get(mode)?;
    Some((Dojo::Real(real), Dojo::Mock(MockDefectDojo::start(MOCK_KEY, mode))))
}

fn bins() -> Bins {
    Bins::beside(Path::new(env!("CARGO_BIN_EXE_strata-coordinator")))
}

/// Deterministic credentials that do not look like placeholders.
fn aws_key_id(seed: &str) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = sha2::Sha256::digest(seed.as_bytes());
    format!("AKIA{}", digest.iter().take(16).map(|b| alphabet[*b as usize % 32] as char).collect::<String>())
}

/// A real Strata report of a real image (scanned by the `strata` binary).
fn real_report(tmp: &Path) -> Report {
    let bins = bins();
    let rootfs = Rootfs::bullseye();
    let aged = with_source_version(&rootfs.status, "openssl", "1.1.1k-1+deb11u1");
    let env = format!(
        "# deploy\nAWS_ACCESS_KEY_ID={}\nBACKUP_AWS_ACCESS_KEY_ID={}\n",
        aws_key_id("contract-1"),
        aws_key_id("contract-2")
    );
    let layout = tmp.join("layout");
    ImageBuilder::new()
        .layer(LayerContent::TarFile(rootfs.tar.clone()), Compression::Gzip, "ADD bullseye-minbase /")
        .layer(
            LayerContent::Bytes(TarBuilder::new().file("var/lib/dpkg/status", aged.as_bytes()).build()),
            Compression::Gzip,
            "RUN apt-get install libssl1.1=1.1.1k-1+deb11u1",
        )
        .layer(
            LayerContent::Bytes(TarBuilder::new().file("app/.env", env.as_bytes()).build()),
            Compression::Gzip,
            "COPY .env /app/",
        )
        .write_layout(&layout, "1");
    let db = tmp.join("strata.db");
    let mut cmd = Command::new(&bins.strata);
    cmd.args(["db", "build", "--out"]).arg(&db).arg("--osv").arg(minbase_osv());
    let (code, _, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let mut cmd = Command::new(&bins.strata);
    cmd.args(["image", "--quiet", "--format", "json", "--scanners", "vuln,secret,misconfig", "--input"])
        .arg(format!("{}:1", layout.display()))
        .arg("--db")
        .arg(&db);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let mut report: Report = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    report.artifact.name = "127.0.0.1:5055/contract/app:1".into();
    report
}

/// Findings DefectDojo must hold for a report: vulnerabilities + secrets + misconfigurations (+ one
/// for an incomplete analysis).
fn expected_findings(report: &Report) -> usize {
    let per_target: usize =
        report.results.iter().map(|r| r.findings.len() + r.secrets.len() + r.misconfigurations.len()).sum();
    per_target + usize::from(!report.incomplete.is_empty())
}

fn upload_for(product: &str) -> Upload {
    Upload {
        names: Names {
            product_type: "Strata contract".into(),
            product: product.into(),
            engagement: "strata".into(),
            test_title: "contract/app".into(),
            service: None,
        },
        scan_date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        minimum_severity: "Info".into(),
        image_digest: "sha256:0123".into(),
        tags: vec![],
        dedup_sync: true,
        base_title: String::new(),
        titles: vec![],
    }
}

/// What one step did, as compared between the real product and the mock.
#[derive(Debug, PartialEq, Eq)]
struct Step {
    label: &'static str,
    created: u32,
    closed: u32,
    reactivated: u32,
    untouched: u32,
    active: usize,
}

async fn send(dojo: &Dojo, product: &str, report: &Report) -> ImportResult {
    let parts = uploads(&upload_for(product), to_dojo_file(report), usize::MAX).expect("importable");
    assert_eq!(parts.len(), 1);
    let (upload, file) = &parts[0];
    dojo.client().reimport(upload, file).await.unwrap_or_else(|e| panic!("{}: {e}", dojo.name()))
}

async fn step(dojo: &Dojo, product: &str, label: &'static str, report: &Report, steps: &mut Vec<Step>) {
    let result = send(dojo, product, report).await;
    let d = &result.delta;
    let active = dojo.active(result.test_id);
    steps.push(Step {
        label,
        created: d.created.total,
        closed: d.closed.total,
        reactivated: d.reactivated.total,
        untouched: d.untouched.total,
        active,
    });
}

/// The nightly life of one image's test, under `dojo`'s hash settings.
async fn lifecycle(dojo: &Dojo, report: &Report) -> Vec<Step> {
    let product = unique("contract-lifecycle");
    let n = expected_findings(report);
    let mut steps = Vec::new();
    step(dojo, &product, "first upload", report, &mut steps).await;
    step(dojo, &product, "identical upload", report, &mut steps).await;
    let mut fewer = report.clone();
    let os = fewer.results.iter_mut().find(|r| r.class == "os-pkgs" && !r.findings.is_empty()).expect("OS findings");
    os.findings.pop();
    step(dojo, &product, "one vulnerability fixed", &fewer, &mut steps).await;
    step(dojo, &product, "it comes back", report, &mut steps).await;
    let mut moved = report.clone();
    moved.artifact.name = "localhost:5055/contract/app:1".into();
    for r in moved.results.iter_mut().filter(|r| r.class == "os-pkgs") {
        r.target = format!("{}.99", r.target);
    }
    step(dojo, &product, "other registry name, point release", &moved, &mut steps).await;
    let mut incomplete = report.clone();
    incomplete.incomplete.push(
        serde_json::from_value(json!({
            "layer": report.artifact.layers[0], "path": "/var/lib/dpkg/status", "reason": "over the test's budget"
        }))
        .expect("incomplete entry"),
    );
    step(dojo, &product, "incomplete analysis", &incomplete, &mut steps).await;
    step(dojo, &product, "complete again", report, &mut steps).await;
    for s in &steps {
        let expected = match s.label {
            "one vulnerability fixed" => n - 1,
            "incomplete analysis" => n + 1,
            _ => n,
        };
        assert_eq!(s.active, expected, "{}: active findings after {:?}: {steps:#?}", dojo.name(), s.label);
    }
    let by = |label: &str| steps.iter().find(|s| s.label == label).expect("step");
    for label in ["identical upload", "other registry name, point release"] {
        let s = by(label);
        assert_eq!((s.created, s.closed), (0, 0), "{}: {label}: {steps:#?}", dojo.name());
    }
    assert_eq!(by("one vulnerability fixed").closed, 1, "{}: {steps:#?}", dojo.name());
    assert_eq!(by("it comes back").reactivated, 1, "{}: {steps:#?}", dojo.name());
    steps
}

fn contract(mode: HashMode) {
    let Some((real, mock)) = dojos(mode) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let report = real_report(tmp.path());
    assert!(report.results.iter().any(|r| r.secrets.len() >= 2), "two secrets in one file: {:?}", report.results);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let on_real = rt.block_on(lifecycle(&real, &report));
    let on_mock = rt.block_on(lifecycle(&mock, &report));
    assert_eq!(on_mock, on_real, "the mock's statistics differ from the real DefectDojo's");
}

#[test]
fn lifecycle_under_defectdojos_default_hash() {
    contract(HashMode::Default);
}

/// Includes defect 2: under the previously recommended fields the two AWS keys of `/app/.env` shared a
/// hash, and the identical re-upload closed one of them.
#[test]
fn lifecycle_under_the_recommended_hash() {
    contract(HashMode::Recommended);
}

/// A split report that shrinks leaves no orphan test with active findings; same on both.
#[test]
fn shrinking_a_split_report_leaves_no_orphan() {
    let Some((real, mock)) = dojos(HashMode::Default) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let report = real_report(tmp.path());
    assert!(report.results.len() >= 2, "a report of several targets: {:?}", report.results);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut outcomes = Vec::new();
    for dojo in [&real, &mock] {
        let product = unique("contract-split");
        let client = dojo.client();
        let deliver = |r: &Report| {
            let file = to_dojo_file(r);
            // Just under the whole report: every target travels alone.
            let parts = uploads(&upload_for(&product), file.clone(), file.len() - 1).expect("split");
            let client = client.clone();
            async move {
                let mut ids = Vec::new();
                for (upload, file) in &parts {
                    ids.push(client.reimport(upload, file).await.expect("part").test_id);
                }
                orphans::close(&client, &parts[0].0).await.expect("close orphans");
                ids
            }
        };
        let first = rt.block_on(deliver(&report));
        assert_eq!(first.len(), report.results.len());
        let mut smaller = report.clone();
        let dropped = smaller.results.pop().expect("a target");
        let second = rt.block_on(deliver(&smaller));
        assert_eq!(second.len(), first.len() - 1, "{}", dojo.name());
        assert!(second.iter().all(|id| first.contains(id)), "{}: the same tests", dojo.name());
        let active: Vec<usize> = first.iter().map(|id| dojo.active(*id)).collect();
        let orphans: Vec<usize> =
            first.iter().zip(&active).filter(|(id, _)| !second.contains(id)).map(|(_, n)| *n).collect();
        assert_eq!(orphans, [0], "{}: the test of {:?} keeps active findings", dojo.name(), dropped.target);
        assert_eq!(active.iter().sum::<usize>(), expected_findings(&smaller), "{}: {active:?}", dojo.name());
        outcomes.push(active);
    }
    assert_eq!(outcomes[0], outcomes[1], "mock and real DefectDojo differ");
}

/// Over-long names: DefectDojo answers 500 (and keeps a product type behind), so Strata refuses them
/// before sending; the mock answers as the real product does.
#[test]
fn an_over_long_name_is_refused_before_sending() {
    let Some((real, mock)) = dojos(HashMode::Default) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let report = real_report(tmp.path());
    let upload = upload_for(&format!("{}-{}", unique("contract-long"), "x".repeat(260)));
    let refused = uploads(&upload, to_dojo_file(&report), usize::MAX).expect_err("refused");
    assert!(matches!(refused, DefectDojoError::TooLong(_)), "{refused}");
    assert!(refused.to_string().contains("product_name") && refused.to_string().contains("255"), "{refused}");
    // Sent anyway, both answer the same way: a long product name is a 400 naming the limit, a long test
    // title a 500 (after the product and engagement were created).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut long_title = upload_for(&unique("contract-long-title"));
    long_title.names.test_title = "t".repeat(300);
    let answers: Vec<Vec<String>> = [&real, &mock]
        .iter()
        .map(|dojo| {
            [&upload, &long_title]
                .iter()
                .map(|u| match rt.block_on(dojo.client().reimport(u, &to_dojo_file(&report))) {
                    Ok(r) => format!("201 test {}", r.test_id),
                    Err(DefectDojoError::Rejected { status, body }) => format!("{status} {body}"),
                    Err(DefectDojoError::Unavailable { status, .. }) => format!("{status}"),
                    Err(e) => format!("{e}"),
                })
                .collect()
        })
        .collect();
    assert!(answers[0][0].starts_with("400") && answers[0][0].contains("at most 255"), "{answers:?}");
    assert_eq!(answers[0][1], "500", "{answers:?}");
    assert_eq!(answers[0], answers[1], "real DefectDojo vs mock");
}

/// A test deleted in DefectDojo is seen as gone (the check behind "skip unchanged uploads").
#[test]
fn a_deleted_test_is_seen_as_gone() {
    let Some((real, mock)) = dojos(HashMode::Default) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let report = real_report(tmp.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    for dojo in [&real, &mock] {
        let result = rt.block_on(send(dojo, &unique("contract-deleted"), &report));
        assert!(rt.block_on(dojo.client().test_exists(result.test_id)).unwrap(), "{}", dojo.name());
        let status = dojo.delete_test(result.test_id);
        assert_eq!(status, 204, "{}", dojo.name());
        assert!(!rt.block_on(dojo.client().test_exists(result.test_id)).unwrap(), "{}", dojo.name());
    }
}

/// Defect 7: one-off uploads (`strata image --defectdojo`) of one image to one test at the same moment,
/// as parallel CI jobs make them. DefectDojo serialises no part of a reimport: racing first uploads each
/// created a test, racing reimports each created the findings they did not see (three at once: 442
/// findings, 153 duplicated hashes). Three `strata` processes upload together, into no test yet, then
/// into a test that holds only some of the findings (the race inside one test); then four uploads from
/// tasks released at once, as the processes run them, the same two ways. Afterwards one test has the
/// title, its active findings are the report's, and no hash is active twice; on both.
#[test]
fn concurrent_one_off_uploads_to_one_test_leave_no_duplicate() {
    let Some((real, mock)) = dojos(HashMode::Default) else { return };
    let Dojo::Mock(m) = &mock else { unreachable!() };
    // Long enough that uploads of processes started together overlap on the mock as on DefectDojo.
    m.set_race_window(Duration::from_secs(3));
    let tmp = tempfile::tempdir().unwrap();
    let report = real_report(tmp.path());
    let n = expected_findings(&report);
    let mut partial = report.clone();
    for r in &mut partial.results {
        r.findings.truncate(r.findings.len() / 2);
    }
    assert!(expected_findings(&partial) < n);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut outcomes = Vec::new();
    for dojo in [&real, &mock] {
        let mut states = Vec::new();
        for into_partial in [false, true] {
            let product = unique("contract-concurrent");
            if into_partial {
                rt.block_on(send(dojo, &product, &partial));
            }
            let stderr = upload_at_once(dojo, tmp.path(), &product, 3);
            eprintln!(
                "{} ({}): {stderr}",
                dojo.name(),
                if into_partial { "into a partial test" } else { "no test yet" }
            );
            states.push(rt.block_on(title_state(&dojo.client(), &product, "contract/app")));
        }
        // Processes start their uploads seconds apart (each scans first) and may not overlap on the real
        // product; the same uploads from tasks released together do.
        for into_partial in [false, true] {
            let product = unique("contract-concurrent-tasks");
            let mut first = upload_for(&product);
            if into_partial {
                rt.block_on(send(dojo, &product, &partial));
            } else {
                // The product and engagement exist: the race is on the test alone.
                first.names.test_title = "contract/other".into();
                let file = to_dojo_file(&partial);
                rt.block_on(dojo.client().reimport(&first, &file)).expect("another test");
            }
            let raced = rt.block_on(upload_together(dojo, &product, &report, 4));
            eprintln!(
                "{} (tasks, {}): {raced:?}",
                dojo.name(),
                if into_partial { "into a partial test" } else { "no test yet" }
            );
            states.push(rt.block_on(title_state(&dojo.client(), &product, "contract/app")));
        }
        for state in &states {
            assert_eq!(*state, TitleState { tests: 1, active: n, duplicated: 0 }, "{}: {states:?}", dojo.name());
        }
        outcomes.push(states);
    }
    assert_eq!(outcomes[0], outcomes[1], "mock and real DefectDojo differ");
}

/// Runs `count` `strata image … --defectdojo` processes of the contract image at once (the layout and DB
/// `real_report` left in `tmp`); all must succeed. Their stderr, joined.
fn upload_at_once(dojo: &Dojo, tmp: &Path, product: &str, count: usize) -> String {
    let (url, key) = match dojo {
        Dojo::Real(d) => (d.url(), d.token()),
        Dojo::Mock(m) => (m.url(), MOCK_KEY.to_string()),
    };
    let bins = bins();
    let children: Vec<_> = (0..count)
        .map(|_| {
            let mut cmd = Command::new(&bins.strata);
            cmd.args(["image", "--quiet", "--format", "json", "--scanners", "vuln,secret,misconfig", "--input"])
                .arg(format!("{}:1", tmp.join("layout").display()))
                .arg("--db")
                .arg(tmp.join("strata.db"))
                .args(["--defectdojo", &url, "--dd-product", product, "--dd-engagement", "strata"])
                .args(["--dd-test-title", "contract/app", "--dd-product-type", "Strata contract"])
                .env("STRATA_DEFECTDOJO_TOKEN", &key)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().expect("strata")
        })
        .collect();
    let mut all = String::new();
    for child in children {
        let out = child.wait_with_output().expect("strata");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", dojo.name());
        all.push_str(&stderr);
    }
    all
}

/// `count` uploads of `report` released together, as `strata image` makes them (`upload_settled`); per
/// upload, what it created and what the repair did.
async fn upload_together(dojo: &Dojo, product: &str, report: &Report, count: usize) -> Vec<(u32, Settled)> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(count));
    let file = to_dojo_file(report);
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (client, upload, file, barrier) = (dojo.client(), upload_for(product), file.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let (result, settled) = concurrent::upload_settled(&client, &upload, &file).await.expect("upload");
                (result.delta.created.total, settled)
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}

/// The tests of one title in a product's engagement `strata`, and their active findings.
#[derive(Debug, PartialEq, Eq)]
struct TitleState {
    tests: usize,
    active: usize,
    /// Active findings beyond the first of their hash.
    duplicated: usize,
}

async fn title_state(client: &Client, product: &str, title: &str) -> TitleState {
    let products = client.list("/api/v2/products/", &[("name_exact", product.to_string())], 10).await.unwrap();
    let product_id = products.iter().find(|p| p["name"] == product).and_then(|p| p["id"].as_i64()).expect("product");
    let engagements = client.list("/api/v2/engagements/", &[("product", product_id.to_string())], 10).await.unwrap();
    let engagement = engagements.iter().find(|e| e["name"] == "strata").and_then(|e| e["id"].as_i64()).expect("eng");
    let tests = client.list("/api/v2/tests/", &[("engagement", engagement.to_string())], 100).await.unwrap();
    let ids: Vec<i64> = tests.iter().filter(|t| t["title"] == title).filter_map(|t| t["id"].as_i64()).collect();
    let mut hashes = Vec::new();
    for id in &ids {
        let query = [("test", id.to_string()), ("active", "true".to_string())];
        let findings = client.list("/api/v2/findings/", &query, 10_000).await.unwrap();
        hashes.extend(findings.iter().map(|f| f["hash_code"].as_str().unwrap_or_default().to_string()));
    }
    let active = hashes.len();
    hashes.sort();
    hashes.dedup();
    TitleState { tests: ids.len(), active, duplicated: active - hashes.len() }
}
