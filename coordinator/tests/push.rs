//! Scan on push end to end: a real Debian `docker-registry` posting its notifications to the real
//! coordinator binary's HTTP listener, real workers, the machine's RabbitMQ and Redis, images pushed with
//! skopeo.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use strata_testkit::fleet::Fleet;
use strata_testkit::registry::{TestRegistry, free_port};

fn secret() -> String {
    format!("push-secret-{}-{}", std::process::id(), free_port())
}

/// What a test gets: its temporary directory, the notification secret, and a fleet with scan on push on
/// (the secret in a file, as in production), one worker and a DB of real advisories.
struct Setup {
    tmp: tempfile::TempDir,
    secret: String,
    fleet: Fleet,
}

fn setup(extra: &[(&str, &str)]) -> Setup {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db(&bins, tmp.path());
    let secret = secret();
    let token = tmp.path().join("notify-token");
    std::fs::write(&token, format!("{secret}\n")).unwrap();
    let token = token.to_string_lossy().into_owned();
    // Scan on push needs the registry's address from configuration; tests whose registry starts after the
    // fleet (it needs the fleet's URL) restart the coordinator with the real one (`serve_registry`).
    let mut env = vec![
        ("STRATA_NOTIFY_TOKEN_FILE", token.as_str()),
        ("STRATA_NOTIFY_REGISTRY", "127.0.0.1:9"),
        ("RUST_LOG", "debug"),
    ];
    env.extend_from_slice(extra);
    let fleet = Fleet::start(bins, &db, 1, &env);
    Setup { tmp, secret, fleet }
}

/// Points scan on push at `registry` (the coordinator restarts on the same ports).
fn serve_registry(fleet: &mut Fleet, registry: &TestRegistry) {
    fleet.env.retain(|(k, _)| k != "STRATA_NOTIFY_REGISTRY");
    fleet.env.push(("STRATA_NOTIFY_REGISTRY".into(), registry.host()));
    fleet.kill_coordinator();
    fleet.start_coordinator();
}

fn events_url(fleet: &Fleet) -> String {
    format!("{}/v1/registry/events", fleet.http_url())
}

fn push_scans(fleet: &Fleet) -> Vec<Value> {
    scans(fleet, &[]).into_iter().filter(|s| s["labels"]["trigger"] == "push").collect()
}

fn finished(scan: &Value) -> bool {
    ["done", "failed", "cancelled", "partial"].iter().any(|s| scan["status"] == *s)
}

/// Waits for the coordinator's counter `name` (with labels containing `with`) to reach `at_least`.
fn counter_reaches(fleet: &Fleet, name: &str, with: &[&str], at_least: f64) {
    eventually(60, &format!("{name} {with:?} >= {at_least}"), fleet, || {
        (coordinator_metric(fleet, name, with) >= at_least).then_some(())
    });
}

/// A registry envelope as distribution sends it, for `(repository, digest, tag)` manifest pushes.
fn envelope(host: &str, pushes: &[(&str, String, &str)]) -> Vec<u8> {
    let events: Vec<Value> = pushes
        .iter()
        .enumerate()
        .map(|(i, (repository, digest, tag))| {
            json!({
                "id": format!("event-{i}"), "timestamp": "2026-11-30T10:00:00Z", "action": "push",
                "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 400,
                           "digest": digest, "length": 400, "repository": repository, "tag": tag,
                           "url": format!("http://{host}/v2/{repository}/manifests/{digest}")},
                "request": {"id": "r", "addr": "127.0.0.1:40000", "host": host, "method": "PUT", "useragent": "test"},
                "actor": {}, "source": {"addr": "registry:5000", "instanceID": "i"}
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "events": events })).unwrap()
}

fn post_events(fleet: &Fleet, authorization: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut headers = vec![("Content-Type", "application/vnd.docker.distribution.events.v1+json")];
    if let Some(a) = authorization {
        headers.push(("Authorization", a));
    }
    let response = fleet.http("POST", "/v1/registry/events", &headers, body).expect("POST events");
    (response.status, response.text())
}

#[test]
fn a_push_scans_its_digest_once_and_retags_pulls_blobs_and_excluded_repositories_do_not() {
    let Setup { tmp, secret, mut fleet } = setup(&[("STRATA_NOTIFY_EXCLUDE", "scratch/**")]);
    let registry = TestRegistry::start_with_notifications(&events_url(&fleet), &secret);
    serve_registry(&mut fleet, &registry);
    let layout = tmp.path().join("layout");
    let built = small_image(&layout, "1.0", "app");

    registry.push(&layout, "1.0", "team/app:1.0", &[]);
    let scan =
        eventually(120, "the pushed image's scan finishes", &fleet, || push_scans(&fleet).into_iter().find(finished));
    assert_eq!(scan["status"], "done", "{scan}\n{}", fleet.logs());
    assert_eq!(scan["reference"], format!("{}/team/app@{}", registry.host(), built.manifest_digest));
    assert_eq!(scan["image_digest"], built.manifest_digest.as_str());
    assert_eq!(scan["labels"]["tag"], "1.0");
    assert!(scan["findings"].as_u64().unwrap_or(0) > 0, "the downgraded openssl has advisories: {scan}");
    // The config and layer blobs were pushed too, and announced: ignored.
    counter_reaches(&fleet, "strata_registry_events_ignored_total", &["not_an_image_manifest"], 2.0);

    // The same digest under a second tag: the event arrives and is recognised as a duplicate.
    registry.push(&layout, "1.0", "team/app:latest", &[]);
    counter_reaches(&fleet, "strata_registry_events_deduplicated_total", &[], 1.0);
    // A pull: manifest and blob pull events, all ignored.
    let pulled = format!("oci:{}:pulled", tmp.path().join("pulled").display());
    let source = format!("docker://{}/team/app:1.0", registry.host());
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--quiet", "--src-tls-verify=false", &source, &pulled])
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo pull: {}", String::from_utf8_lossy(&out.stderr));
    counter_reaches(&fleet, "strata_registry_events_ignored_total", &["not_a_push"], 2.0);
    // An excluded repository.
    registry.push(&layout, "1.0", "scratch/app:1.0", &[]);
    counter_reaches(&fleet, "strata_registry_events_ignored_total", &["filtered"], 1.0);

    // Anything wrongly queued would be a scan within a drain tick.
    std::thread::sleep(Duration::from_secs(2));
    let all = push_scans(&fleet);
    assert_eq!(all.len(), 1, "one scan for one digest: {all:#?}");
    assert_eq!(coordinator_metric(&fleet, "strata_registry_events_accepted_total", &[]), 1.0);
    assert_eq!(coordinator_metric(&fleet, "strata_registry_events_pending", &[]), 0.0);
    assert!(!fleet.logs().contains(&secret), "the notification secret reached a log");
}

#[test]
fn a_push_while_the_coordinator_is_down_is_scanned_once_it_is_back() {
    let Setup { tmp, secret, mut fleet } = setup(&[]);
    let registry = TestRegistry::start_with_notifications(&events_url(&fleet), &secret);
    serve_registry(&mut fleet, &registry);
    let layout = tmp.path().join("layout");
    let built = small_image(&layout, "2.0", "down");

    fleet.kill_coordinator();
    registry.push(&layout, "2.0", "team/down:2.0", &[]);
    // The registry's deliveries fail (nothing listens) and back off; it keeps the event in memory.
    std::thread::sleep(Duration::from_secs(3));
    assert!(fleet.http("GET", "/", &[], &[]).is_err(), "the coordinator is down");
    fleet.start_coordinator();

    let scan =
        eventually(120, "the retried event's scan finishes", &fleet, || push_scans(&fleet).into_iter().find(finished));
    assert_eq!(scan["status"], "done", "{scan}\n{}", fleet.logs());
    assert_eq!(scan["reference"], format!("{}/team/down@{}", registry.host(), built.manifest_digest));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(push_scans(&fleet).len(), 1, "exactly one scan");
}

#[test]
fn a_wrong_or_missing_secret_is_refused_and_starts_no_scan() {
    let Setup { tmp, secret, fleet } = setup(&[]);
    let body = envelope("127.0.0.1:9", &[("team/app", format!("sha256:{}", "ab".repeat(32)), "1")]);
    let wrong = format!("{secret}x");
    for authorization in [None, Some(format!("Bearer {wrong}")), Some(format!("Basic {secret}")), Some("Bearer".into())]
    {
        let (status, text) = post_events(&fleet, authorization.as_deref(), &body);
        assert_eq!(status, 401, "{authorization:?}: {text}");
        assert!(!text.contains(&secret), "{text}");
    }
    let (status, text) = post_events(&fleet, Some(&format!("Bearer {secret}")), b"{not json");
    assert_eq!(status, 400, "{text}");

    // A registry configured with the wrong secret: its deliveries are refused (and retried), no scan.
    let registry = TestRegistry::start_with_notifications(&events_url(&fleet), &wrong);
    let layout = tmp.path().join("layout");
    small_image(&layout, "1", "refused");
    registry.push(&layout, "1", "team/refused:1", &[]);
    counter_reaches(&fleet, "strata_registry_requests_rejected_total", &["401"], 5.0);
    std::thread::sleep(Duration::from_secs(1));
    assert!(push_scans(&fleet).is_empty(), "no scan without the secret");
    assert_eq!(coordinator_metric(&fleet, "strata_registry_events_received_total", &[]), 0.0);
    let logs = fleet.logs();
    assert!(!logs.contains(&secret) && !logs.contains(&wrong), "a secret reached a log");
}

#[test]
fn a_burst_of_pushes_is_submitted_at_the_configured_rate_and_repeats_collapse() {
    let Setup { secret, fleet, .. } = setup(&[("STRATA_NOTIFY_RATE", "2")]);
    // Six distinct digests on a registry nobody serves: the scans fail fast, which does not matter here.
    let pushes: Vec<(&str, String, &str)> =
        (0..6).map(|i| ("burst/app", format!("sha256:{}", format!("{i:02x}").repeat(32)), "1")).collect();
    let body = envelope("127.0.0.1:9", &pushes);
    let bearer = format!("Bearer {secret}");
    let posted = Instant::now();
    let (status, text) = post_events(&fleet, Some(&bearer), &body);
    assert_eq!(status, 200, "{text}");
    assert!(posted.elapsed() < Duration::from_secs(2), "the answer does not wait for scans");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["queued"], 6, "{text}");
    eventually(60, "six scans", &fleet, || (push_scans(&fleet).len() == 6).then_some(()));
    // Two at once (a second's worth), then one every half second: the sixth no sooner than 2 s in.
    let took = posted.elapsed();
    assert!(took >= Duration::from_millis(1800), "six scans at 2/s took only {took:?}");

    let (status, text) = post_events(&fleet, Some(&bearer), &body);
    assert_eq!(status, 200, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["duplicates"], 6, "{text}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(push_scans(&fleet).len(), 6, "repeats inside the window start no scan");
}

/// A Redis server of the test's own, so it can be stopped without touching anyone else's.
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    fn start_on(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        OwnRedis { child, port }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn redis_down_answers_503_so_the_registry_retries_and_nothing_is_lost() {
    let mut redis = OwnRedis::start_on(free_port());
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let Setup { secret, fleet, .. } = setup(&[("STRATA_REDIS_URL", url.as_str())]);
    let bearer = format!("Bearer {secret}");
    let body = envelope("127.0.0.1:9", &[("team/app", format!("sha256:{}", "cd".repeat(32)), "1")]);

    redis.stop();
    let (status, text) = post_events(&fleet, Some(&bearer), &body);
    assert_eq!(status, 503, "{text}");
    let port = redis.port;
    let _redis = OwnRedis::start_on(port);
    // The registry's retry, once Redis is back: accepted (not taken for a duplicate) and scanned.
    let (status, text) = eventually(30, "an answer once Redis is back", &fleet, || {
        let (status, text) = post_events(&fleet, Some(&bearer), &body);
        (status != 503).then_some((status, text))
    });
    assert_eq!(status, 200, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["queued"], 1, "{text}");
    eventually(60, "the scan", &fleet, || (push_scans(&fleet).len() == 1).then_some(()));
}
