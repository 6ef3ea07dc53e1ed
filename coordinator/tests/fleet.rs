//! End to end with the real binaries: a coordinator and worker processes, the machine's RabbitMQ and
//! Redis (own queue and key prefix per test), a real registry, real images sharing real base layers.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bins, findings, run};
use serde_json::Value;
use strata_testkit::debian::{Rootfs, minbase_osv, with_source_version};
use strata_testkit::fleet::{Bins, Fleet};
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

fn build_db(bins: &Bins, dir: &Path, osv: &[PathBuf], name: &str) -> PathBuf {
    let out = dir.join(name);
    let mut cmd = Command::new(&bins.strata);
    cmd.args(["db", "build", "--out"]).arg(&out).arg("--osv").args(osv);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    out
}

/// `count` images on one real bullseye base layer: each adds an app layer of its own, and every third
/// also shares a middle layer (openssl downgraded to a version an earlier DSA shipped), as real fleets do.
fn push_images(registry: &TestRegistry, count: usize, tmp: &Path) -> Vec<String> {
    push_images_with_base(registry, count, tmp).0
}

/// As [`push_images`], also returning the base layer's digest.
fn push_images_with_base(registry: &TestRegistry, count: usize, tmp: &Path) -> (Vec<String>, String) {
    let rootfs = Rootfs::bullseye();
    let aged = with_source_version(&rootfs.status, "openssl", "1.1.1k-1+deb11u1");
    let shared_middle = TarBuilder::new().file("var/lib/dpkg/status", aged.as_bytes()).build();
    let layout = tmp.join("layout");
    let mut references = Vec::new();
    let mut base = String::new();
    for i in 0..count {
        let mut image = ImageBuilder::new().layer(
            LayerContent::TarFile(rootfs.tar.clone()),
            Compression::Gzip,
            "ADD bullseye-minbase /",
        );
        if i % 3 == 0 {
            image = image.layer(
                LayerContent::Bytes(shared_middle.clone()),
                Compression::Gzip,
                "RUN apt-get install --allow-downgrades libssl1.1=1.1.1k-1+deb11u1",
            );
        }
        let app = TarBuilder::new().file(&format!("srv/app-{i}/VERSION"), format!("{i}\n").as_bytes()).build();
        image = image.layer(LayerContent::Bytes(app), Compression::Gzip, &format!("COPY app-{i} /srv/"));
        let tag = format!("v{i}");
        base = image.write_layout(&layout, &tag).layer_digests[0].clone();
        registry.push(&layout, &tag, &format!("fleet/app{}:{tag}", i % 4), &[]);
        references.push(format!("{}/fleet/app{}:{tag}", registry.host(), i % 4));
    }
    (references, base)
}

fn submit_and_wait(fleet: &Fleet, references: &[String]) -> Vec<(String, String)> {
    let mut cmd = fleet.strata();
    cmd.args(["submit", "--wait"]).args(references);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "submit --wait: {out}\n{err}\n{}", fleet.logs());
    out.lines()
        .map(|l| {
            let mut parts = l.split('\t');
            (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string())
        })
        .collect()
}

fn fleet_report(fleet: &Fleet, id: &str) -> Value {
    let mut cmd = fleet.strata();
    cmd.args(["results", id, "--format", "json"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("report json")
}

fn local_report(bins: &Bins, reference: &str, db: &Path) -> Value {
    let mut cmd = Command::new(&bins.strata);
    cmd.args(["image", reference, "--format", "json", "--quiet", "--db"]).arg(db);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("report json")
}

#[test]
fn twenty_images_share_layers_each_analysed_once_and_match_local_mode() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let references = push_images(&registry, 20, tmp.path());
    let db = build_db(&bins, tmp.path(), &[minbase_osv()], "strata.db");
    let fleet = Fleet::start(bins.clone(), &db, 2, &[]);

    let scans = submit_and_wait(&fleet, &references);
    assert_eq!(scans.len(), 20);
    let analyses = fleet.analyses();
    // 1 base + 1 shared middle + 20 app layers, each analysed exactly once although submitted concurrently.
    assert_eq!(analyses.len(), 22, "{analyses:?}");
    assert!(analyses.values().all(|n| *n == 1), "a layer was analysed twice: {analyses:?}");

    for (id, reference) in &scans {
        let fleet_json = fleet_report(&fleet, id);
        let local_json = local_report(&bins, reference, &db);
        assert_eq!(fleet_json, local_json, "fleet vs local report for {reference}");
    }
    let vulnerable = scans.iter().filter(|(id, _)| !findings(&fleet_report(&fleet, id)).is_empty()).count();
    assert_eq!(vulnerable, 7, "images 0, 3, …, 18 carry the downgraded openssl");

    // A second night of the same images: nothing is analysed again.
    let again = submit_and_wait(&fleet, &references);
    assert_eq!(again.len(), 20);
    assert_eq!(fleet.analyses(), analyses, "unchanged images must not be re-analysed");
}

#[test]
fn rescan_after_a_db_change_rematches_without_layer_work() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let references = push_images(&registry, 1, tmp.path());
    // Night 1: the DB lacks DSA-5343-1 (a real advisory for the image's openssl).
    let full = minbase_osv();
    let without = tmp.path().join("without.jsonl.gz");
    filter_osv(&full, &without, |id| id != "DSA-5343-1");
    let db = build_db(&bins, tmp.path(), &[without], "strata.db");
    let fleet = Fleet::start(bins.clone(), &db, 1, &[]);
    let scans = submit_and_wait(&fleet, &references);
    let before = findings(&fleet_report(&fleet, &scans[0].0));
    assert!(!before.iter().any(|f| f.starts_with("DSA-5343-1")));
    let analyses = fleet.analyses();

    // The DB is replaced in place (as `strata db update` does): the rescan picks it up.
    let fresh = build_db(&bins, tmp.path(), &[full], "fresh.db");
    std::fs::rename(&fresh, &db).unwrap();
    let mut cmd = fleet.strata();
    cmd.args(["rescan", "--all", "--json"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let results: Value = serde_json::from_str(&out).unwrap();
    let new: Vec<&str> = results[0]["new"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(new.iter().any(|f| f.starts_with("DSA-5343-1 libssl1.1@")), "{new:?}");
    assert!(results[0]["fixed"].as_array().unwrap().is_empty());
    let after = findings(&fleet_report(&fleet, &scans[0].0));
    assert_eq!(after.len(), before.len() + new.len());
    assert_eq!(fleet.analyses(), analyses, "a rescan runs no layer job");
}

/// Keeps the records of a `.jsonl.gz` whose id passes `keep`.
fn filter_osv(from: &Path, to: &Path, keep: impl Fn(&str) -> bool) {
    use std::io::{Read, Write};
    let mut text = String::new();
    let file = std::fs::File::open(from).unwrap();
    flate2_read(file).read_to_string(&mut text).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            keep(v["id"].as_str().unwrap())
        })
        .collect();
    let mut out = flate2_write(std::fs::File::create(to).unwrap());
    out.write_all((kept.join("\n") + "\n").as_bytes()).unwrap();
}

fn flate2_read(file: std::fs::File) -> impl std::io::Read {
    strata_testkit::debian::gunzip(file)
}

fn flate2_write(file: std::fs::File) -> impl std::io::Write {
    strata_testkit::debian::gzip_writer(file)
}

#[test]
fn a_worker_killed_mid_layer_loses_nothing() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let (references, base) = push_images_with_base(&registry, 1, tmp.path());
    // Serve blobs at 4 MB/s so the 40 MB base layer takes ~10 s: time to kill the worker in the middle.
    let proxy = strata_testkit::proxy::SlowProxy::start(registry.port, 4_000_000);
    let slow: Vec<String> =
        references.iter().map(|r| r.replace(&registry.host(), &format!("127.0.0.1:{}", proxy.port))).collect();
    let db = build_db(&bins, tmp.path(), &[minbase_osv()], "strata.db");
    let mut fleet = Fleet::start(bins.clone(), &db, 1, &[]);
    let mut submit = fleet.strata();
    submit.args(["submit"]).args(&slow);
    let (code, out, err) = run(submit);
    assert_eq!(code, 0, "{err}");
    let id = out.split('\t').next().unwrap().to_string();
    // Wait until the worker is inside the base layer (the scan is analysing, nothing cached yet).
    wait_for(&fleet, &id, |scan| scan["status"] == "analyzing");
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(!fleet.analyses().contains_key(&base), "the base layer finished too fast to interrupt");
    fleet.kill_worker(0);
    fleet.add_worker();
    let done = wait_for(&fleet, &id, |scan| {
        scan["status"] != "analyzing"
            && scan["status"] != "resolving"
            && scan["status"] != "queued"
            && scan["status"] != "matching"
    });
    assert_eq!(done["status"], "done", "{done}\n{}", fleet.logs());
    let local = local_report(&bins, &references[0], &db);
    assert_eq!(findings(&fleet_report(&fleet, &id)), findings(&local));
    assert_eq!(fleet.analyses().get(&base), Some(&1), "the interrupted layer is analysed once to completion");
}

#[test]
fn coordinator_restart_resumes_every_scan() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let references = push_images(&registry, 6, tmp.path());
    let db = build_db(&bins, tmp.path(), &[minbase_osv()], "strata.db");
    let mut fleet = Fleet::start(bins.clone(), &db, 2, &[]);
    let mut submit = fleet.strata();
    submit.arg("submit").args(&references);
    let (code, out, err) = run(submit);
    assert_eq!(code, 0, "{err}");
    let ids: Vec<String> = out.lines().map(|l| l.split('\t').next().unwrap().to_string()).collect();
    fleet.kill_coordinator();
    fleet.start_coordinator();
    for id in &ids {
        let done = wait_for(&fleet, id, |scan| scan["status"] == "done" || scan["status"] == "failed");
        assert_eq!(done["status"], "done", "{done}\n{}", fleet.logs());
    }
}

#[test]
fn a_corrupt_blob_is_dead_lettered_and_other_scans_complete() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let good = push_images(&registry, 2, tmp.path());
    // A layer whose bytes are corrupt gzip: the registry stores it (its digest is right), the engine refuses it.
    let mut corrupt = vec![0x1f, 0x8b, 0x08, 0x00];
    corrupt.extend(std::iter::repeat_n(0xAAu8, 4096));
    let layout = tmp.path().join("bad");
    ImageBuilder::new()
        .layer(LayerContent::Bytes(corrupt), Compression::None, "RUN corrupt")
        .write_layout(&layout, "bad");
    registry.push(&layout, "bad", "fleet/bad:1", &[]);
    let bad = format!("{}/fleet/bad:1", registry.host());
    let db = build_db(&bins, tmp.path(), &[minbase_osv()], "strata.db");
    let fleet = Fleet::start(bins.clone(), &db, 2, &[("STRATA_MAX_ATTEMPTS", "2"), ("STRATA_RETRY_BACKOFF_MS", "100")]);
    let mut submit = fleet.strata();
    submit.args(["submit", "--wait"]).args(&good).arg(&bad);
    let (code, out, _) = run(submit);
    assert_eq!(code, 2, "one scan failed: {out}");
    let lines: BTreeMap<&str, &str> = out.lines().map(|l| (l.split('\t').nth(1).unwrap(), l)).collect();
    assert!(lines[bad.as_str()].contains("\tfailed\t") && lines[bad.as_str()].contains("corrupt"), "{out}");
    for reference in &good {
        assert!(lines[reference.as_str()].contains("\tdone\t"), "{out}");
    }
    let dlq = Command::new("rabbitmqctl").args(["-q", "list_queues", "name", "messages"]).output().unwrap();
    let dlq = String::from_utf8_lossy(&dlq.stdout).into_owned();
    let line = dlq.lines().find(|l| l.starts_with(&format!("{}.dlq", fleet.queue))).unwrap_or_default().to_string();
    assert!(line.ends_with("\t1") || line.ends_with(" 1"), "dead-letter queue: {line:?}\n{dlq}");
}

/// Polls `strata status ID --json` until `until` holds (at most 120 s).
fn wait_for(fleet: &Fleet, id: &str, until: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let mut cmd = fleet.strata();
        cmd.args(["status", id, "--json"]);
        let (code, out, _) = run(cmd);
        if code == 0
            && let Ok(Value::Array(rows)) = serde_json::from_str::<Value>(&out)
            && let Some(scan) = rows.first()
            && until(scan)
        {
            return scan.clone();
        }
        assert!(std::time::Instant::now() < deadline, "scan {id} did not get there: {out}\n{}", fleet.logs());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn registry_credentials_stay_out_of_logs_and_sigterm_finishes_the_job() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let password = format!("s3cret-{}", std::process::id());
    let registry = TestRegistry::start_with_auth("fleet", &password);
    let layout = tmp.path().join("layout");
    let rootfs = Rootfs::bullseye();
    ImageBuilder::new()
        .layer(LayerContent::TarFile(rootfs.tar.clone()), Compression::Gzip, "ADD bullseye-minbase /")
        .write_layout(&layout, "1");
    registry.push(&layout, "1", "private/app:1", &["--dest-creds", &format!("fleet:{password}")]);
    // Behind a slow link, so the worker is mid-layer when it is told to stop.
    let proxy = strata_testkit::proxy::SlowProxy::start(registry.port, 8_000_000);
    let reference = format!("127.0.0.1:{}/private/app:1", proxy.port);
    let db = build_db(&bins, tmp.path(), &[minbase_osv()], "strata.db");
    let host = format!("127.0.0.1:{}", proxy.port);
    let env = [
        ("STRATA_REGISTRY_USERNAME", "fleet"),
        ("STRATA_REGISTRY_PASSWORD", password.as_str()),
        ("STRATA_REGISTRY_HOST", host.as_str()),
        ("RUST_LOG", "debug"),
    ];
    let mut fleet = Fleet::start(bins.clone(), &db, 1, &env);
    let mut submit = fleet.strata();
    submit.args(["submit", &reference]);
    let (code, out, err) = run(submit);
    assert_eq!(code, 0, "{err}");
    let id = out.split('\t').next().unwrap().to_string();
    wait_for(&fleet, &id, |scan| scan["status"] == "analyzing");
    std::thread::sleep(std::time::Duration::from_secs(1));
    // SIGTERM: the worker stops taking jobs, finishes the one in flight, and exits cleanly.
    let status = fleet.terminate_worker(0, std::time::Duration::from_secs(60));
    assert_eq!(status.map(|s| s.success()), Some(true), "worker exit: {status:?}\n{}", fleet.logs());
    fleet.add_worker();
    let done = wait_for(&fleet, &id, |scan| scan["status"] == "done" || scan["status"] == "failed");
    assert_eq!(done["status"], "done", "{done}\n{}", fleet.logs());
    assert_eq!(fleet.analyses().values().sum::<u64>(), 1, "the job finished before the exit, so it ran once");
    let logs = fleet.logs();
    assert!(logs.contains("DEBUG") || logs.contains("INFO"), "debug logging was on");
    assert!(!logs.contains(&password), "the registry password reached a log:\n{logs}");
}

#[test]
fn cancelled_scans_stop_and_watch_streams_progress() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let references = push_images(&registry, 2, tmp.path());
    let proxy = strata_testkit::proxy::SlowProxy::start(registry.port, 2_000_000);
    let slow: Vec<String> =
        references.iter().map(|r| r.replace(&registry.host(), &format!("127.0.0.1:{}", proxy.port))).collect();
    let db = build_db(&bins, tmp.path(), &[minbase_osv()], "strata.db");
    let fleet = Fleet::start(bins.clone(), &db, 1, &[]);
    let mut watch = fleet.strata();
    watch.arg("watch").stdout(std::process::Stdio::piped());
    let mut watcher = watch.spawn().unwrap();
    let mut submit = fleet.strata();
    submit.arg("submit").args(&slow);
    let (code, out, err) = run(submit);
    assert_eq!(code, 0, "{err}");
    let ids: Vec<String> = out.lines().map(|l| l.split('\t').next().unwrap().to_string()).collect();
    wait_for(&fleet, &ids[0], |scan| scan["status"] == "analyzing");
    let mut cancel_cmd = fleet.strata();
    cancel_cmd.args(["cancel", &ids[0]]);
    let (code, out, err) = run(cancel_cmd);
    assert_eq!(code, 0, "{out}{err}");
    let cancelled = wait_for(&fleet, &ids[0], |scan| scan["status"] == "cancelled");
    assert_eq!(cancelled["status"], "cancelled");
    // The other scan is unaffected (it waits on the same base layer, which keeps being analysed).
    let other = wait_for(&fleet, &ids[1], |scan| scan["status"] == "done" || scan["status"] == "failed");
    assert_eq!(other["status"], "done", "{other}\n{}", fleet.logs());
    let still = wait_for(&fleet, &ids[0], |_| true);
    assert_eq!(still["status"], "cancelled", "a cancelled scan stays cancelled");
    let _ = watcher.kill();
    let output = watcher.wait_with_output().unwrap();
    let events = String::from_utf8_lossy(&output.stdout);
    for id in &ids {
        assert!(events.lines().any(|l| l.starts_with(id.as_str()) && l.contains("\tanalyzing\t")), "{events}");
    }
    assert!(events.lines().any(|l| l.starts_with(ids[1].as_str()) && l.contains("\tdone\t")), "{events}");
    assert!(events.lines().any(|l| l.starts_with(ids[0].as_str()) && l.contains("\tcancelled\t")), "{events}");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl CLI.
fn make_pki(dir: &Path) {
    let sh = |script: &str| {
        let status = Command::new("sh").arg("-ec").arg(script).current_dir(dir).output().unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    };
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=strata-test-ca");
    sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 && \
        printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && \
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext");
    sh("openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=strata-cli && \
        printf 'extendedKeyUsage=clientAuth\n' > client.ext && \
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 -extfile client.ext");
}

#[test]
fn mutual_tls_and_the_bearer_token_guard_the_api() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    make_pki(&pki);
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, "t0ken-for-tests\n").unwrap();
    let registry = TestRegistry::start();
    let references = push_images(&registry, 1, tmp.path());
    let db = build_db(&bins, tmp.path(), &[minbase_osv()], "strata.db");
    let path = |f: &str| pki.join(f).to_string_lossy().into_owned();
    let env = [
        ("STRATA_TLS_CERT", path("server.pem")),
        ("STRATA_TLS_KEY", path("server.key")),
        ("STRATA_TLS_CLIENT_CA", path("ca.pem")),
        ("STRATA_TOKEN_FILE", token_file.to_string_lossy().into_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let fleet = Fleet::start(bins.clone(), &db, 1, &env);
    assert!(fleet.url().starts_with("https://"));
    let submit = |extra: &[(&str, String)]| {
        let mut cmd = fleet.strata();
        cmd.args(["submit", "--wait"]).args(&references);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        run(cmd)
    };
    let ca = ("STRATA_TLS_CA", path("ca.pem"));
    let cert = ("STRATA_TLS_CLIENT_CERT", path("client.pem"));
    let key = ("STRATA_TLS_CLIENT_KEY", path("client.key"));
    let token = ("STRATA_TOKEN", "t0ken-for-tests".to_string());

    let (code, _, err) = submit(std::slice::from_ref(&token));
    assert_ne!(code, 0, "no CA: the server certificate must not be trusted");
    assert!(err.contains("coordinator"), "{err}");
    let (code, _, _) = submit(&[ca.clone(), token.clone()]);
    assert_ne!(code, 0, "no client certificate: mutual TLS must refuse");
    let (code, _, err) = submit(&[ca.clone(), cert.clone(), key.clone()]);
    assert_ne!(code, 0, "no token");
    assert!(err.contains("missing bearer token"), "{err}");
    let (code, _, err) = submit(&[ca.clone(), cert.clone(), key.clone(), ("STRATA_TOKEN", "wrong".into())]);
    assert_ne!(code, 0);
    assert!(err.contains("invalid bearer token") && !err.contains("t0ken-for-tests"), "{err}");
    let (code, out, err) = submit(&[ca, cert, key, token]);
    assert_eq!(code, 0, "{out}{err}\n{}", fleet.logs());
    assert!(out.contains("\tdone\t"), "{out}");
}

/// Prometheus text format: the value of a counter or gauge line (0 when absent).
fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn metrics_move_with_a_scan_and_readiness_follows_the_backends() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let references = push_images(&registry, 2, tmp.path());
    let db = build_db(&bins, tmp.path(), &[minbase_osv()], "strata.db");
    let fleet = Fleet::start(bins.clone(), &db, 1, &[]);
    for process in ["coordinator", "worker-0"] {
        let (status, body) = fleet.ops_get(process, "/healthz");
        assert_eq!(status, 200, "{process}: {body}");
        let (status, body) = fleet.ops_get(process, "/readyz");
        assert_eq!(status, 200, "{process}: {body}");
    }
    let before_c = fleet.ops_get("coordinator", "/metrics").1;
    let before_w = fleet.ops_get("worker-0", "/metrics").1;
    submit_and_wait(&fleet, &references);
    let after_c = fleet.ops_get("coordinator", "/metrics").1;
    let after_w = fleet.ops_get("worker-0", "/metrics").1;
    let moved = |before: &str, after: &str, name: &str| metric(after, name) - metric(before, name);
    assert_eq!(moved(&before_c, &after_c, "strata_scans_submitted_total"), 2.0, "{after_c}");
    assert_eq!(moved(&before_c, &after_c, "strata_scans_completed_total"), 2.0, "{after_c}");
    // Two images share the base layer: one of them queued it, the other waited or hit the cache.
    let queued = moved(&before_c, &after_c, "strata_layer_jobs_queued_total");
    let saved = moved(&before_c, &after_c, "strata_single_flight_waits_total")
        + moved(&before_c, &after_c, "strata_layer_cache_hits_total");
    assert_eq!(queued + saved, 5.0, "3 + 2 layers: {after_c}");
    assert!(saved >= 1.0, "the shared base was not queued twice: {after_c}");
    assert_eq!(moved(&before_w, &after_w, "strata_layers_analysed_total"), queued, "{after_w}");
    assert!(after_w.contains("strata_layer_analysis_seconds"), "{after_w}");
}

#[test]
fn a_toml_config_file_configures_the_coordinator() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db(&bins, tmp.path(), &[minbase_osv()], "strata.db");
    let port = strata_testkit::registry::free_port();
    let ops = strata_testkit::registry::free_port();
    let config = tmp.path().join("coordinator.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndb = \"{}\"\nkey_prefix = \"strata-test:toml-{port}\"\nqueue = \"strata-test.toml-{port}\"\nops_listen = \"127.0.0.1:{ops}\"\n",
            db.display()
        ),
    )
    .unwrap();
    let mut child =
        Command::new(&bins.coordinator).arg("--config").arg(&config).env("RUST_LOG", "warn").spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut ready = None;
    while std::time::Instant::now() < deadline {
        if let Ok(got) = strata_testkit::registry::http_get(ops, "/readyz") {
            ready = Some(got);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let grpc_up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    let _ = Command::new("rabbitmqctl").args(["-q", "delete_queue", &format!("strata-test.toml-{port}")]).output();
    let _ = Command::new("rabbitmqctl").args(["-q", "delete_queue", &format!("strata-test.toml-{port}.dlq")]).output();
    assert_eq!(ready.map(|r| r.0), Some(200), "the ops endpoint from the file answers");
    assert!(grpc_up, "the gRPC address from the file listens");
}
