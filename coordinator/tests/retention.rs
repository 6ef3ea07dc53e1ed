//! Retention against the machine's real Redis (a key prefix of the test's own): a population of finished
//! scans across repositories, back-dated, with an active scan, a legacy record written before the
//! indexes existed and an orphaned index entry; one pass must leave exactly the keys the policy keeps.
//! And the `maxmemory-policy` warning, on a `redis-server` of the test's own (the shared one's
//! configuration is never changed), and a running coordinator pruning on its interval.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use strata_coordinator::retention::eviction::{self, Eviction};
use strata_coordinator::retention::{RetentionSettings, prune};
use strata_coordinator::runner::now_ms;
use strata_coordinator::store::ScanStore;
use strata_proto::v1::{Scan, ScanOptions, ScanStatus};
use strata_testkit::fleet::{Bins, Fleet};
use strata_testkit::registry::free_port;
use strata_testkit::services::OwnedRedis;

const REDIS: &str = "redis://127.0.0.1:6379";
const DAY: i64 = 86_400_000;

struct Population {
    store: ScanStore,
    conn: redis::aio::MultiplexedConnection,
    prefix: String,
    now: i64,
}

impl Population {
    async fn new() -> Population {
        let prefix = format!("strata-test:retention-{}-{}", std::process::id(), uuid::Uuid::new_v4());
        let store = ScanStore::connect(&redis::Client::open(REDIS).unwrap(), &prefix)
            .await
            .expect("redis at 127.0.0.1:6379 (scripts/setup.sh)");
        let conn = redis::Client::open(REDIS).unwrap().get_multiplexed_async_connection().await.unwrap();
        Population { store, conn, prefix, now: now_ms() }
    }

    fn key(&self, what: &str) -> String {
        format!("{}:{what}", self.prefix)
    }

    /// A scan of `repo`, created `created_days` ago and last updated `updated_days` ago.
    fn scan(&self, id: &str, repo: &str, status: ScanStatus, digest: &str, days: (i64, i64), policy: &str) -> Scan {
        Scan {
            id: id.into(),
            reference: format!("127.0.0.1:5000/{repo}:v1"),
            status: status as i32,
            image_digest: digest.into(),
            created_unix_ms: self.now - days.0 * DAY - 3_600_000,
            updated_unix_ms: self.now - days.1 * DAY,
            options: Some(ScanOptions { policy_digest: policy.into(), ..ScanOptions::default() }),
            ..Scan::default()
        }
    }

    /// Records the scan through the store, with its report when done and its image record when resolved.
    async fn add(&mut self, scan: Scan) {
        self.store.save(&scan).await.unwrap();
        self.with_records(&scan).await;
    }

    /// A record as a coordinator without retention's indexes wrote it.
    async fn add_legacy(&mut self, scan: Scan) {
        let _: () = redis::pipe()
            .set(self.key(&format!("scan:{}", scan.id)), scan.encode_to_vec())
            .zadd(self.key("scans"), &scan.id, scan.created_unix_ms)
            .query_async(&mut self.conn)
            .await
            .unwrap();
        self.with_records(&scan).await;
    }

    async fn with_records(&mut self, scan: &Scan) {
        if scan.status == ScanStatus::Done as i32 {
            self.store.put_report(&scan.id, br#"{"results":[]}"#).await.unwrap();
        }
        if !scan.image_digest.is_empty() {
            // The record's content does not matter to retention, only its key.
            let _: () = redis::cmd("SET")
                .arg(self.key(&format!("image:{}", scan.image_digest)))
                .arg("inventory")
                .query_async(&mut self.conn)
                .await
                .unwrap();
            // What new-vulnerability events announced of the image goes with its record.
            let _: () = redis::cmd("SADD")
                .arg(self.key(&format!("events:announced:{}", scan.image_digest)))
                .arg("DSA-1-1 pkg@1 /var/lib/dpkg/status")
                .query_async(&mut self.conn)
                .await
                .unwrap();
        }
        let policy = scan.options.as_ref().map_or("", |o| o.policy_digest.as_str());
        if !policy.is_empty() {
            self.store.put_policy(policy, b"documents").await.unwrap();
        }
    }

    /// Every key under the prefix, without it (SCAN: the test's keys only).
    async fn keys(&mut self) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}:*", self.prefix))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut self.conn)
                .await
                .unwrap();
            keys.extend(page.into_iter().map(|k| k[self.prefix.len() + 1..].to_string()));
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }

    async fn members(&mut self, key: &str) -> BTreeSet<String> {
        let key = self.key(key);
        let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut self.conn).await.unwrap();
        let command = if kind == "zset" {
            redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).clone()
        } else {
            redis::cmd("SMEMBERS").arg(&key).clone()
        };
        let members: Vec<String> = command.query_async(&mut self.conn).await.unwrap();
        members.into_iter().collect()
    }
}

/// The test's keys go however it ends.
impl Drop for Population {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(REDIS).and_then(|c| c.get_connection()) else { return };
        let pattern = format!("{}:*", self.prefix);
        let keys: Vec<String> = match redis::Commands::scan_match::<_, String>(&mut conn, &pattern) {
            Ok(keys) => keys.filter_map(|k| k.ok()).collect(),
            Err(_) => return,
        };
        for chunk in keys.chunks(500) {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(chunk).query(&mut conn);
        }
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_pass_removes_what_the_policy_says_and_keeps_the_rest() {
    use ScanStatus::*;
    let mut p = Population::new().await;
    let s = |p: &Population, id, repo, status, digest, days, policy| p.scan(id, repo, status, digest, days, policy);
    // team/a: a1 and the legacy l1 are its latest two done scans; the older ones go, a2 and a3 although
    // they were its latest two until l1 is counted (the pass indexes legacy records first).
    p.add(s(&p, "a1", "team/a", Done, "sha256:d1", (1, 1), "")).await;
    p.add(s(&p, "a2", "team/a", Done, "sha256:d2", (40, 40), "")).await;
    p.add(s(&p, "a3", "team/a", Done, "sha256:d2", (50, 50), "")).await;
    p.add(s(&p, "a4", "team/a", Done, "sha256:d3", (60, 60), "")).await;
    // Failed after its image record was stored: the record goes with it.
    p.add(s(&p, "a5", "team/a", Failed, "sha256:d4", (45, 45), "")).await;
    p.add_legacy(s(&p, "l1", "team/a", Done, "sha256:d1", (2, 2), "")).await;
    // team/b: b1 is old but among its two latest done scans; b4 was created long ago and re-matched
    // yesterday; a recent failure stays, an old cancelled scan goes.
    p.add(s(&p, "b1", "team/b", Done, "sha256:d5", (90, 90), "p1")).await;
    p.add(s(&p, "b4", "team/b", Done, "sha256:d5", (100, 1), "")).await;
    p.add(s(&p, "b2", "team/b", Failed, "", (10, 10), "")).await;
    p.add(s(&p, "b3", "team/b", Cancelled, "", (100, 100), "")).await;
    // team/c: c3 and c4 are its latest; c1 and c2 go. c2's image is also team/a's a1's and stays; c1's
    // policy is also b1's and stays, c2's goes.
    p.add(s(&p, "c1", "team/c", Done, "sha256:d6", (35, 35), "p1")).await;
    p.add(s(&p, "c2", "team/c", Done, "sha256:d1", (33, 33), "p2")).await;
    p.add(s(&p, "c3", "team/c", Done, "sha256:d8", (31, 31), "")).await;
    p.add(s(&p, "c4", "team/c", Done, "sha256:d8", (5, 5), "")).await;
    // Active for 200 days (a stuck scan): never pruned, nor its image record.
    p.add(s(&p, "x1", "team/x", Analyzing, "sha256:d9", (200, 200), "")).await;
    // An index entry whose record is gone, with its report.
    let _: () = redis::pipe()
        .zadd(p.key("scans"), "ghost", p.now - 300 * DAY)
        .set(p.key("report:ghost"), "x")
        .set(p.key("layer:v1:sha256:cached"), "layer result")
        .query_async(&mut p.conn)
        .await
        .unwrap();

    let before = p.keys().await;
    let off = RetentionSettings { days: 0, latest: 2, ..RetentionSettings::default() };
    let pass = prune(&p.store, &off, p.now).await.unwrap();
    assert_eq!((pass.scans, pass.complete), (0, true));
    assert_eq!(p.keys().await, before, "days 0 keeps everything");

    let settings = RetentionSettings { days: 30, latest: 2, ..RetentionSettings::default() };
    let pass = prune(&p.store, &settings, p.now).await.unwrap();

    let kept_scans = ["a1", "l1", "b1", "b4", "b2", "c3", "c4", "x1"];
    let kept_done = ["a1", "l1", "b1", "b4", "c3", "c4"];
    let mut expected: BTreeSet<String> = kept_scans.iter().map(|id| format!("scan:{id}")).collect();
    expected.extend(kept_done.iter().map(|id| format!("report:{id}")));
    for digest in ["d1", "d5", "d8", "d9"] {
        expected.insert(format!("image:sha256:{digest}"));
        expected.insert(format!("refs:image:sha256:{digest}"));
        expected.insert(format!("events:announced:sha256:{digest}"));
    }
    expected.extend(set(&[
        "policy:p1",
        "refs:policy:p1",
        "scans",
        "scans:active",
        "done:127.0.0.1:5000/team/a",
        "done:127.0.0.1:5000/team/b",
        "done:127.0.0.1:5000/team/c",
        "retention:indexed",
        "layer:v1:sha256:cached",
    ]));
    let keys = p.keys().await;
    let gone: BTreeSet<_> = before.difference(&keys).collect();
    assert_eq!(keys, expected, "kept keys (removed: {gone:?})");

    assert_eq!(p.members("scans").await, set(&kept_scans));
    assert_eq!(p.members("scans:active").await, set(&["x1"]));
    assert_eq!(p.members("done:127.0.0.1:5000/team/a").await, set(&["a1", "l1"]));
    assert_eq!(p.members("done:127.0.0.1:5000/team/b").await, set(&["b1", "b4"]));
    assert_eq!(p.members("done:127.0.0.1:5000/team/c").await, set(&["c3", "c4"]));
    assert_eq!(p.members("refs:image:sha256:d1").await, set(&["a1", "l1"]));
    assert_eq!(p.members("refs:image:sha256:d5").await, set(&["b1", "b4"]));
    assert_eq!(p.members("refs:image:sha256:d8").await, set(&["c3", "c4"]));
    assert_eq!(p.members("refs:image:sha256:d9").await, set(&["x1"]));
    assert_eq!(p.members("refs:policy:p1").await, set(&["b1"]));
    assert_eq!((pass.scans, pass.images, pass.policies, pass.orphans, pass.complete), (7, 4, 1, 1, true), "{pass:?}");
    // Every kept record still reads back through the store.
    assert_eq!(p.store.get_many(&kept_scans.map(String::from)).await.unwrap().len(), kept_scans.len());

    let again = prune(&p.store, &settings, p.now).await.unwrap();
    assert_eq!((again.scans, again.images, again.policies, again.orphans), (0, 0, 0, 0), "a second pass: {again:?}");
    assert_eq!(p.keys().await, expected);
}

#[tokio::test]
async fn latest_zero_leaves_age_alone_and_a_rescan_renews_a_scan() {
    let mut p = Population::new().await;
    // The only done scan of its repository: kept with any `latest` above 0, not with 0.
    p.add(p.scan("r0", "team/r", ScanStatus::Done, "sha256:r0", (50, 50), "")).await;
    // Created long ago, re-matched just now (a rescan or a sweep saves it again).
    let mut renewed = p.scan("s1", "team/s", ScanStatus::Done, "sha256:s1", (40, 40), "");
    p.add(renewed.clone()).await;
    renewed.updated_unix_ms = p.now;
    p.store.save(&renewed).await.unwrap();

    let settings = RetentionSettings { days: 30, latest: 0, ..RetentionSettings::default() };
    let pass = prune(&p.store, &settings, p.now).await.unwrap();
    assert_eq!((pass.scans, pass.images), (1, 1), "{pass:?}");
    let keys = p.keys().await;
    assert!(keys.contains("scan:s1") && keys.contains("report:s1") && keys.contains("image:sha256:s1"), "{keys:?}");
    assert!(!keys.contains("scan:r0") && !keys.contains("report:r0") && !keys.contains("image:sha256:r0"), "{keys:?}");
    // A rescan of r0 that finishes after the pass (it read the report before) leaves no report behind.
    assert!(p.store.put_report("r0", b"{}").await.is_err());
    assert!(!p.keys().await.contains("report:r0"));
}

#[tokio::test]
async fn an_allkeys_policy_is_warned_about_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let redis = OwnedRedis::start_with(tmp.path(), false, &["--maxmemory-policy", "allkeys-lru"]);
    let store = ScanStore::connect(&redis::Client::open(redis.url()).unwrap(), "strata-test:eviction").await.unwrap();
    assert_eq!(eviction::check(&store).await, Eviction::Unsafe("allkeys-lru".into()));

    // The coordinator says so in its log at start.
    let log_path = tmp.path().join("coordinator.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata-coordinator"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .env("STRATA_REDIS_URL", redis.url())
        .env("STRATA_KEY_PREFIX", "strata-test:eviction")
        // No broker: the check runs before the coordinator connects to one, and no queue is left behind.
        .env("STRATA_AMQP_URL", format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port()))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn the coordinator");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut text = String::new();
    // Once it has exited, the log is read once more before giving up.
    let mut exited = false;
    let warned = loop {
        text.clear();
        std::fs::File::open(&log_path).unwrap().read_to_string(&mut text).unwrap();
        let line = text.lines().find(|l| l.contains("maxmemory-policy can evict scan records"));
        if let Some(line) = line {
            break line.to_string();
        }
        if exited {
            panic!("the coordinator exited without an eviction warning:\n{text}");
        }
        exited = child.try_wait().unwrap().is_some();
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no eviction warning in the coordinator's log within 60 s:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned.contains("WARN") && warned.contains("allkeys-lru"), "{warned}");

    // A safe policy, set on the test's own server, is not warned about.
    let mut conn = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    for policy in ["volatile-lru", "noeviction"] {
        let _: () =
            redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg(policy).query_async(&mut conn).await.unwrap();
        assert_eq!(eviction::check(&store).await, Eviction::Safe(policy.into()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_coordinator_prunes_once_an_interval() {
    let bins = Bins::beside(Path::new(env!("CARGO_BIN_EXE_strata-coordinator")));
    let settings = [("STRATA_RETAIN_INTERVAL_SECS", "1"), ("STRATA_RETAIN_DAYS", "30"), ("STRATA_RETAIN_LATEST", "1")];
    let fleet = Fleet::start(bins, Path::new(""), 0, &settings);
    let store = ScanStore::connect(&redis::Client::open(REDIS).unwrap(), &fleet.prefix).await.unwrap();
    let now = now_ms();
    for (id, days) in [("old", 40), ("new", 1)] {
        let scan = Scan {
            id: id.into(),
            reference: "127.0.0.1:5000/team/app:v1".into(),
            status: ScanStatus::Done as i32,
            created_unix_ms: now - days * DAY,
            updated_unix_ms: now - days * DAY,
            ..Scan::default()
        };
        store.save(&scan).await.unwrap();
        store.put_report(id, b"{}").await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.get("old").await.is_ok() {
        assert!(Instant::now() < deadline, "the old scan is still there after 60 s:\n{}", fleet.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(store.get_report("old").await.is_err(), "the old scan's report went with it");
    assert!(store.get("new").await.is_ok() && store.get_report("new").await.is_ok(), "the latest scan stays");
    let log = fleet.log_text("coordinator.log");
    assert!(log.contains("retention pass"), "{log}");
}
