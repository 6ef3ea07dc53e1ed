//! TLS to the brokers, against a RabbitMQ node and a Redis server of the test's own that listen only on
//! TLS and require client certificates (certificates made by `openssl` in the test): a job published and
//! consumed over `amqps://`, a layer result stored and read over `rediss://`, a wrong CA refused with an
//! error that names the broker and the CA file and not the password, and a whole scan through the real
//! coordinator and worker with both URLs TLS (and a quorum job queue), also shared by `strata image --cache`.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{bins, build_db, findings, fleet_report, run, small_image};
use strata_fleet::cache::{LayerCache, RedisCache};
use strata_fleet::queue::{JobQueue, RabbitQueue};
use strata_fleet::queue_type::QueueArgs;
use strata_fleet::tls::{TlsFiles, redis_client};
use strata_fleet::{LayerJob, codec};
use strata_testkit::fleet::Fleet;
use strata_testkit::pki::Pki;
use strata_testkit::registry::TestRegistry;
use strata_testkit::services::{OwnedRabbit, OwnedRedis};

const DIGEST: &str = "sha256:7777777777777777777777777777777777777777777777777777777777777777";

fn files(pki: &Pki, ca: &Path) -> TlsFiles {
    TlsFiles {
        ca: Some(ca.to_path_buf()),
        client_cert: Some(pki.client_cert.clone()),
        client_key: Some(pki.client_key.clone()),
    }
}

/// `scheme://user:s3cret@…` from a broker's URL, to show that errors never carry the password.
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or_default();
    let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://strata:s3cret@{rest}")
}

async fn brokers_over_tls(pki: &Pki, rabbit: &OwnedRabbit, redis: &OwnedRedis) {
    let trusted = files(pki, &pki.ca);

    let queue = RabbitQueue::connect_with(&rabbit.url(), "strata-test.tls", &trusted, &QueueArgs::default())
        .await
        .expect("amqps:// with the test CA and a client certificate");
    let job = LayerJob { digest: DIGEST.into(), scan_id: "tls".into(), ..Default::default() };
    queue.publish(&job, 0).await.expect("publish over amqps");
    let mut stream = queue.consume(1).await.expect("consume over amqps");
    let delivery = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("a delivery within 30 s")
        .expect("stream open")
        .expect("delivery");
    assert_eq!(delivery.job.digest, DIGEST);
    delivery.ack().await.expect("ack over amqps");

    let client =
        redis_client(&redis.url(), &trusted).await.expect("rediss:// with the test CA and a client certificate");
    let cache = RedisCache::open(client, "strata-test:tls", Duration::from_secs(60)).await.expect("cache over rediss");
    let result = codec::failed_result(DIGEST, "stored over TLS", 1);
    cache.put(&result).await.expect("put over rediss");
    assert_eq!(cache.get(DIGEST).await.expect("get over rediss"), Some(result));

    // A server certificate from another CA is refused; the error names the broker and the CA file.
    let wrong = files(pki, &pki.other_ca);
    let other_ca = pki.other_ca.display().to_string();
    let e = RabbitQueue::connect_with(&with_password(&rabbit.url()), "strata-test.tls", &wrong, &QueueArgs::default())
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.starts_with("RabbitMQ: connecting to amqps://***@127.0.0.1"), "{e}");
    assert!(e.contains(&other_ca) && e.to_lowercase().contains("certificate") && !e.contains("s3cret"), "{e}");
    let e = redis_client(&with_password(&redis.url()), &wrong).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.starts_with("Redis: connecting to rediss://***@127.0.0.1"), "{e}");
    assert!(e.contains(&other_ca) && e.to_lowercase().contains("certificate") && !e.contains("s3cret"), "{e}");

    // Both brokers require a client certificate: without one, no connection, and at once (a TLS failure
    // is not retried for the reconnect backoff).
    let no_client = TlsFiles { ca: Some(pki.ca.clone()), ..Default::default() };
    assert!(redis_client(&redis.url(), &no_client).await.is_err(), "Redis accepted a client without a certificate");
    let refused = RabbitQueue::connect_with(&rabbit.url(), "strata-test.tls", &no_client, &QueueArgs::default()).await;
    let e = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.starts_with("RabbitMQ: connecting to amqps://"), "RabbitMQ without a client certificate: {e}");
}

#[test]
fn the_fleet_works_over_amqps_and_rediss_with_a_private_ca_and_client_certificates() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let pki_dir = tmp.path().join("pki");
    std::fs::create_dir(&pki_dir).unwrap();
    let pki = Pki::new(&pki_dir);
    let rabbit = OwnedRabbit::start_tls(tmp.path(), &pki);
    let redis = OwnedRedis::start_tls(tmp.path(), &pki);

    tokio::runtime::Runtime::new().unwrap().block_on(brokers_over_tls(&pki, &rabbit, &redis));

    let db = build_db(&bins, tmp.path());
    let registry = TestRegistry::start();
    let layout = tmp.path().join("layout");
    small_image(&layout, "1", "tls");
    registry.push(&layout, "1", "tls/app:1", &[]);
    let reference = format!("{}/tls/app:1", registry.host());
    let path = |p: &PathBuf| p.display().to_string();
    let (ca, cert, key) = (path(&pki.ca), path(&pki.client_cert), path(&pki.client_key));
    let (amqp, redis_url) = (rabbit.url(), redis.url());
    let env = [
        ("STRATA_AMQP_URL", amqp.as_str()),
        ("STRATA_AMQP_CA", ca.as_str()),
        ("STRATA_AMQP_CLIENT_CERT", cert.as_str()),
        ("STRATA_AMQP_CLIENT_KEY", key.as_str()),
        ("STRATA_REDIS_URL", redis_url.as_str()),
        ("STRATA_REDIS_CA", ca.as_str()),
        ("STRATA_REDIS_CLIENT_CERT", cert.as_str()),
        ("STRATA_REDIS_CLIENT_KEY", key.as_str()),
        // As the prod overlay runs it: a quorum job queue, declared by the coordinator and the worker alike.
        ("STRATA_QUEUE_TYPE", "quorum"),
    ];
    let fleet = Fleet::start(bins.clone(), &db, 1, &env);
    let mut cmd = fleet.strata();
    cmd.args(["submit", "--wait", &reference]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "submit --wait: {out}\n{err}\n{}", fleet.logs());
    let id = out.split('\t').next().unwrap_or_default().to_string();
    let report = fleet_report(&fleet, &id, &[]);
    assert!(!findings(&report).is_empty(), "the image's downgraded openssl has advisories: {report}");
    // The job queue is on the TLS node (the machine's RabbitMQ never saw it), as a quorum queue.
    let queues = rabbit.ctl(&["list_queues", "name", "type"]);
    let row = |name: &str| queues.lines().find(|l| l.split_whitespace().next() == Some(name)).map(str::to_string);
    assert_eq!(row(&fleet.queue).as_deref().and_then(|r| r.split_whitespace().nth(1)), Some("quorum"), "{queues}");

    // `strata image --cache rediss://…` takes the same settings (as flags here) and shares the layer the
    // worker stored: the local report has the fleet's findings.
    let mut cmd = std::process::Command::new(&bins.strata);
    cmd.env("STRATA_KEY_PREFIX", &fleet.prefix).args(["image", &reference, "--quiet", "--format", "json", "--db"]);
    cmd.arg(&db).args([
        "--cache",
        &redis_url,
        "--redis-ca",
        &ca,
        "--redis-client-cert",
        &cert,
        "--redis-client-key",
        &key,
    ]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "strata image --cache rediss://: {err}");
    let local: serde_json::Value = serde_json::from_str(&out).expect("report json");
    assert_eq!(findings(&local), findings(&report));
    let (code, _, err) = run({
        let mut cmd = std::process::Command::new(&bins.strata);
        cmd.args(["image", &reference, "--quiet", "--db"]).arg(&db).args(["--cache", &redis_url]);
        cmd.args(["--redis-ca", &path(&pki.other_ca), "--redis-client-cert", &cert, "--redis-client-key", &key]);
        cmd
    });
    assert_ne!(code, 0, "a cache whose certificate is from another CA must not be used");
    assert!(err.contains("UnknownIssuer") && err.contains("other-ca.pem"), "{err}");
}
