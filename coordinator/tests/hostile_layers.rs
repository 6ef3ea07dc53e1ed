//! Hostile layers against the real fleet (the binaries, the machine's RabbitMQ and Redis, a real
//! registry): a layer that crashes its analyser is dead-lettered after N attempts, a layer whose blob
//! stalls is stopped at the per-layer deadline, and SIGTERM ends a worker stuck on such a layer within
//! its grace period. In each case a victim image in the same batch completes.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{bins, build_db, run};
use strata_testkit::debian::Rootfs;
use strata_testkit::fleet::{Fleet, redis_cli};
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

/// Pushes a one-layer image and returns (reference, layer digest).
fn push(registry: &TestRegistry, layer: Vec<u8>, compression: Compression, name: &str, tmp: &Path) -> (String, String) {
    let layout = tmp.join(format!("layout-{name}"));
    let built =
        ImageBuilder::new().layer(LayerContent::Bytes(layer), compression, "ADD / /").write_layout(&layout, "1");
    registry.push(&layout, "1", &format!("hostile/{name}:1"), &[]);
    (format!("{}/hostile/{name}:1", registry.host()), built.layer_digests[0].clone())
}

/// A victim: the real bullseye dpkg database, a layer any analyser handles in well under 48 MiB.
fn push_victim(registry: &TestRegistry, tmp: &Path) -> String {
    let status = Rootfs::bullseye().status;
    let layer = TarBuilder::new().file("var/lib/dpkg/status", status.as_bytes()).build();
    push(registry, layer, Compression::Gzip, "victim", tmp).0
}

/// `submit --wait` of `references`: (exit code, status line per reference).
fn submit_wait(fleet: &Fleet, references: &[&str]) -> (i32, BTreeMap<String, String>) {
    let mut submit = fleet.strata();
    submit.args(["submit", "--wait"]).args(references);
    let (code, out, err) = run(submit);
    let lines = out.lines().map(|l| (l.split('\t').nth(1).unwrap_or_default().to_string(), l.to_string())).collect();
    assert!(!out.is_empty(), "submit printed nothing: {err}\n{}", fleet.logs());
    (code, lines)
}

fn dead_letters(fleet: &Fleet) -> String {
    let out = std::process::Command::new("rabbitmqctl").args(["-q", "list_queues", "name", "messages"]).output();
    let text = String::from_utf8_lossy(&out.expect("rabbitmqctl").stdout).into_owned();
    let dlq = format!("{}.dlq", fleet.queue);
    text.lines().find(|l| l.split_whitespace().next() == Some(dlq.as_str())).unwrap_or_default().to_string()
}

fn attempts_key(fleet: &Fleet, digest: &str) -> String {
    format!("{}:attempts:v{}:{digest}", fleet.prefix, strata_scanner::ANALYZER_VERSION)
}

#[test]
fn a_layer_that_crashes_the_analyser_is_dead_lettered_and_the_victim_completes() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    // A 58 MB dpkg status (under the engine's 64 MiB cap for it, so it is read whole): with the analysis
    // children limited to 96 MiB of address space the allocation fails and the child aborts. A real
    // crash of the real binary, nothing test-only in it.
    let stanza = |i: usize| {
        format!(
            "Package: bomb{i}\nStatus: install ok installed\nPriority: optional\nSection: misc\nInstalled-Size: 1\n\
             Maintainer: Nobody <nobody@example.com>\nArchitecture: amd64\nVersion: 1.0-{i}\nDescription: padding\n {}\n\n",
            "x".repeat(400)
        )
    };
    let status: String = (0..98_000).map(stanza).collect();
    assert!(status.len() > 56 << 20 && status.len() < 64 << 20, "{}", status.len());
    let bomb = TarBuilder::new().file("var/lib/dpkg/status", status.as_bytes()).build();
    let (bomb, bomb_digest) = push(&registry, bomb, Compression::Gzip, "bomb", tmp.path());
    let victim = push_victim(&registry, tmp.path());
    let db = build_db(&bins, tmp.path());
    let env = [
        ("STRATA_MAX_ATTEMPTS", "2"),
        ("STRATA_RETRY_BACKOFF_MS", "100"),
        ("STRATA_PREFETCH", "2"),
        ("STRATA_ANALYSIS_MEMORY_MIB", "96"),
    ];
    let mut fleet = Fleet::start(bins, &db, 1, &env);
    let pids = fleet.pids();

    let (code, lines) = submit_wait(&fleet, &[&bomb, &victim]);
    assert_eq!(code, 2, "one scan failed: {lines:?}\n{}", fleet.logs());
    let failed = &lines[&bomb];
    assert!(failed.contains("\tfailed\t"), "{failed}");
    assert!(failed.contains(&format!("layer {bomb_digest} stopped the analyser 2 times")), "{failed}");
    assert!(failed.contains("SIGABRT") && failed.contains("96 MiB"), "the reason says how it died: {failed}");
    assert!(lines[&victim].contains("\tdone\t"), "the victim completes: {}\n{}", lines[&victim], fleet.logs());
    assert!(dead_letters(&fleet).ends_with(" 1") || dead_letters(&fleet).ends_with("\t1"), "{}", dead_letters(&fleet));
    assert_eq!(fleet.pids(), pids, "only the analysis children died:\n{}", fleet.logs());
}

/// A TCP proxy in front of a registry that forwards everything except the blob `digest`: once a request
/// for it has gone through, the answer stops after `keep` bytes and the connection stays open, silent.
struct StallingProxy {
    port: u16,
    /// Connections stalled so far.
    stalled: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl StallingProxy {
    fn start(target: u16, digest: &str, keep: usize) -> StallingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stalled, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (stalls, stopping) = (stalled.clone(), stop.clone());
        // The hex part only: a client may percent-encode the `:` of the digest in the path.
        let needle = digest.trim_start_matches("sha256:").to_string();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                let hit = Arc::new(AtomicBool::new(false));
                let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (seen, needle) = (hit.clone(), needle.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = c_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        // Marked before forwarding, so the answer is already held back.
                        if String::from_utf8_lossy(&buf[..n]).contains(&needle) {
                            seen.store(true, Ordering::SeqCst);
                        }
                        if s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_out.shutdown(Shutdown::Write);
                });
                let (mut s_in, mut c_out, stalls, stopping) = (server, client, stalls.clone(), stopping.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    let mut sent_since_hit = 0;
                    while let Ok(n) = s_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let n = if hit.load(Ordering::SeqCst) { n.min(keep - sent_since_hit) } else { n };
                        if c_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        if hit.load(Ordering::SeqCst) {
                            sent_since_hit += n;
                            if sent_since_hit >= keep {
                                stalls.fetch_add(1, Ordering::SeqCst);
                                while !stopping.load(Ordering::Relaxed) {
                                    std::thread::sleep(Duration::from_millis(100));
                                }
                                return;
                            }
                        }
                    }
                    let _ = c_out.shutdown(Shutdown::Write);
                });
            }
        });
        StallingProxy { port, stalled, stop }
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A registry whose blob for the "hang" image stalls mid-way; both images reached through the proxy.
fn hanging_setup(tmp: &Path) -> (TestRegistry, StallingProxy, String, String, String) {
    let registry = TestRegistry::start();
    let noise: Vec<u8> = (0..256 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let layer = TarBuilder::new().file("srv/data.bin", &noise).build();
    // Gzip: skopeo would compress an uncompressed layer on push, changing its digest.
    let (hang, digest) = push(&registry, layer, Compression::Gzip, "hang", tmp);
    let victim = push_victim(&registry, tmp);
    let proxy = StallingProxy::start(registry.port, &digest, 4096);
    let via = |r: &str| r.replace(&registry.host(), &format!("127.0.0.1:{}", proxy.port));
    let (hang, victim) = (via(&hang), via(&victim));
    (registry, proxy, hang, victim, digest)
}

#[test]
fn a_stalled_blob_is_stopped_at_the_layer_deadline_and_the_victim_completes() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let (_registry, proxy, hang, victim, digest) = hanging_setup(tmp.path());
    let db = build_db(&bins, tmp.path());
    let env = [
        ("STRATA_MAX_ATTEMPTS", "2"),
        ("STRATA_RETRY_BACKOFF_MS", "100"),
        ("STRATA_PREFETCH", "1"),
        ("STRATA_LAYER_DEADLINE_SECS", "3"),
    ];
    let mut fleet = Fleet::start(bins, &db, 1, &env);
    let pids = fleet.pids();
    let started = Instant::now();
    // One job slot: the victim can only complete if the stalled job gives its slot back.
    let (code, lines) = submit_wait(&fleet, &[&hang, &victim]);
    assert_eq!(code, 2, "one scan failed: {lines:?}\n{}", fleet.logs());
    let failed = &lines[&hang];
    assert!(failed.contains(&format!("layer {digest} stopped the analyser 2 times")), "{failed}");
    assert!(failed.contains("per-layer deadline of 3 s"), "the reason names the deadline: {failed}");
    assert!(lines[&victim].contains("\tdone\t"), "the victim completes: {}\n{}", lines[&victim], fleet.logs());
    assert!(proxy.stalled.load(Ordering::SeqCst) >= 2, "the blob really stalled on each attempt");
    assert!(started.elapsed() < Duration::from_secs(120), "hang guard");
    assert_eq!(fleet.pids(), pids, "the worker lives on:\n{}", fleet.logs());
}

#[test]
fn sigterm_ends_a_worker_stuck_on_a_layer_within_the_grace_period() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let (_registry, proxy, hang, _victim, digest) = hanging_setup(tmp.path());
    let db = build_db(&bins, tmp.path());
    // A deadline far away: only the grace period can end the stuck job.
    let env = [("STRATA_LAYER_DEADLINE_SECS", "600"), ("STRATA_SHUTDOWN_GRACE_SECS", "2")];
    let mut fleet = Fleet::start(bins, &db, 1, &env);
    let mut submit = fleet.strata();
    submit.args(["submit", &hang]);
    let (code, _, err) = run(submit);
    assert_eq!(code, 0, "{err}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.stalled.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the worker never reached the blob:\n{}", fleet.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let key = attempts_key(&fleet, &digest);
    assert_eq!(redis_cli(&["get", &key]).trim(), "1", "the attempt was counted before the work");

    let asked = Instant::now();
    let status = fleet.terminate_worker(0, Duration::from_secs(30));
    let took = asked.elapsed();
    assert!(status.is_some(), "the worker did not exit within 30 s of SIGTERM:\n{}", fleet.logs());
    assert!(took < Duration::from_secs(2 + 8), "exited {took:?} after SIGTERM with a 2 s grace period");
    assert!(fleet.log_text("worker-0.log").contains("grace period over"), "{}", fleet.logs());

    // The stuck job was left unacknowledged: the broker hands it to the next worker, which counts on.
    fleet.add_worker();
    let deadline = Instant::now() + Duration::from_secs(60);
    while redis_cli(&["get", &key]).trim() != "2" {
        assert!(Instant::now() < deadline, "the job was not redelivered:\n{}", fleet.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}
