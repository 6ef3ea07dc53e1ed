//! The scheduled DB refresh on real components: two coordinator processes (each with its own DB file, as
//! replicas on separate nodes) refresh every 2 s from a test-owned OSV mirror or from a test-owned
//! docker-registry holding DB artifacts published with `strata db push`. Both converge on every new DB's
//! content digest (in `/metrics` and in the reports of scans through each); a cut-short DB, an older DB and a corrupt artifact are refused with a WARN saying why,
//! and the current DB is kept.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;
use strata_scanner::vulndb::VulnDb;
use strata_testkit::debian::minbase_osv;
use strata_testkit::fleet::Fleet;
use strata_testkit::osv_mirror::{OsvMirror, all_zip, records};
use strata_testkit::registry::TestRegistry;

const REPLICAS: [&str; 2] = ["coordinator", "coordinator-1"];

/// The committed Debian records, each `modified` at `date`, the first `count` of them.
fn advisories(date: &str, count: usize) -> Vec<Value> {
    let mut all = records(&minbase_osv());
    all.truncate(count);
    for record in &mut all {
        record["modified"] = Value::String(date.into());
    }
    all
}

fn full() -> usize {
    records(&minbase_osv()).len()
}

/// A DB file of `records` (built by `strata db build`): its path and content digest.
fn db_file(dir: &Path, name: &str, records: &[Value]) -> (PathBuf, String) {
    let osv = dir.join(format!("{name}.json.d"));
    std::fs::create_dir_all(&osv).unwrap();
    for record in records {
        std::fs::write(osv.join(format!("{}.json", record["id"].as_str().unwrap())), record.to_string()).unwrap();
    }
    let path = bins().build_db(dir, &[osv], &format!("{name}.db"));
    let digest = VulnDb::load(&path).unwrap().header().content_digest.clone();
    (path, digest)
}

/// `strata db push REF --db FILE`.
fn push(reference: &str, db: &Path) -> String {
    let mut cmd = Command::new(&bins().strata);
    cmd.args(["db", "push", reference, "--db"]).arg(db);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "strata db push: {err}");
    assert!(out.contains(&format!("pushed:         {reference}@sha256:")), "{out}");
    out
}

/// The content digest each replica's `/metrics` says is in use (`strata_db_info{content_digest}` 1).
fn digests(fleet: &Fleet) -> Vec<String> {
    REPLICAS
        .iter()
        .map(|name| {
            let body = fleet.ops_get(name, "/metrics").1;
            body.lines()
                .find(|l| l.starts_with("strata_db_info{") && l.ends_with(" 1"))
                .and_then(|l| l.split('"').nth(1))
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn converge(fleet: &Fleet, digest: &str, what: &str) {
    eventually(60, what, fleet, || digests(fleet).iter().all(|d| d == digest).then_some(()));
}

/// Waits until every replica logged a refusal containing `reason`, then checks both still use `kept`.
fn refused(fleet: &Fleet, reason: &str, kept: &str) {
    eventually(60, &format!("both replicas refuse ({reason})"), fleet, || {
        let all = REPLICAS.iter().all(|name| {
            let log = fleet.log_text(&format!("{name}.log"));
            log.lines().any(|l| l.contains("WARN") && l.contains("refused") && l.contains(reason))
        });
        all.then_some(())
    });
    assert_eq!(digests(fleet), [kept, kept], "a refused DB replaced the current one");
    for name in REPLICAS {
        let body = fleet.ops_get(name, "/metrics").1;
        assert!(metric(&body, "strata_db_refresh_total", &["result=\"refused\""]) >= 1.0, "{name}: {body}");
    }
}

/// Two coordinators (the second's gRPC port returned) and no worker.
fn start_replicas(dir: &Path, env: &[(&str, &str)]) -> (Fleet, u16) {
    // No DB file yet: each replica fetches its first DB from the source before it serves.
    let mut fleet = Fleet::start(bins(), &dir.join("a/strata.db"), 0, env);
    let replica = fleet.add_coordinator_with_db(&dir.join("b/strata.db"));
    (fleet, replica)
}

/// Scans `reference` through the coordinator on `port`: the report's `db.content_digest`.
fn report_digest(fleet: &Fleet, port: u16, reference: &str) -> String {
    let coordinator = format!("http://127.0.0.1:{port}");
    let env = [("STRATA_COORDINATOR", coordinator.as_str())];
    let mut cmd = fleet.strata();
    cmd.envs(env).args(["submit", "--wait", reference]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "submit: {out}\n{err}\n{}", fleet.logs());
    let id = out.split('\t').next().unwrap().to_string();
    fleet_report(fleet, &id, &env)["db"]["content_digest"].as_str().unwrap().to_string()
}

#[test]
fn replicas_converge_on_the_oci_artifact_and_refuse_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let reference = format!("{}/strata/vulndb:latest", registry.host());
    for sub in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }

    let (v1, v1_digest) = db_file(dir.path(), "v1", &advisories("2025-01-01T00:00:00Z", full()));
    push(&reference, &v1);
    let source = format!("oci://{reference}");
    // The test DBs' newest advisory is from 2025: stale by a week's threshold.
    let env = [("STRATA_DB_SOURCE", source.as_str()), ("STRATA_DB_REFRESH", "2s"), ("STRATA_DB_MAX_AGE", "7d")];
    let (mut fleet, replica) = start_replicas(dir.path(), &env);
    converge(&fleet, &v1_digest, "both replicas start on the published DB");
    let (status, body) = fleet.ops_get("coordinator", "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("the vulnerability DB is stale") && body.contains("STRATA_DB_MAX_AGE"), "{body}");
    let age = coordinator_metric(&fleet, "strata_db_age_seconds", &[]);
    assert!(age > 300.0 * 86_400.0, "strata_db_age_seconds {age}");
    assert_eq!(coordinator_metric(&fleet, "strata_db_advisories", &[]), full() as f64);

    let (v2, v2_digest) = db_file(dir.path(), "v2", &advisories("2025-06-01T00:00:00Z", full()));
    assert_ne!(v1_digest, v2_digest);
    push(&reference, &v2);
    converge(&fleet, &v2_digest, "both replicas pick up the new DB");
    assert_eq!(VulnDb::load(&dir.path().join("b/strata.db")).unwrap().header().content_digest, v2_digest);
    // Every report carries the digest: a scan through each replica was matched against the new DB.
    fleet.add_worker();
    let layout = tempfile::tempdir().unwrap();
    small_image(layout.path(), "v1", "db-refresh");
    registry.push(layout.path(), "v1", "app/scanned:1", &[]);
    let image = format!("{}/app/scanned:1", registry.host());
    for port in [fleet.port, replica] {
        assert_eq!(report_digest(&fleet, port, &image), v2_digest, "the report of a scan on port {port}");
    }

    let (cut, _) = db_file(dir.path(), "cut", &advisories("2025-07-01T00:00:00Z", 2));
    let pushed = push(&reference, &cut);
    refused(&fleet, "fewer than 90% of the current DB's", &v2_digest);
    // While the tag names the refused artifact, it is refused again without being downloaded again.
    let manifest = pushed.split('@').nth(1).and_then(|s| s.split_whitespace().next()).unwrap().to_string();
    eventually(60, "the refused artifact is refused again", &fleet, || {
        REPLICAS
            .iter()
            .all(|name| fleet.log_text(&format!("{name}.log")).contains("not downloaded again"))
            .then_some(())
    });
    for name in REPLICAS {
        let log = fleet.log_text(&format!("{name}.log"));
        let downloads = log.lines().filter(|l| l.contains("downloaded a DB artifact") && l.contains(&manifest));
        assert_eq!(downloads.count(), 1, "{name} downloaded the refused artifact again:\n{log}");
    }

    let (older, _) = db_file(dir.path(), "older", &advisories("2024-01-01T00:00:00Z", full()));
    push(&reference, &older);
    refused(&fleet, "older than the current DB's (2025-06-01T00:00:00Z)", &v2_digest);

    // A file cut in half, published past `strata db push` (which refuses to publish it): the artifact's
    // digest is right, its DB is not.
    let mut bytes = std::fs::read(&v2).unwrap();
    bytes.truncate(bytes.len() / 2);
    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, &bytes).unwrap();
    let mut cmd = Command::new(&bins().strata);
    cmd.args(["db", "push", &reference, "--db"]).arg(&corrupt);
    let (code, _, err) = run(cmd);
    assert_ne!(code, 0, "strata db push published a corrupt DB");
    assert!(err.contains("DB"), "{err}");
    publish_raw(&registry, "strata/vulndb", &bytes, serde_json::json!({}));
    refused(&fleet, "is not a usable DB: database error: DB body is corrupt", &v2_digest);

    // A valid, newer DB whose annotation names other data: not what was published.
    let (v3, _) = db_file(dir.path(), "v3", &advisories("2025-08-01T00:00:00Z", full()));
    let claimed = serde_json::json!({"dev.strata.vulndb.content-digest": "0".repeat(64)});
    publish_raw(&registry, "strata/vulndb", &std::fs::read(&v3).unwrap(), claimed);
    refused(&fleet, "its annotation names", &v2_digest);
}

/// Publishes `file` as a DB artifact with plain registry requests (no checks), as a broken publisher would.
fn publish_raw(registry: &TestRegistry, repository: &str, file: &[u8], annotations: Value) {
    let config = registry.upload_blob(repository, b"{}");
    let blob = registry.upload_blob(repository, file);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.strata.vulndb.v1",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.strata.vulndb.file.v1", "digest": blob, "size": file.len()}],
        "annotations": annotations,
    });
    let response = registry.http(
        "PUT",
        &format!("/v2/{repository}/manifests/latest"),
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        manifest.to_string().as_bytes(),
    );
    assert_eq!(response.status, 201, "{}", response.text());
}

#[test]
fn replicas_converge_on_the_osv_mirror_and_refuse_a_cut_short_export() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let mirror = OsvMirror::start();
    let first = advisories("2025-01-01T00:00:00Z", full());
    mirror.set("Debian", all_zip(&first));
    let (_, v1_digest) = db_file(dir.path(), "v1", &first);
    let source = mirror.url();
    let env = [
        ("STRATA_DB_SOURCE", source.as_str()),
        ("STRATA_DB_ECOSYSTEMS", "Debian"),
        ("STRATA_DB_REFRESH", "2s"),
        ("STRATA_DB_MAX_AGE", "36500d"),
    ];
    // The second replica finds a file it cannot use (a torn write on a persistent volume, say): it fetches
    // a new one as if there were none, instead of refusing to start.
    std::fs::write(dir.path().join("b/strata.db"), b"not a vulnerability DB").unwrap();
    let (mut fleet, _) = start_replicas(dir.path(), &env);
    converge(&fleet, &v1_digest, "both replicas build the mirror's DB");
    assert!(fleet.logs().contains("the vulnerability DB file cannot be used; fetching a new one"), "{}", fleet.logs());
    assert_eq!(fleet.ops_get("coordinator-1", "/readyz"), (200, "ready\n".to_string()));

    let second = advisories("2025-06-01T00:00:00Z", full());
    mirror.set("Debian", all_zip(&second));
    let (_, v2_digest) = db_file(dir.path(), "v2", &second);
    converge(&fleet, &v2_digest, "both replicas pick up the mirror's new export");

    mirror.set("Debian", all_zip(&advisories("2025-07-01T00:00:00Z", 3)));
    refused(&fleet, "fewer than 90% of the current DB's", &v2_digest);
    assert!(mirror.requests().iter().all(|p| p == "/Debian/all.zip"), "{:?}", mirror.requests());

    // The refresh task stops with the coordinator. A hang guard, not a timing assertion.
    let status = fleet.terminate_coordinator(std::time::Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "exit status {status:?} after SIGTERM\n{}", fleet.logs());
}
