//! Delivery to DefectDojo end to end: the real coordinator and worker binaries, the machine's RabbitMQ and
//! Redis, a real registry with real images, and a strict DefectDojo stand-in (`testkit::defectdojo`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strata_coordinator::defectdojo::{Client, DefectDojoError, Names, Token, Upload};
use strata_testkit::debian::{Rootfs, minbase_osv, with_source_version};
use strata_testkit::defectdojo::{Fault, HashMode, MockDefectDojo, finding_hashes};
use strata_testkit::defectdojo_real::{RealDefectDojo, unique};
use strata_testkit::fleet::{Bins, Fleet, run};
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

const KEY: &str = "dd-test-key-4f0c2a9b";

fn bins() -> Bins {
    Bins::beside(Path::new(env!("CARGO_BIN_EXE_strata-coordinator")))
}

fn build_db(bins: &Bins, osv: &Path, out: &Path) {
    let mut cmd = Command::new(&bins.strata);
    cmd.args(["db", "build", "--out"]).arg(out).arg("--osv").arg(osv);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
}

/// Images `repo:tag` on the real bullseye base with openssl downgraded (so each has real findings) and an
/// app layer of their own.
fn push(registry: &TestRegistry, tmp: &Path, images: &[(&str, &str)]) -> Vec<String> {
    let rootfs = Rootfs::bullseye();
    let aged = with_source_version(&rootfs.status, "openssl", "1.1.1k-1+deb11u1");
    let middle = TarBuilder::new().file("var/lib/dpkg/status", aged.as_bytes()).build();
    let layout = tmp.join("layout");
    images
        .iter()
        .map(|(repo, tag)| {
            let app = TarBuilder::new().file(&format!("srv/{repo}/{tag}"), tag.as_bytes()).build();
            ImageBuilder::new()
                .layer(LayerContent::TarFile(rootfs.tar.clone()), Compression::Gzip, "ADD bullseye-minbase /")
                .layer(
                    LayerContent::Bytes(middle.clone()),
                    Compression::Gzip,
                    "RUN apt-get install libssl1.1=1.1.1k-1+deb11u1",
                )
                .layer(LayerContent::Bytes(app), Compression::Gzip, &format!("COPY {tag} /srv/"))
                .write_layout(&layout, tag);
            registry.push(&layout, tag, &format!("{repo}:{tag}"), &[]);
            format!("{}/{repo}:{tag}", registry.host())
        })
        .collect()
}

fn dd_fleet(bins: &Bins, db: &Path, mock: &MockDefectDojo, extra: &[(&str, &str)]) -> Fleet {
    dd_fleet_at(bins, db, &mock.url(), KEY, extra)
}

fn dd_fleet_at(bins: &Bins, db: &Path, url: &str, key: &str, extra: &[(&str, &str)]) -> Fleet {
    let mut env = vec![
        ("STRATA_DEFECTDOJO_URL", url),
        ("STRATA_DEFECTDOJO_TOKEN", key),
        ("STRATA_DEFECTDOJO_BACKOFF_MS", "500"),
        ("RUST_LOG", "debug"),
    ];
    env.extend_from_slice(extra);
    Fleet::start(bins.clone(), db, 1, &env)
}

/// `(id, reference)` per line of `strata submit --wait`.
fn submit_and_wait(fleet: &Fleet, references: &[String]) -> Vec<String> {
    let mut cmd = fleet.strata();
    cmd.args(["submit", "--wait"]).args(references);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "submit --wait: {out}\n{err}\n{}", fleet.logs());
    out.lines().map(|l| l.split('\t').next().unwrap_or_default().to_string()).collect()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", context());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The states of a scan's deliveries, once none is pending.
fn settled(fleet: &Fleet, id: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    wait_until(
        &format!("the deliveries of {id}"),
        Duration::from_secs(120),
        || {
            rows = fleet.status(id)["defectdojo"].as_array().cloned().unwrap_or_default();
            !rows.is_empty() && rows.iter().all(|d| d["state"] != "pending")
        },
        || fleet.logs(),
    );
    rows
}

fn digest(fleet: &Fleet, id: &str) -> String {
    fleet.status(id)["image_digest"].as_str().unwrap_or_default().to_string()
}

fn upload(product: &str, title: &str) -> Upload {
    Upload {
        names: Names {
            product_type: "Container images".into(),
            product: product.into(),
            engagement: "strata".into(),
            test_title: title.into(),
            service: None,
        },
        scan_date: "2026-01-01".into(),
        minimum_severity: "Info".into(),
        image_digest: "sha256:00".into(),
        tags: vec!["nightly".into()],
        dedup_sync: true,
        base_title: String::new(),
        titles: vec![],
    }
}

fn trivy(vulns: &[(&str, &str)]) -> Vec<u8> {
    let v: Vec<Value> = vulns
        .iter()
        .map(|(id, sev)| json!({"VulnerabilityID": id, "PkgName": "openssl", "InstalledVersion": "1.0", "Severity": sev}))
        .collect();
    serde_json::to_vec(&json!({"SchemaVersion": 2, "Results": [{"Target": "app (debian 11)", "Type": "debian", "Vulnerabilities": v}]}))
        .unwrap()
}

#[tokio::test]
async fn the_client_and_the_stand_in_keep_the_contract() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mock = MockDefectDojo::start(KEY, HashMode::Default);
    let url = format!("{}/api/v2/reimport-scan/", mock.url());
    let http = reqwest::Client::new();
    let post = |form: reqwest::multipart::Form, auth: Option<&str>| {
        let mut r = http.post(&url).multipart(form);
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r.send()
    };
    let form = || reqwest::multipart::Form::new().text("scan_type", "Trivy Scan");
    let file = |bytes: Vec<u8>| reqwest::multipart::Part::bytes(bytes).file_name("r.json");
    let auth = format!("Token {KEY}");
    assert_eq!(post(form(), None).await.unwrap().status(), 403);
    assert_eq!(post(form(), Some("Token wrong")).await.unwrap().status(), 403);
    let json_body = http.post(&url).header("Authorization", &auth).json(&json!({"scan_type": "Trivy Scan"}));
    assert_eq!(json_body.send().await.unwrap().status(), 415);
    let missing = reqwest::multipart::Form::new().part("file", file(trivy(&[])));
    assert_eq!(post(missing, Some(&auth)).await.unwrap().status(), 400);
    let unknown = reqwest::multipart::Form::new().text("scan_type", "Nope Scan").part("file", file(trivy(&[])));
    assert_eq!(post(unknown, Some(&auth)).await.unwrap().status(), 400);
    assert_eq!(post(form().part("file", file(b"not json".to_vec())), Some(&auth)).await.unwrap().status(), 400);
    let v1 = serde_json::to_vec(&json!({"SchemaVersion": 1, "Results": []})).unwrap();
    assert_eq!(post(form().part("file", file(v1)), Some(&auth)).await.unwrap().status(), 400);
    assert!(mock.imports().is_empty());

    let client = Client::new(&mock.url(), Token::new(KEY.into()), Duration::from_secs(10)).unwrap();
    // Refused before sending: DefectDojo would drop the finding silently.
    let bad = trivy(&[("CVE-1", "SEVERE")]);
    let attempts = mock.attempts().len();
    assert!(matches!(client.reimport(&upload("p", "t"), &bad).await, Err(DefectDojoError::InvalidReport(_))));
    assert_eq!(mock.attempts().len(), attempts, "an invalid report must not be sent");

    let first = client.reimport(&upload("p", "t"), &trivy(&[("CVE-1", "HIGH"), ("CVE-2", "LOW")])).await.unwrap();
    assert_eq!((first.delta.created.total, first.delta.created.high), (2, 1), "an import creates everything");
    let second = client.reimport(&upload("p", "t"), &trivy(&[("CVE-2", "LOW"), ("CVE-3", "CRITICAL")])).await.unwrap();
    assert_eq!(second.test_id, first.test_id, "same product, engagement and title: same test");
    let d = &second.delta;
    assert_eq!((d.created.critical, d.closed.high, d.untouched.low), (1, 1, 1), "{d:?}");
    let third = client.reimport(&upload("p", "t"), &trivy(&[("CVE-1", "HIGH"), ("CVE-2", "LOW")])).await.unwrap();
    assert_eq!((third.delta.reactivated.high, third.delta.closed.critical), (1, 1), "{:?}", third.delta);
    let other = client.reimport(&upload("p", "other title"), &trivy(&[("CVE-1", "HIGH")])).await.unwrap();
    assert_ne!(other.test_id, first.test_id, "a different title is a different test");
    assert_eq!(mock.imports().iter().map(|i| i.field("close_old_findings")).collect::<BTreeSet<_>>(), ["true"].into());
    assert_eq!(mock.imports()[0].field("build_id"), "sha256:00");

    mock.push_faults("p", [Fault::Status(500), Fault::TooManyRequests { retry_after_secs: 2 }]);
    let e = client.reimport(&upload("p", "t"), &trivy(&[])).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    let e = client.reimport(&upload("p", "t"), &trivy(&[])).await.unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(2)), "{e}");
    assert!(client.check().await.is_ok());
    let wrong = Client::new(&mock.url(), Token::new("wrong-key-x".into()), Duration::from_secs(10)).unwrap();
    let e = wrong.reimport(&upload("p", "t"), &trivy(&[])).await.unwrap_err();
    assert!(
        matches!(e, DefectDojoError::Rejected { status: 403, .. }) && !e.to_string().contains("wrong-key-x"),
        "{e}"
    );
    mock.set_down(true);
    std::thread::sleep(Duration::from_millis(100));
    let e = client.check().await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
}

#[test]
fn retries_keep_order_per_engagement_and_other_engagements_go_on() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let refs = push(&registry, tmp.path(), &[("team/app0", "v0"), ("team/app0", "v1"), ("team/app1", "v0")]);
    let db = tmp.path().join("strata.db");
    build_db(&bins, &minbase_osv(), &db);
    let mock = MockDefectDojo::start(KEY, HashMode::Default);
    let product0 = format!("{}/team/app0", registry.host());
    mock.push_faults(&product0, [Fault::Status(500), Fault::Status(502), Fault::Status(503)]);
    mock.push_faults(&product0, [Fault::TooManyRequests { retry_after_secs: 2 }]);
    let fleet = dd_fleet(&bins, &db, &mock, &[("STRATA_DEFECTDOJO_CONCURRENCY", "2")]);

    let first = submit_and_wait(&fleet, &refs[..1]);
    // While app0:v0 is still being retried, a later scan of the same engagement and one of another finish.
    let later = submit_and_wait(&fleet, &refs[1..]);
    let ids: Vec<String> = first.into_iter().chain(later).collect();
    for id in &ids {
        let rows = settled(&fleet, id);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["state"], "delivered", "{rows:?}\n{}", fleet.logs());
    }
    let imports = mock.imports();
    let versions: Vec<&str> = imports.iter().map(|i| i.field("version")).collect();
    let digests: Vec<String> = ids.iter().map(|id| digest(&fleet, id)).collect();
    assert_eq!(imports.len(), 3, "each scan delivered exactly once: {versions:?}");
    assert_eq!(versions.iter().copied().collect::<BTreeSet<_>>(), digests.iter().map(String::as_str).collect());
    let of_app0: Vec<&str> =
        imports.iter().filter(|i| i.field("product_name") == product0).map(|i| i.field("version")).collect();
    assert_eq!(of_app0, [digests[0].as_str(), digests[1].as_str()], "in order per engagement");
    let at = |d: &str| imports.iter().find(|i| i.field("version") == d).map(|i| i.at).unwrap();
    assert!(at(&digests[2]) < at(&digests[0]), "another engagement must not wait for a retrying one");
    assert_eq!(fleet.status(&ids[0])["defectdojo"][0]["attempts"], 5);

    let attempts: Vec<_> = mock.attempts().into_iter().filter(|a| a.product == product0).collect();
    let codes: Vec<u16> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(codes, [500, 502, 503, 429, 201, 201]);
    let gap = |i: usize| attempts[i + 1].at - attempts[i].at;
    assert!(gap(2) > gap(0), "backoff must grow: {:?} then {:?}", gap(0), gap(2));
    assert!(gap(3) >= Duration::from_secs(2), "Retry-After: 2 must be honoured, waited {:?}", gap(3));
    let first_import = &imports.iter().find(|i| i.field("version") == digests[0]).unwrap();
    assert!(!first_import.reimport && first_import.field("test_title") == product0);
    assert!(!fleet.logs().contains(KEY), "the API key reached a log");
}

#[test]
fn a_coordinator_killed_during_delivery_loses_nothing_and_sends_each_scan_once() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let images = [("k/app0", "v0"), ("k/app1", "v1"), ("k/app0", "v2"), ("k/app1", "v3")];
    let refs = push(&registry, tmp.path(), &images);
    let db = tmp.path().join("strata.db");
    build_db(&bins, &minbase_osv(), &db);
    let mock = MockDefectDojo::start(KEY, HashMode::Default);
    mock.set_delay(Duration::from_secs(6));
    let mut fleet = dd_fleet(&bins, &db, &mock, &[("STRATA_DEFECTDOJO_CONCURRENCY", "2")]);
    // Night 1 of both repositories; while its uploads are in flight, the second scans of both finish (so
    // each engagement has a defined order: v0 before v2, v1 before v3), and the coordinator is killed.
    let mut ids = submit_and_wait(&fleet, &[refs[0].clone(), refs[1].clone()]);
    wait_until("an upload in flight", Duration::from_secs(60), || mock.in_flight() > 0, || fleet.logs());
    ids.extend(submit_and_wait(&fleet, &[refs[2].clone(), refs[3].clone()]));
    assert!(mock.in_flight() > 0, "the first uploads finished too soon to interrupt");
    fleet.kill_coordinator();
    assert!(mock.imports().is_empty(), "the kill came before any upload was applied");
    // DefectDojo is down for a while, then up again, slow.
    mock.set_down(true);
    fleet.start_coordinator();
    std::thread::sleep(Duration::from_secs(3));
    mock.set_down(false);
    mock.set_delay(Duration::from_millis(500));
    for id in &ids {
        let rows = settled(&fleet, id);
        assert_eq!(rows[0]["state"], "delivered", "{rows:?}\n{}", fleet.logs());
    }
    std::thread::sleep(Duration::from_secs(2));
    let imports = mock.imports();
    let mut sent: BTreeMap<String, usize> = BTreeMap::new();
    for i in &imports {
        *sent.entry(i.field("version").to_string()).or_default() += 1;
    }
    let digests: Vec<String> = ids.iter().map(|id| digest(&fleet, id)).collect();
    assert_eq!(sent, digests.iter().map(|d| (d.clone(), 1)).collect(), "each scan exactly once");
    // ids are [app0:v0, app1:v1, app0:v2, app1:v3].
    for (product, expected) in [("k/app0", [&digests[0], &digests[2]]), ("k/app1", [&digests[1], &digests[3]])] {
        let delivered: Vec<&str> =
            imports.iter().filter(|i| i.field("product_name").ends_with(product)).map(|i| i.field("version")).collect();
        assert_eq!(delivered, expected, "order of {product}");
    }
}

#[test]
fn unchanged_images_are_not_sent_again_or_are_sent_byte_identical() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let refs = push(&registry, tmp.path(), &[("n/app0", "v0"), ("n/app1", "v0")]);
    let db = tmp.path().join("strata.db");
    build_db(&bins, &minbase_osv(), &db);
    let mock = MockDefectDojo::start(KEY, HashMode::Default);
    {
        let fleet = dd_fleet(&bins, &db, &mock, &[]);
        for id in submit_and_wait(&fleet, &refs) {
            assert_eq!(settled(&fleet, &id)[0]["state"], "delivered");
        }
        assert_eq!(mock.imports().len(), 2);
        for id in submit_and_wait(&fleet, &refs) {
            let rows = settled(&fleet, &id);
            assert_eq!(rows[0]["state"], "skipped", "night 2 of an unchanged image: {rows:?}");
        }
        assert_eq!(mock.imports().len(), 2, "nothing is sent the second night");
        let mut cmd = fleet.strata();
        cmd.args(["status", "--all"]);
        let (_, out, _) = run(cmd);
        assert_eq!(out.matches("dd=skipped").count(), 2, "{out}");
        assert_eq!(out.matches("dd=delivered(").count(), 2, "{out}");
        // The metrics tell the same night's story.
        let metrics = fleet.ops_get("coordinator", "/metrics").1;
        let value = |line_start: &str| -> f64 {
            metrics
                .lines()
                .filter(|l| l.starts_with(line_start))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        assert_eq!(value("strata_defectdojo_deliveries_total{outcome=\"delivered\"}"), 2.0, "{metrics}");
        assert_eq!(value("strata_defectdojo_deliveries_total{outcome=\"skipped\"}"), 2.0, "{metrics}");
        let created = value("strata_defectdojo_findings_total{change=\"created\"}");
        let expected: u64 =
            mock.imports().iter().map(|i| i.delta["created"]["total"]["total"].as_u64().unwrap_or(0)).sum();
        assert!(
            created >= 0.0 && (expected == 0 || created > 0.0),
            "created {created}, DefectDojo said {expected}: {metrics}"
        );
    }
    let fleet = dd_fleet(&bins, &db, &mock, &[("STRATA_DEFECTDOJO_SKIP_UNCHANGED", "false")]);
    submit_and_wait(&fleet, &refs);
    wait_until("night 1 without the skip", Duration::from_secs(60), || mock.imports().len() == 4, || fleet.logs());
    submit_and_wait(&fleet, &refs);
    wait_until("night 2 without the skip", Duration::from_secs(60), || mock.imports().len() == 6, || fleet.logs());
    let imports = mock.imports();
    for product in ["n/app0", "n/app1"] {
        let files: Vec<&[u8]> =
            imports.iter().filter(|i| i.field("product_name").ends_with(product)).map(|i| &i.file[..]).collect();
        assert_eq!(files.len(), 3);
        assert!(files.windows(2).all(|w| w[0] == w[1]), "{product}: the files must be byte-identical");
    }
    let last = imports.last().unwrap();
    assert!(last.reimport);
    assert_eq!(last.delta["created"]["total"]["total"], 0, "{}", last.delta);
    assert_eq!(last.delta["closed"]["total"]["total"], 0, "{}", last.delta);
    assert!(last.delta["untouched"]["total"]["total"].as_u64().unwrap() > 0, "{}", last.delta);
}

/// Keeps the records of an OSV `.jsonl.gz`, editing each with `edit`.
fn rewrite_osv(from: &Path, to: &Path, edit: impl Fn(&mut Value)) {
    use std::io::{Read, Write};
    let mut text = String::new();
    strata_testkit::debian::gunzip(std::fs::File::open(from).unwrap()).read_to_string(&mut text).unwrap();
    let mut out = strata_testkit::debian::gzip_writer(std::fs::File::create(to).unwrap());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut v: Value = serde_json::from_str(line).unwrap();
        edit(&mut v);
        writeln!(out, "{v}").unwrap();
    }
}

#[test]
fn a_db_that_only_adds_a_fixed_version_changes_no_finding_hash_under_the_recommended_setting() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let refs = push(&registry, tmp.path(), &[("h/app", "v0")]);
    // Night 1: the openssl advisories are not fixed yet (no "fixed" event). Night 2: the real data.
    let unfixed: PathBuf = tmp.path().join("unfixed.jsonl.gz");
    rewrite_osv(&minbase_osv(), &unfixed, |v| {
        if v["affected"][0]["package"]["name"] == "openssl" {
            for range in v["affected"][0]["ranges"].as_array_mut().into_iter().flatten() {
                if let Some(events) = range["events"].as_array_mut() {
                    events.retain(|e| e.get("fixed").is_none());
                }
            }
        }
    });
    let db = tmp.path().join("strata.db");
    build_db(&bins, &unfixed, &db);
    let mock = MockDefectDojo::start(KEY, HashMode::Recommended);
    let fleet = dd_fleet(&bins, &db, &mock, &[]);
    let ids = submit_and_wait(&fleet, &refs);
    settled(&fleet, &ids[0]);
    let fresh = tmp.path().join("fresh.db");
    build_db(&bins, &minbase_osv(), &fresh);
    std::fs::rename(&fresh, &db).unwrap();
    let mut cmd = fleet.strata();
    cmd.args(["rescan", "--all"]);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    wait_until("the rescan's delivery", Duration::from_secs(60), || mock.imports().len() == 2, || fleet.logs());

    let imports = mock.imports();
    let (before, after) = (&imports[0].file, &imports[1].file);
    assert_ne!(before, after, "the new DB must change the report (FixedVersion)");
    let changed = finding_hashes(before, HashMode::Default) != finding_hashes(after, HashMode::Default);
    assert!(
        changed,
        "under DefectDojo's default hash the fixed version churns findings (else this test proves nothing)"
    );
    assert_eq!(finding_hashes(before, HashMode::Recommended), finding_hashes(after, HashMode::Recommended));
    let delta = &imports[1].delta;
    assert_eq!(delta["created"]["total"]["total"], 0, "{delta}");
    assert_eq!(delta["closed"]["total"]["total"], 0, "{delta}");
    assert!(delta["untouched"]["total"]["total"].as_u64().unwrap() > 0, "{delta}");
    let rows = settled(&fleet, &ids[0]);
    assert_eq!(rows.len(), 2, "the scan and its rescan: {rows:?}");
    assert_eq!(rows[1]["created"]["total"], 0);
}

/// Defect 4 on the real DefectDojo: skipping an unchanged upload must not trust Strata's memory. Night 2
/// is skipped (nothing changed); the test is then deleted in DefectDojo, and night 3 sends the report
/// again, into a new test holding every finding. Also: an over-long product name is parked when the scan
/// finishes, with the limit, and never sent.
#[test]
fn a_test_deleted_in_defectdojo_is_sent_again_the_next_night() {
    let Some(dojo) = RealDefectDojo::get(HashMode::Default) else { return };
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let refs = push(&registry, tmp.path(), &[("night/app", "v0")]);
    let db = tmp.path().join("strata.db");
    build_db(&bins, &minbase_osv(), &db);
    let product = unique("fleet-deleted");
    let template = format!("{product}{{label:suffix}}");
    let fleet = dd_fleet_at(
        &bins,
        &db,
        &dojo.url(),
        &dojo.token(),
        &[("STRATA_DEFECTDOJO_PRODUCT", template.as_str()), ("STRATA_DEFECTDOJO_CHECK_SECS", "1")],
    );
    let night = |fleet: &Fleet| {
        let id = submit_and_wait(fleet, &refs).remove(0);
        settled(fleet, &id).remove(0)
    };
    let first = night(&fleet);
    assert_eq!(first["state"], "delivered", "{first}\n{}", fleet.logs());
    let test_id = first["test_id"].as_i64().unwrap();
    let active = dojo.findings(test_id, true).len();
    assert!(active > 0 && active as u64 == first["created"]["total"].as_u64().unwrap(), "{first}");
    let second = night(&fleet);
    assert_eq!(second["state"], "skipped", "{second}");
    assert_eq!(dojo.delete(&format!("/api/v2/tests/{test_id}/")), 204);
    let third = night(&fleet);
    assert_eq!(third["state"], "delivered", "a deleted test gets the upload again: {third}\n{}", fleet.logs());
    let new_test = third["test_id"].as_i64().unwrap();
    assert_ne!(new_test, test_id);
    assert_eq!(dojo.findings(new_test, true).len(), active);

    // Over DefectDojo's 255 characters: parked at once, nothing sent.
    let long = "x".repeat(300);
    let mut cmd = fleet.strata();
    cmd.args(["submit", "--wait", "--label", &format!("suffix={long}")]).args(&refs);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{out}{err}");
    let id = out.lines().next().unwrap().split('\t').next().unwrap().to_string();
    let parked = settled(&fleet, &id).remove(0);
    assert_eq!(parked["state"], "parked", "{parked}");
    assert_eq!(parked["attempts"], 0, "never sent: {parked}");
    let error = parked["error"].as_str().unwrap();
    assert!(error.contains("product_name") && error.contains("255"), "{error}");
    assert!(dojo.products_named(&format!("{product}{long}")).is_empty());
    // The key check ran (every second here) and found the key good.
    let (_, metrics) = fleet.ops_get("coordinator", "/metrics");
    assert!(metrics.lines().any(|l| l == "strata_defectdojo_api_key_ok 1"), "{metrics}");
}

/// `strata defectdojo resend`: a delivery DefectDojo refused is parked; once the cause is gone, resending
/// the scan queues it again and it is delivered.
#[test]
fn a_parked_delivery_is_delivered_after_resend() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let refs = push(&registry, tmp.path(), &[("resend/app", "v0")]);
    let db = tmp.path().join("strata.db");
    build_db(&bins, &minbase_osv(), &db);
    let mock = MockDefectDojo::start(KEY, HashMode::Default);
    mock.push_faults("", [Fault::Status(400)]);
    let fleet = dd_fleet(&bins, &db, &mock, &[]);
    let id = submit_and_wait(&fleet, &refs).remove(0);
    let parked = settled(&fleet, &id).remove(0);
    assert_eq!(parked["state"], "parked", "{parked}");
    assert!(mock.imports().is_empty());
    let mut cmd = fleet.strata();
    cmd.args(["defectdojo", "resend", &id]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("queued again"), "{out}");
    let delivered = settled(&fleet, &id).remove(0);
    assert_eq!(delivered["state"], "delivered", "{delivered}\n{}", fleet.logs());
    assert_eq!(mock.imports().len(), 1);
    // Nothing parked is left to resend.
    let mut cmd = fleet.strata();
    cmd.args(["defectdojo", "resend", &id]);
    let (code, out, _) = run(cmd);
    assert_eq!(code, 0);
    assert!(out.contains("nothing parked"), "{out}");
}
