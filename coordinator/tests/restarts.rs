//! The fleet through RabbitMQ and Redis restarts, with a RabbitMQ node and a Redis (append-only, as
//! deployed) of the test's own: scans in flight when the broker restarts finish, the coordinator and the
//! worker keep working without being restarted themselves, and `strata submit --wait` sees the end of
//! scans that finished while Redis was down.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use strata_testkit::debian::{Rootfs, minbase_osv};
use strata_testkit::fleet::{Bins, Fleet};
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::registry::TestRegistry;
use strata_testkit::services::{OwnedRabbit, OwnedRedis};
use strata_testkit::tarball::TarBuilder;

fn bins() -> Bins {
    Bins::beside(Path::new(env!("CARGO_BIN_EXE_strata-coordinator")))
}

/// `count` images sharing a base (the real bullseye dpkg database), each with an app layer of its own.
fn push_batch(registry: &TestRegistry, status: &str, batch: &str, count: usize, tmp: &Path) -> Vec<String> {
    let base = TarBuilder::new().file("var/lib/dpkg/status", status.as_bytes()).build();
    (0..count)
        .map(|i| {
            let app = TarBuilder::new().file(&format!("srv/{batch}-{i}/VERSION"), b"1\n").build();
            let image = ImageBuilder::new()
                .layer(LayerContent::Bytes(base.clone()), Compression::Gzip, "ADD base /")
                .layer(LayerContent::Bytes(app), Compression::Gzip, "COPY app /srv/");
            let layout = tmp.join(format!("layout-{batch}-{i}"));
            image.write_layout(&layout, "v1");
            registry.push(&layout, "v1", &format!("restarts/{batch}{i}:v1"), &[]);
            format!("{}/restarts/{batch}{i}:v1", registry.host())
        })
        .collect()
}

/// `strata submit --wait` on a thread, so the test can restart a service meanwhile.
fn submit_wait(fleet: &Fleet, references: &[String]) -> std::thread::JoinHandle<(i32, String)> {
    let mut cmd = fleet.strata();
    cmd.args(["submit", "--wait"]).args(references);
    std::thread::spawn(move || {
        let out = cmd.output().expect("strata submit");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    })
}

/// Waits (at most five minutes) for `submit --wait` and checks every scan ended done.
fn assert_all_done(fleet: &Fleet, waiting: std::thread::JoinHandle<(i32, String)>, count: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while !waiting.is_finished() {
        assert!(std::time::Instant::now() < deadline, "scans did not finish:\n{}", fleet.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, out) = waiting.join().expect("the submit thread");
    assert_eq!(code, 0, "{out}\n{}", fleet.logs());
    assert_eq!(out.lines().filter(|l| l.contains("\tdone\t")).count(), count, "{out}");
}

#[test]
fn broker_and_redis_restarts_lose_no_scan_and_need_no_fleet_restart() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let status = Rootfs::bullseye().status;
    let db = tmp.path().join("strata.db");
    let built =
        Command::new(&bins.strata).args(["db", "build", "--out"]).arg(&db).arg("--osv").arg(minbase_osv()).output();
    assert!(built.unwrap().status.success());
    let mut rabbit = OwnedRabbit::start(tmp.path());
    let mut redis = OwnedRedis::start(tmp.path(), true);
    let (redis_url, amqp_url) = (redis.url(), rabbit.url());
    let mut fleet = Fleet::start(bins, &db, 1, &[("STRATA_REDIS_URL", &redis_url), ("STRATA_AMQP_URL", &amqp_url)]);
    let first = push_batch(&registry, &status, "a", 3, tmp.path());
    assert_all_done(&fleet, submit_wait(&fleet, &first), 3);
    let pids = fleet.pids();

    // The broker restarts while a batch of new layers is being submitted and queued.
    let second = push_batch(&registry, &status, "b", 4, tmp.path());
    let waiting = submit_wait(&fleet, &second);
    rabbit.restart(Duration::from_millis(500));
    assert_all_done(&fleet, waiting, 4);

    // Redis restarts (keeping its append-only file) while a batch runs.
    let third = push_batch(&registry, &status, "c", 4, tmp.path());
    let waiting = submit_wait(&fleet, &third);
    redis.restart(Duration::from_millis(500));
    assert_all_done(&fleet, waiting, 4);

    // And the fleet still takes new work, with the processes it started with.
    let fourth = push_batch(&registry, &status, "d", 2, tmp.path());
    assert_all_done(&fleet, submit_wait(&fleet, &fourth), 2);
    assert_eq!(fleet.pids(), pids, "no fleet process died on the way:\n{}", fleet.logs());
}
