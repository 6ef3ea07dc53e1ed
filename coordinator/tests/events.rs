//! New-vulnerability events end to end: the real coordinator and worker binaries, the machine's Redis and
//! RabbitMQ, a real registry with real images, a test-owned OSV mirror the coordinator refreshes its DB
//! from (real Debian advisories, released in two batches), the real DefectDojo, and a test-owned webhook
//! receiver on 127.0.0.1 that verifies every signature (refusing bad ones) and fails deliveries on purpose.
//!
//! Two DB updates each make the images newly vulnerable; the coordinator is SIGKILLed while the second
//! update's events are still failing, and restarted. Each new finding is announced exactly once: accepted
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
use strata_testkit::fleet::Fleet;
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
    // Past the leases of whatever the killed process held, nothing more arrives.
    std::thread::sleep(Duration::from_secs(12));

    let (accepted, distinct, bad) = receiver.with(|s| {
        let ids: BTreeSet<String> = s.accepted.iter().map(|(id, _)| id.clone()).collect();
        (s.accepted.len(), ids.len(), s.bad_signatures)
    });
    assert_eq!(bad, 0, "every delivery was signed with the shared secret");
    assert_eq!(accepted, 6, "one event per image per DB update\n{}", fleet.logs());
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
