//! `query`: how long the fleet index takes to answer at N images. A real coordinator scans a real image
//! (bullseye, openssl downgraded); their reports are then indexed N times over (as N references on 20 shared base layers, each with
//! an app layer of its own) by the coordinator's own index-writing function, under the coordinator's
//! prefix, and `Query` and `Rollup` are timed over gRPC. Anchors from the same run: a Redis `PING` and a
//! `GetReport` of one real report, over the same connections.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use strata_coordinator::query::index;
use strata_coordinator::store::ScanStore;
use strata_proto::status::is_terminal;
use strata_proto::v1::{FleetQueryRequest, GetReportRequest, GetScanRequest, RollupRequest, ScanStatus};
use strata_scanner::report::Report;
use strata_testkit::debian::{Rootfs, with_source_version};
use strata_testkit::fleet::{Bins, Fleet};
use strata_testkit::populate::{Layer, Populator};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

use crate::client;

const REDIS: &str = "redis://127.0.0.1:6379";
/// Base layers the synthetic references share.
const BASES: usize = 20;

#[derive(Debug, Serialize)]
pub struct Timing {
    pub what: String,
    pub median_ms: f64,
    pub p95_ms: f64,
    /// Matches of a query, bases of a rollup.
    pub answer_size: usize,
}

#[derive(Debug, Serialize)]
pub struct QueryReport {
    pub command: String,
    pub images: usize,
    pub repetitions: usize,
    /// Redis `used_memory` growth per indexed image.
    pub index_bytes_per_image: f64,
    pub seed_seconds: f64,
    pub timings: Vec<Timing>,
    pub anchors: Vec<Timing>,
}

fn stats(what: &str, mut samples: Vec<Duration>, answer_size: usize) -> Timing {
    samples.sort();
    let at = |q: f64| samples.get(((samples.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    Timing {
        what: what.to_string(),
        median_ms: at(0.5).as_secs_f64() * 1000.0,
        p95_ms: at(0.95).as_secs_f64() * 1000.0,
        answer_size,
    }
}

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> Result<f64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .context("INFO memory without used_memory")
}

pub fn run(bins: &Bins, images: usize, repetitions: usize, command: String) -> Result<QueryReport> {
    let dir = tempfile::tempdir()?;
    let db = crate::simple_population::build_db(bins, dir.path())?;
    let registry = TestRegistry::start();
    // The real bullseye base with openssl downgraded to a version real advisories fix, and an app layer.
    let rootfs = Rootfs::bullseye();
    let status = with_source_version(&rootfs.status, "openssl", "1.1.1k-1+deb11u1");
    let base = Layer::from_tar(
        &TarBuilder::new()
            .file("etc/os-release", &rootfs.file("usr/lib/os-release"))
            .file("etc/debian_version", &rootfs.file("etc/debian_version"))
            .file("var/lib/dpkg/status", status.as_bytes())
            .build(),
    );
    let app = Layer::from_tar(&TarBuilder::new().file("srv/app/1.txt", b"app\n").build());
    let pushed = Populator::new(&registry).push("fleet/app", "v1", &[&base, &app], "1");
    let references = vec![format!("{}/{}:{}", registry.host(), pushed.repository, pushed.tag)];
    let fleet = Fleet::start(bins.clone(), &db, 1, &[]);
    tokio::runtime::Runtime::new()?.block_on(measure(&fleet, &references, images, repetitions, command))
}

async fn measure(
    fleet: &Fleet,
    references: &[String],
    images: usize,
    repetitions: usize,
    command: String,
) -> Result<QueryReport> {
    let mut grpc = client::connect(&fleet.url()).await?;
    let ids = client::submit(&mut grpc, references, 1).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let scan = loop {
        let scan = grpc.get_scan(GetScanRequest { id: ids[0].clone() }).await?.into_inner();
        if is_terminal(scan.status) {
            if scan.status != ScanStatus::Done as i32 {
                bail!("the real scan did not finish done: {}", scan.error);
            }
            break scan;
        }
        if Instant::now() > deadline {
            bail!("the real scan did not finish in 10 minutes\n{}", fleet.logs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let json = grpc.get_report(GetReportRequest { id: scan.id.clone() }).await?.into_inner().json;
    let mut report: Report = serde_json::from_slice(&json)?;
    for result in &mut report.results {
        result.package_list = None; // the index never reads it; cloning it 10,000 times would
    }
    let store = ScanStore::connect(&redis::Client::open(REDIS)?, &fleet.prefix).await?;
    let mut conn = redis::Client::open(REDIS)?.get_multiplexed_async_connection().await?;
    let before = used_memory(&mut conn).await?;
    let started = Instant::now();
    let host = references[0].split('/').next().unwrap_or_default().to_string();
    let base_digest = report.artifact.layers.first().map(|l| l.diff_id.clone()).context("a layer")?;
    let mut pipe = redis::pipe();
    for i in 0..images {
        let mut variant = report.clone();
        if let Some(base) = variant.artifact.layers.get_mut(0) {
            base.diff_id = format!("{}{:02x}", &base_digest[..base_digest.len() - 2], i % BASES);
        }
        if let Some(app) = variant.artifact.layers.get_mut(1) {
            app.diff_id = format!("sha256:{i:064x}");
        }
        let mut record = scan.clone();
        record.id = format!("loadtest-{i}");
        record.reference = format!("{host}/fleet/app{}:v{i}", i % 500);
        pipe.add_command(index::prepare(&store, &record, &variant)).ignore();
        if (i + 1) % 100 == 0 || i + 1 == images {
            let _: () = pipe.query_async(&mut conn).await?;
            pipe = redis::pipe();
        }
    }
    let seed_seconds = started.elapsed().as_secs_f64();
    let index_bytes_per_image = (used_memory(&mut conn).await? - before) / images.max(1) as f64;

    let advisories: Vec<String> = {
        let mut ids: Vec<String> = report.results.iter().flat_map(|r| &r.findings).map(|f| f.id.clone()).collect();
        ids.dedup();
        ids.into_iter().take(5).collect()
    };
    let package = report.results.iter().flat_map(|r| &r.findings).map(|f| f.package.clone()).next();
    let (Some(advisory), Some(package)) = (advisories.first().cloned(), package) else {
        bail!("the real report has no findings to query")
    };
    let mut timings = Vec::new();
    for (what, request) in [
        (format!("Query --advisory {advisory}"), FleetQueryRequest { advisory, ..Default::default() }),
        (format!("Query --package {package}"), FleetQueryRequest { package: package.clone(), ..Default::default() }),
        (
            format!("Query --package {package} --repository fleet/app1*"),
            FleetQueryRequest { package, repository: "fleet/app1*".into(), ..Default::default() },
        ),
    ] {
        let (mut samples, mut size) = (Vec::new(), 0);
        for _ in 0..repetitions {
            let started = Instant::now();
            let json = grpc.query(request.clone()).await?.into_inner().json;
            samples.push(started.elapsed());
            let answer: strata_coordinator::query::QueryAnswer = serde_json::from_slice(&json)?;
            size = answer.matches.len();
        }
        timings.push(stats(&what, samples, size));
    }
    let (mut samples, mut size) = (Vec::new(), 0);
    for _ in 0..repetitions {
        let started = Instant::now();
        let json =
            grpc.rollup(RollupRequest { min_images: 2, limit: 20, ..Default::default() }).await?.into_inner().json;
        samples.push(started.elapsed());
        size = serde_json::from_slice::<strata_coordinator::query::RollupAnswer>(&json)?.bases.len();
    }
    timings.push(stats("Rollup --min-images 2 --limit 20", samples, size));

    let mut pings = Vec::new();
    let mut reports = Vec::new();
    for _ in 0..repetitions {
        let started = Instant::now();
        store.ping().await?;
        pings.push(started.elapsed());
        let started = Instant::now();
        let json = grpc.get_report(GetReportRequest { id: scan.id.clone() }).await?.into_inner().json;
        reports.push(started.elapsed());
        size = json.len();
    }
    let anchors = vec![stats("Redis PING", pings, 0), stats("GetReport (one real report, bytes)", reports, size)];
    // The seeded index stays under the run's own prefix; drop it so the shared Redis is left as found.
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}:*", fleet.prefix))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let _: () = redis::cmd("UNLINK").arg(&keys).query_async(&mut conn).await?;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    Ok(QueryReport { command, images, repetitions, index_bytes_per_image, seed_seconds, timings, anchors })
}

pub fn table(report: &QueryReport) -> String {
    let mut out = format!(
        "{} images indexed in {:.1} s, {:.0} bytes of Redis per image\n",
        report.images, report.seed_seconds, report.index_bytes_per_image
    );
    for t in report.timings.iter().chain(&report.anchors) {
        out +=
            &format!("{:<60} median {:>8.2} ms  p95 {:>8.2} ms  ({})\n", t.what, t.median_ms, t.p95_ms, t.answer_size);
    }
    out
}
