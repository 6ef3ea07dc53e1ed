//! Registry sweeps end to end: the real coordinator and worker binaries, the machine's RabbitMQ and Redis,
//! real `docker-registry` instances (one with 200 repositories × 3 tags made from real layers, one behind a
//! proxy that answers 429, one that demands bearer tokens), driven by `strata sweep`, and the coordinator's
//! own schedule with two replicas.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_testkit::debian::{Rootfs, minbase_osv, with_source_version};
use strata_testkit::fleet::{Bins, Fleet, redis_cli, run};
use strata_testkit::http_proxy::HttpProxy;
use strata_testkit::populate::{Layer, Populator, Pushed};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;
use strata_testkit::token::{TokenPolicy, TokenRegistry};

fn bins() -> Bins {
    Bins::beside(Path::new(env!("CARGO_BIN_EXE_strata-coordinator")))
}

/// `strata sweep --registry REGISTRY --wait --format json [extra…]`: the report.
fn sweep(fleet: &Fleet, registry: &str, extra: &[&str]) -> Value {
    let mut cmd = fleet.strata();
    cmd.args(["sweep", "--registry", registry, "--wait", "--format", "json"]).args(extra);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "strata sweep: {out}\n{err}\n{}", fleet.logs());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("sweep JSON: {e}: {out}"))
}

fn count(report: &Value, key: &str) -> u64 {
    report[key].as_u64().unwrap_or_else(|| panic!("no {key} in {report}"))
}

/// The real bullseye base layer, the same with openssl downgraded on top (every third repository), and
/// an app layer per repository: 190 `teamN/appNNN` repositories with `v1`, `v2` and `latest` (= `v2`), and
/// 10 `prod/appNNN` repositories holding the same three manifests as `teamN/appNNN` (a promotion).
fn populate(registry: &TestRegistry) -> (Vec<Pushed>, usize) {
    let rootfs = Rootfs::bullseye();
    let base = Layer::from_tar(&std::fs::read(&rootfs.tar).expect("rootfs tar"));
    let aged = with_source_version(&rootfs.status, "openssl", "1.1.1k-1+deb11u1");
    let middle = Layer::from_tar(&TarBuilder::new().file("var/lib/dpkg/status", aged.as_bytes()).build());
    let mut populator = Populator::new(registry);
    let (mut pushed, mut layers) = (Vec::new(), BTreeSet::from([base.digest.clone(), middle.digest.clone()]));
    for i in 0..190 {
        let repo = format!("team{}/app{i:03}", i % 10);
        let app = Layer::from_tar(&TarBuilder::new().file(&format!("srv/app-{i}/VERSION"), b"1\n").build());
        layers.insert(app.digest.clone());
        let stack: Vec<&Layer> = if i % 3 == 0 { vec![&base, &middle, &app] } else { vec![&base, &app] };
        pushed.push(populator.push(&repo, "v1", &stack, &format!("{repo} v1")));
        let v2 = populator.push(&repo, "v2", &stack, &format!("{repo} v2"));
        pushed.push(populator.tag(&repo, "latest", &v2.digest));
        pushed.push(v2);
    }
    for k in 0..10 {
        let from: Vec<Pushed> =
            pushed.iter().filter(|p| p.repository == format!("team{k}/app{k:03}")).cloned().collect();
        for p in from {
            pushed.push(populator.tag(&format!("prod/app{k:03}"), &p.tag, &p.digest));
        }
    }
    (pushed, layers.len())
}

#[test]
fn sweeping_600_tags_scans_each_digest_once_then_rematches_and_finds_the_new_tag() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    // At most 50 repositories a catalog page, whatever a client asks for.
    let registry = TestRegistry::start_with_config("catalog:\n  maxentries: 50\n");
    let pushing = Instant::now();
    let (pushed, layers) = populate(&registry);
    println!("pushed 200 repositories, 600 tags over HTTP in {:.1} s", pushing.elapsed().as_secs_f64());
    let digests: BTreeSet<&str> = pushed.iter().map(|p| p.digest.as_str()).collect();
    assert_eq!((pushed.len(), digests.len()), (600, 380));
    let mut tags_of: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for p in &pushed {
        tags_of.entry(&p.digest).or_default().insert(format!("{}:{}", p.repository, p.tag));
    }
    let db = bins.build_db(tmp.path(), &[minbase_osv()], "strata.db");
    let fleet = Fleet::start(bins.clone(), &db, 2, &[]);
    let host = registry.host();

    // Night 1: every digest is new. 30 repositories a page: 7 catalog pages.
    let started = Instant::now();
    let first = sweep(&fleet, &host, &["--page-size", "30"]);
    let elapsed = started.elapsed();
    println!(
        "sweep 1 (200 repositories, 600 tags, {} digests scanned, 2 workers): {:.1} s",
        digests.len(),
        elapsed.as_secs_f64()
    );
    let counts = |r: &Value| {
        ["repositories", "tags", "digests", "submitted", "rescanned", "skipped", "failed"].map(|k| count(r, k))
    };
    assert_eq!(counts(&first), [200, 600, 380, 380, 0, 0, 0], "{}", first["failures"]);
    assert_eq!(first["waited"], true);
    let images = first["images"].as_array().unwrap();
    let swept: BTreeSet<&str> = images.iter().map(|i| i["digest"].as_str().unwrap()).collect();
    assert_eq!(swept, digests);
    for image in images {
        let digest = image["digest"].as_str().unwrap();
        assert_eq!((image["action"].as_str(), image["status"].as_str()), (Some("submitted"), Some("done")), "{image}");
        let tags: BTreeSet<String> =
            image["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().into()).collect();
        assert_eq!(tags, tags_of[digest], "{image}");
        assert!(image["reference"].as_str().unwrap().ends_with(&format!("@{digest}")), "{image}");
    }
    // Each distinct layer analysed once, however many digests and tags share it.
    let analyses = fleet.analyses();
    assert_eq!(analyses.len(), layers, "{analyses:?}");
    assert!(analyses.values().all(|n| *n == 1), "{analyses:?}");

    // Night 2: nothing new; every digest's stored inventory is re-matched. The table says so too.
    let mut cmd = fleet.strata();
    cmd.args(["sweep", "--registry", &host, "--wait", "--page-size", "30"]);
    let started = Instant::now();
    let (code, table, err) = run(cmd);
    println!("sweep 2 (nothing new, 380 digests re-matched): {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(code, 0, "{table}\n{err}");
    let row = |name: &str| -> u64 {
        let line =
            table.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("{name}: {table}"));
        line.split_whitespace().last().unwrap().parse().unwrap()
    };
    assert_eq!(
        [row("repositories"), row("tags"), row("new (submitted)"), row("rescanned"), row("failed")],
        [200, 600, 0, 380, 0],
        "{table}"
    );
    assert_eq!(fleet.analyses(), analyses, "a rescan analyses no layer");
    let mut status = fleet.strata();
    status.args(["status", "--all", "--json"]);
    let (_, out, _) = run(status);
    let scans: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(scans.len(), 380, "no scan submitted twice");

    // A new tag with a new digest: exactly that one is submitted.
    let app3 = Layer::from_tar(&TarBuilder::new().file("srv/app-3/VERSION", b"1\n").build());
    let rootfs = Rootfs::bullseye();
    let base = Layer::from_tar(&std::fs::read(&rootfs.tar).unwrap());
    let new = Populator::new(&registry).push("team3/app003", "v3", &[&base, &app3], "team3/app003 v3");
    assert!(!digests.contains(new.digest.as_str()));
    let started = Instant::now();
    let third = sweep(&fleet, &host, &[]);
    println!("sweep 3 (one new tag scanned, 380 re-matched): {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(counts(&third), [200, 601, 381, 1, 380, 0, 0], "{}", third["failures"]);
    let submitted: Vec<&Value> =
        third["images"].as_array().unwrap().iter().filter(|i| i["action"] == "submitted").collect();
    assert_eq!(submitted.len(), 1);
    assert_eq!(submitted[0]["digest"], new.digest.as_str());
    assert_eq!(submitted[0]["reference"], format!("{host}/team3/app003@{}", new.digest).as_str());
    assert_eq!(submitted[0]["status"], "done");
    let mut status = fleet.strata();
    status.args(["status", submitted[0]["scan_id"].as_str().unwrap(), "--json"]);
    let (_, out, _) = run(status);
    let labels = &serde_json::from_str::<Value>(&out).unwrap()[0]["labels"];
    assert_eq!(labels["trigger"], "sweep");
    assert_eq!(labels["repository"], "team3/app003");
    assert_eq!(labels["tag"], "v3");
    assert_eq!(fleet.analyses(), analyses, "the new digest's layers were all cached");

    let (_, metrics) = fleet.ops_get("coordinator", "/metrics");
    let metric = |name: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(metric("strata_sweep_runs_total"), 3.0, "{metrics}");
    assert_eq!(metric("strata_sweep_tags_total"), 1801.0);
    assert_eq!(metric("strata_sweep_submitted_total"), 381.0);
    assert_eq!(metric("strata_sweep_rescanned_total"), 760.0);
    assert_eq!(metric("strata_sweep_failed_total"), 0.0);
}

/// Two images on the bullseye base: `team/a:1` and `team/b:1` (and `other/c:1`, `team/sub/d:1`, which
/// the pattern `team/*` leaves out).
fn small_population(registry: &TestRegistry) -> Vec<Pushed> {
    let base = Layer::from_tar(&std::fs::read(Rootfs::bullseye().tar).expect("rootfs tar"));
    let mut populator = Populator::new(registry);
    ["team/a", "team/b", "other/c", "team/sub/d"].iter().map(|repo| populator.push(repo, "1", &[&base], repo)).collect()
}

#[test]
fn a_throttled_catalog_is_waited_for_and_patterns_pick_repositories() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    small_population(&registry);
    let proxy = HttpProxy::start(registry.port);
    proxy.answer("/v2/_catalog", 1, 429, &[("Retry-After", "2")]);
    let db = bins.build_db(tmp.path(), &[minbase_osv()], "strata.db");
    let fleet = Fleet::start(bins.clone(), &db, 1, &[]);

    let report = sweep(&fleet, &proxy.host(), &["--repos", "team/*"]);
    assert_eq!([count(&report, "repositories"), count(&report, "submitted"), count(&report, "failed")], [2, 2, 0]);
    let tags: BTreeSet<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["tags"].as_array().unwrap())
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags, BTreeSet::from(["team/a:1", "team/b:1"]));
    assert!(report["images"].as_array().unwrap().iter().all(|i| i["status"] == "done"), "{report}");
    let catalog: Vec<_> = proxy.requests().into_iter().filter(|r| r.path.starts_with("/v2/_catalog")).collect();
    assert_eq!(catalog.iter().map(|r| r.answered).collect::<Vec<_>>(), [429, 0], "{catalog:?}");
    assert!(catalog[1].at - catalog[0].at >= Duration::from_secs(2), "{catalog:?}");
}

#[test]
fn a_token_registry_is_swept_with_a_catalog_scoped_token() {
    const USER: &str = "fleet";
    const PASSWORD: &str = "Sweep-t0ken-Pa55word";
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TokenRegistry::start(TokenPolicy::require_credentials(USER, PASSWORD));
    let layout = tmp.path().join("layout");
    let rootfs = Rootfs::bullseye();
    strata_testkit::image::ImageBuilder::new()
        .layer(
            strata_testkit::image::LayerContent::TarFile(rootfs.tar.clone()),
            strata_testkit::image::Compression::Gzip,
            "ADD bullseye-minbase /",
        )
        .write_layout(&layout, "1");
    for repo in ["private/a", "private/b"] {
        registry.push(&layout, "1", &format!("{repo}:1"), &["--dest-creds", &format!("{USER}:{PASSWORD}")]);
    }
    registry.tokens.clear_requests();
    let db = bins.build_db(tmp.path(), &[minbase_osv()], "strata.db");
    // The pair is for the registry and its token server (another port, so another host).
    let realm = registry.tokens.realm();
    let hosts = format!("{},{}", registry.host(), realm.trim_start_matches("http://").split('/').next().unwrap());
    let env = [
        ("STRATA_REGISTRY_USERNAME", USER),
        ("STRATA_REGISTRY_PASSWORD", PASSWORD),
        ("STRATA_REGISTRY_HOST", hosts.as_str()),
    ];
    let fleet = Fleet::start(bins.clone(), &db, 1, &env);

    let report = sweep(&fleet, &registry.host(), &[]);
    // One manifest under two repositories: one digest, one scan.
    let counts = ["repositories", "tags", "digests", "submitted", "failed"].map(|k| count(&report, k));
    assert_eq!(counts, [2, 2, 1, 1, 0], "{report}\n{}", registry.log());
    assert_eq!(report["images"][0]["status"], "done", "{report}");
    let granted: Vec<(Vec<String>, Option<String>)> =
        registry.tokens.requests().into_iter().filter(|r| r.status == 200).map(|r| (r.scopes, r.user)).collect();
    assert!(
        granted.iter().any(|(scopes, user)| scopes == &["registry:catalog:*"] && user.as_deref() == Some(USER)),
        "no catalog-scoped token: {granted:?}"
    );
    assert!(!fleet.logs().contains(PASSWORD), "the password reached a log");
}

#[test]
fn scheduled_sweeps_run_each_tick_once_across_two_replicas() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let pushed = small_population(&registry);
    let db = bins.build_db(tmp.path(), &[minbase_osv()], "strata.db");
    let host = registry.host();
    let env = [("STRATA_SWEEP_SCHEDULE", "*/2 * * * * *"), ("STRATA_SWEEP_REGISTRY", host.as_str())];
    let mut fleet = Fleet::start(bins.clone(), &db, 1, &env);
    fleet.add_coordinator();

    let key = format!("{}:sweeps", fleet.prefix);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut runs = loop {
        let runs: Vec<Value> =
            redis_cli(&["lrange", &key, "0", "-1"]).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        if runs.len() >= 5 {
            break runs;
        }
        assert!(Instant::now() < deadline, "only {} scheduled sweeps ran: {}", runs.len(), fleet.logs());
        std::thread::sleep(Duration::from_millis(200));
    };
    let ticks: Vec<i64> = runs.iter().map(|r| r["tick"].as_i64().unwrap()).collect();
    assert_eq!(ticks.iter().collect::<BTreeSet<_>>().len(), ticks.len(), "a tick ran twice: {runs:#?}");
    assert!(ticks.iter().all(|t| t % 2 == 0), "{ticks:?}");
    for run in &runs {
        assert_eq!((run["repositories"].as_u64(), run["failed"].as_u64()), (Some(4), Some(0)), "{run}");
    }
    // The first tick submitted every digest; the later ones re-matched them, or left alone those still
    // being scanned (the other replica's ticks while the first waited for its scans): never a second scan.
    runs.sort_by_key(|r| r["tick"].as_i64());
    assert_eq!(runs[0]["submitted"].as_u64(), Some(pushed.len() as u64), "{runs:#?}");
    let later = &runs[1..];
    assert!(later.iter().all(|r| r["submitted"] == 0), "{runs:#?}");
    assert!(later.iter().all(|r| r["rescanned"].as_u64().unwrap() + r["skipped"].as_u64().unwrap() == 4), "{runs:#?}");
    assert!(later.iter().any(|r| r["rescanned"] == 4), "{runs:#?}");
    let scans: u64 = redis_cli(&["zcard", &format!("{}:scans", fleet.prefix)]).trim().parse().unwrap();
    assert_eq!(scans, pushed.len() as u64);
}
