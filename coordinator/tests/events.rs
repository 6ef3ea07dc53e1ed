//! New-vulnerability events end to end: the real coordinator and worker binaries, the machine's Redis and
//! RabbitMQ, a real registry with real images, a test-owned OSV mirror the coordinator refreshes its DB
//! from (real Debian advisories, released in two batches), the real DefectDojo, and a test-owned webhook
//! receiver on 127.0.0.1 that verifies every signature (refusing bad ones) and fails deliveries on purpose.
//!
//! Two DB updates each make the images newly vulnerable; the coordinator is SIGKILLed between them, and
//! again while the second update's events are still failing, and restarted each time. Each new finding is announced exactly once: accepted
//! deliveries are distinct events, and per image the union of announced findings is the union of the
//! rescan deltas computed from the stored reports. DefectDojo holds no duplicate: every rescan of an image
//! reimports into the one test.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::Value;
use strata_testkit::debian::minbase_osv;
use strata_testkit::defectdojo::HashMode;
use strata_testkit::defectdojo_real::{RealDefectDojo, unique};
use strata_testkit::fleet::{Fleet, redis_cli};
use strata_testkit::osv_mirror::{OsvMirror, all_zip, records};
use strata_testkit::registry::TestRegistry;

const SECRET: &str = "events-test-secret-7d1e";

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// Every request: (event id, answered status).
    attempts: Vec<(String, u16)>,
    /// Accepted deliveries, in order: (event id, body).
    accepted: Vec<(String, Value)>,
    /// Requests refused for a missing or wrong signature.
    bad_signatures: usize,
    /// Answer 503 to this many more requests.
    fail_next: usize,
    /// Answer 503 to everything while set.
    down: bool,
    /// Answer 500 to these events, always.
    broken: BTreeSet<String>,
}

struct Receiver {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (state, stopped) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => answer(stream, &state),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Receiver { port, seen, stop, thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/strata?token=do-not-log-me", self.port)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        f(&mut self.seen.lock().unwrap())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The receiver's own check, with ring directly (not the coordinator's code): HMAC-SHA256 over
/// `timestamp.body`, hex, `sha256=` prefix.
fn signature_ok(timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(tag) = header.strip_prefix("sha256=").and_then(|h| hex::decode(h).ok()) else { return false };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let message = [timestamp.as_bytes(), b".", body].concat();
    ring::hmac::verify(&key, &message, &tag).is_ok()
}

fn answer(stream: TcpStream, seen: &Mutex<Seen>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut headers = BTreeMap::new();
    let mut line = String::new();
    let _ = reader.read_line(&mut line);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).map_or(true, |n| n <= 2) {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length.min(1 << 20)];
    let _ = reader.read_exact(&mut body);
    let get = |k: &str| headers.get(k).cloned().unwrap_or_default();
    let id = get("x-strata-event-id");
    let status = {
        let mut seen = seen.lock().unwrap();
        let status = if !signature_ok(&get("x-strata-timestamp"), &body, &get("x-strata-signature")) {
            seen.bad_signatures += 1;
            401
        } else if seen.broken.contains(&id) {
            500
        } else if seen.down {
            503
        } else if seen.fail_next > 0 {
            seen.fail_next -= 1;
            503
        } else {
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            seen.accepted.push((id.clone(), value));
            200
        };
        seen.attempts.push((id, status));
        status
    };
    let mut stream = stream;
    let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

/// The Debian records: everything but openssl's (stage 0), plus three of openssl's (stage 1), plus the rest
/// (stage 2); every record dated for the stage, so each DB is newer than the last (the refresh's floor).
fn stage(n: usize) -> Vec<Value> {
    let date = ["2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z"][n];
    let openssl = |r: &Value| r.to_string().contains("\"name\":\"openssl\"");
    let all = records(&minbase_osv());
    let (mut ssl, rest): (Vec<Value>, Vec<Value>) = all.into_iter().partition(openssl);
    ssl.sort_by_key(|r| r["id"].as_str().unwrap_or_default().to_string());
    let take = [0, 3, ssl.len()][n];
    let mut out: Vec<Value> = rest.into_iter().chain(ssl.into_iter().take(take)).collect();
    for r in &mut out {
        r["modified"] = Value::String(date.into());
    }
    out
}

/// A report's finding keys, as the coordinator keys the rescan delta.
fn keys(report: &Value) -> BTreeSet<String> {
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["findings"].as_array().into_iter().flatten())
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            format!("{} {}@{} {}", s("id"), s("package"), s("installed_version"), s("path"))
        })
        .collect()
}

/// Per scan id: its current report's keys and its db digest.
fn reports(fleet: &Fleet, ids: &[String]) -> BTreeMap<String, (BTreeSet<String>, String)> {
    ids.iter()
        .map(|id| {
            let report = fleet_report(fleet, id, &[]);
            (id.clone(), (keys(&report), report["db"]["content_digest"].as_str().unwrap_or_default().to_string()))
        })
        .collect()
}

/// Waits until every scan's report was matched against a DB other than `before`'s; returns the reports.
fn rescanned(
    fleet: &Fleet,
    ids: &[String],
    before: &BTreeMap<String, (BTreeSet<String>, String)>,
) -> BTreeMap<String, (BTreeSet<String>, String)> {
    eventually(120, "every image is rescanned against the new DB", fleet, || {
        let now = reports(fleet, ids);
        now.iter().all(|(id, (_, db))| *db != before[id].1).then_some(now)
    })
}

/// Per image digest, the finding keys the accepted events announced (each key counted once per event).
fn announced(receiver: &Receiver) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    receiver.with(|s| {
        for (_, body) in &s.accepted {
            let digest = body["image_digest"].as_str().unwrap_or_default().to_string();
            for f in body["findings"].as_array().into_iter().flatten() {
                out.entry(digest.clone()).or_default().push(f["key"].as_str().unwrap_or_default().to_string());
            }
        }
    });
    out
}

/// Waits until no event is queued in the fleet's outbox (every delivery recorded).
fn outbox_drained(fleet: &Fleet) {
    let due = format!("{}:events:due", fleet.prefix);
    eventually(60, "the outbox is drained", fleet, || (redis_cli(&["ZCARD", &due]).trim() == "0").then_some(()));
}

#[test]
fn new_findings_are_announced_once_across_two_db_updates_and_a_coordinator_kill() {
    let dojo = RealDefectDojo::get(HashMode::Default).expect("this test needs the real DefectDojo");
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let mirror = OsvMirror::start();
    mirror.set("Debian", all_zip(&stage(0)));
    let receiver = Receiver::start();
    // The first deliveries fail: the retries are exercised from the start.
    receiver.with(|s| s.fail_next = 4);
    let secret = tmp.path().join("events.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let (source, url, secret_path) = (mirror.url(), receiver.url(), secret.display().to_string());
    let product = unique("events");
    let env = [
        ("STRATA_DB_SOURCE", source.as_str()),
        ("STRATA_DB_ECOSYSTEMS", "Debian"),
        ("STRATA_DB_REFRESH", "2s"),
        ("STRATA_EVENTS_WEBHOOK_URL", url.as_str()),
        ("STRATA_EVENTS_SECRET_FILE", secret_path.as_str()),
        ("STRATA_EVENTS_BACKOFF_MS", "200"),
        ("STRATA_EVENTS_MAX_BACKOFF_MS", "1000"),
        ("STRATA_EVENTS_TIMEOUT_SECS", "2"),
        ("STRATA_DEFECTDOJO_URL", &dojo.url()),
        ("STRATA_DEFECTDOJO_TOKEN", &dojo.token()),
        ("STRATA_DEFECTDOJO_PRODUCT", product.as_str()),
        ("STRATA_DEFECTDOJO_BACKOFF_MS", "500"),
    ];
    let mut fleet = Fleet::start(bins(), &tmp.path().join("db/strata.db"), 1, &env);

    let mut refs = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        let layout = tmp.path().join(format!("layout-{name}"));
        small_image(&layout, "v1", name);
        registry.push(&layout, "v1", &format!("events/{name}:v1"), &[]);
        refs.push(format!("{}/events/{name}:v1", registry.host()));
    }
    let mut cmd = fleet.strata();
    cmd.args(["submit", "--wait"]).args(&refs);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "submit: {out}\n{err}\n{}", fleet.logs());
    let ids: Vec<String> = out.lines().map(|l| l.split('\t').next().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 3, "{out}");
    let digests: BTreeMap<String, String> = ids
        .iter()
        .map(|id| (id.clone(), fleet.status(id)["image_digest"].as_str().unwrap_or_default().to_string()))
        .collect();
    let r0 = reports(&fleet, &ids);
    assert!(receiver.with(|s| s.attempts.is_empty()), "a first scan is not a new-vulnerability event");

    // DB update 1: three openssl advisories appear.
    mirror.set("Debian", all_zip(&stage(1)));
    let r1 = rescanned(&fleet, &ids, &r0);
    let delta1: BTreeMap<String, BTreeSet<String>> =
        ids.iter().map(|id| (id.clone(), r1[id].0.difference(&r0[id].0).cloned().collect())).collect();
    assert!(delta1.values().all(|d| !d.is_empty()), "update 1 makes every image newly vulnerable: {delta1:?}");
    eventually(120, "one event per image for update 1", &fleet, || {
        (receiver.with(|s| s.accepted.len()) == 3).then_some(())
    });
    assert!(
        receiver.with(|s| s.attempts.iter().filter(|(_, st)| *st == 503).count()) >= 4,
        "the failed deliveries were retried"
    );

    // A SIGKILL between the updates: the restarted coordinator neither rescans for the DB it already
    // passed over nor announces anything again.
    // Killed only once the coordinator has recorded the deliveries: a kill between a receiver's 2xx and that
    // record is a legitimate repeat (at least once), which this test's exact count would take for a bug.
    outbox_drained(&fleet);
    let passes = coordinator_metric(&fleet, "strata_db_rescan_passes_total", &[]);
    assert_eq!(passes, 2.0, "one pass for the first DB, one for update 1");
    fleet.kill_coordinator();
    fleet.start_coordinator();
    let attempts_before = receiver.with(|s| s.attempts.len());
    std::thread::sleep(Duration::from_secs(6));
    let passes = coordinator_metric(&fleet, "strata_db_rescan_passes_total", &[]);
    assert_eq!(passes, 0.0, "the restarted coordinator does not rescan for a DB already passed over");
    assert_eq!(reports(&fleet, &ids), r1);
    assert_eq!(receiver.with(|s| s.attempts.len()), attempts_before, "nothing sent again after the restart");

    // DB update 2 while the receiver is down: the events are queued and failing when the coordinator dies.
    receiver.with(|s| s.down = true);
    let failing_before = receiver.with(|s| s.attempts.len());
    mirror.set("Debian", all_zip(&stage(2)));
    let r2 = rescanned(&fleet, &ids, &r1);
    let delta2: BTreeMap<String, BTreeSet<String>> =
        ids.iter().map(|id| (id.clone(), r2[id].0.difference(&r1[id].0).cloned().collect())).collect();
    assert!(delta2.values().all(|d| !d.is_empty()), "update 2 makes every image newly vulnerable: {delta2:?}");
    eventually(60, "update 2's events are attempted and refused", &fleet, || {
        let new: BTreeSet<String> =
            receiver.with(|s| s.attempts[failing_before..].iter().map(|(id, _)| id.clone()).collect());
        (new.len() == 3).then_some(())
    });
    fleet.kill_coordinator();
    receiver.with(|s| s.down = false);
    fleet.start_coordinator();
    eventually(120, "update 2's events are delivered after the restart", &fleet, || {
        (receiver.with(|s| s.accepted.len()) == 6).then_some(())
    });
    outbox_drained(&fleet);
    // Past the leases of whatever the killed process held, nothing more arrives.
    std::thread::sleep(Duration::from_secs(12));

    let (accepted, distinct, bad) = receiver.with(|s| {
        let ids: BTreeSet<String> = s.accepted.iter().map(|(id, _)| id.clone()).collect();
        (s.accepted.len(), ids.len(), s.bad_signatures)
    });
    assert_eq!(bad, 0, "every delivery was signed with the shared secret");
    let log = receiver.with(|s| format!("{:?}", s.attempts));
    assert_eq!(accepted, 6, "one event per image per DB update; attempts {log}\n{}", fleet.logs());
    assert_eq!(distinct, accepted, "no event was accepted twice");
    let announced = announced(&receiver);
    for id in &ids {
        let digest = &digests[id];
        let keys = announced.get(digest).cloned().unwrap_or_default();
        let unique_keys: BTreeSet<String> = keys.iter().cloned().collect();
        assert_eq!(unique_keys.len(), keys.len(), "a finding of {digest} was announced twice: {keys:?}");
        let expected: BTreeSet<String> = delta1[id].union(&delta2[id]).cloned().collect();
        assert_eq!(unique_keys, expected, "the announced findings of {digest} are the rescan deltas");
    }
    // Every body names its image, scan and DB, and its id is the header's.
    receiver.with(|s| {
        for (id, body) in &s.accepted {
            assert_eq!(body["id"].as_str(), Some(id.as_str()), "{body}");
            assert_eq!(body["type"], "strata.new_findings", "{body}");
            assert!(ids.contains(&body["scan_id"].as_str().unwrap_or_default().to_string()), "{body}");
        }
    });
    // A request with a wrong signature is refused by this receiver: the check above is a real one.
    let mut stream = TcpStream::connect(("127.0.0.1", receiver.port)).unwrap();
    let body = "{}";
    write!(
        stream,
        "POST / HTTP/1.1\r\nX-Strata-Timestamp: 1\r\nX-Strata-Signature: sha256={}\r\nContent-Length: {}\r\n\r\n{body}",
        "00".repeat(32),
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    let metrics = fleet.ops_get("coordinator", "/metrics").1;
    assert!(metric(&metrics, "strata_events_pending", &[]) == 0.0, "{metrics}");
    assert!(metric(&metrics, "strata_events_dead_letters", &[]) == 0.0, "{metrics}");
    let logs = fleet.logs();
    assert!(!logs.contains("do-not-log-me") && !logs.contains(SECRET), "a credential reached the logs");

    // DefectDojo: each image's rescans reimport into its one test, which holds no duplicate finding.
    for id in &ids {
        let rows = eventually(180, "every DefectDojo delivery settles", &fleet, || {
            let rows = fleet.status(id)["defectdojo"].as_array().cloned().unwrap_or_default();
            (rows.len() >= 3 && rows.iter().all(|d| d["state"] != "pending")).then_some(rows)
        });
        assert!(rows.iter().all(|d| d["state"] == "delivered"), "{rows:?}\n{}", fleet.logs());
        let tests: BTreeSet<i64> = rows.iter().filter_map(|d| d["test_id"].as_i64()).collect();
        assert_eq!(tests.len(), 1, "every rescan reimports into one test: {rows:?}");
        let test = *tests.iter().next().unwrap();
        let findings = dojo.findings(test, false);
        let mut seen = BTreeSet::new();
        for f in &findings {
            let key = (f["title"].to_string(), f["component_name"].to_string(), f["component_version"].to_string());
            assert!(seen.insert(key.clone()), "duplicate finding in DefectDojo test {test}: {key:?}");
        }
        // DefectDojo's own reimport counters depend on its dedup hash settings; what must hold whatever they
        // are: some findings are active, and never more than the image's latest report has.
        let active = dojo.findings(test, true).len();
        assert!(active > 0 && active <= r2[id].0.len(), "{active} active of {} reported", r2[id].0.len());
    }
}

/// The outbox and the delivery loop alone, on the machine's Redis: an event queued twice (the same rescan
/// repeated) is sent once; an event the receiver always refuses is tried `STRATA_EVENTS_MAX_ATTEMPTS` times,
/// every attempt signed, then dead-lettered with its last error, and leaves the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_event_is_sent_once_and_a_refused_one_is_dead_lettered() {
    use strata_coordinator::events::outbox::{Event, EventFinding, Outbox};
    // As the coordinator's main does: ring is the one TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let prefix = unique("strata-test:events");
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let outbox = Outbox::connect(&client, &prefix).await.unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let event = |digest: &str, key: &str| {
        let keys: BTreeSet<String> = [key.to_string()].into();
        Event {
            id: strata_coordinator::events::outbox::event_id(digest, &keys),
            kind: "strata.new_findings".into(),
            image_digest: digest.into(),
            reference: "registry.example/app:1".into(),
            scan_id: "scan-1".into(),
            db_digest: "db-2".into(),
            created_unix_ms: 1,
            findings: vec![EventFinding {
                key: key.into(),
                id: "DSA-5139-1".into(),
                aliases: vec![],
                package: "openssl".into(),
                installed_version: "1.1.1k-1+deb11u1".into(),
                fixed_version: Some("1.1.1n-0+deb11u2".into()),
                severity: "UNKNOWN".into(),
                title: None,
                path: "/var/lib/dpkg/status".into(),
            }],
        }
    };
    let good = event("sha256:aa", "DSA-5139-1 openssl@1.1.1k-1+deb11u1 /var/lib/dpkg/status");
    let bad = event("sha256:bb", "DSA-5139-1 openssl@1.1.1k-1+deb11u1 /var/lib/dpkg/status");
    assert_ne!(good.id, bad.id, "the id covers the image");
    for e in [&good, &good, &bad] {
        let _: () = redis::pipe().atomic().add_command(outbox.queue(e)).ignore().query_async(&mut conn).await.unwrap();
    }
    assert_eq!(outbox.depth().await.unwrap(), (2, 0), "the repeated event is queued once");
    let announced = outbox.announced("sha256:aa").await.unwrap();
    assert_eq!(announced.len(), 1, "{announced:?}");

    let receiver = Receiver::start();
    receiver.with(|s| s.broken.insert(bad.id.clone()));
    let settings = strata_coordinator::events::Settings {
        url: receiver.url(),
        secret: SECRET.as_bytes().to_vec(),
        max_attempts: 3,
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        concurrency: 2,
    };
    let tasks = strata_coordinator::tasks::Tasks::new();
    strata_coordinator::events::delivery::start(outbox.clone(), Arc::new(settings), &tasks).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while outbox.depth().await.unwrap() != (0, 1) {
        assert!(std::time::Instant::now() < deadline, "not settled: {:?}", outbox.depth().await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tasks.stop().await;

    let (attempts, accepted, bad_signatures) =
        receiver.with(|s| (s.attempts.clone(), s.accepted.clone(), s.bad_signatures));
    assert_eq!(bad_signatures, 0);
    assert_eq!(accepted.len(), 1, "{attempts:?}");
    assert_eq!(accepted[0].0, good.id);
    assert_eq!(accepted[0].1, serde_json::to_value(&good).unwrap(), "the body is the event");
    let refused: Vec<_> = attempts.iter().filter(|(id, _)| *id == bad.id).collect();
    assert_eq!(refused.len(), 3, "max attempts, then dead-lettered: {attempts:?}");
    assert!(refused.iter().all(|(_, status)| *status == 500));
    let dead: Vec<String> =
        redis::cmd("LRANGE").arg(format!("{prefix}:events:dead")).arg(0).arg(-1).query_async(&mut conn).await.unwrap();
    assert_eq!(dead, vec![bad.id.clone()]);
    let entry: String =
        redis::cmd("GET").arg(format!("{prefix}:events:entry:{}", bad.id)).query_async(&mut conn).await.unwrap();
    let entry: Value = serde_json::from_str(&entry).unwrap();
    assert_eq!(entry["attempts"], 3, "{entry}");
    assert!(entry["last_error"].as_str().unwrap().contains("500"), "{entry}");
    assert!(!entry.to_string().contains("do-not-log-me"), "the URL's token is not in the record: {entry}");
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut conn).await.unwrap();
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
}
