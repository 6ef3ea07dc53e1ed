//! `strata-loadtest nights`: the population pushed to a registry of the run's own, night 1 through the
//! gRPC API (with faults in fault mode), then the rebuilds and the DB update, then night 2; the report.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use strata_testkit::fleet::{Bins, Fleet};
use strata_testkit::registry::TestRegistry;

use crate::anchor::{self, Anchor};
use crate::content::Materials;
use crate::costs::{self, Costs};
use crate::db::{self, Dbs};
use crate::faults::{self, Injector};
use crate::night::{self, Ctx};
use crate::population::Spec;
use crate::push::{self, PushStats, Pushed, Registry};
use crate::report::{self, NightReport};
use crate::sampler::Sampler;
use crate::services::Backends;

#[derive(Debug, Clone)]
pub struct Options {
    pub spec: Spec,
    pub workers: usize,
    pub faults: bool,
    /// Shares of finished scans at which the faults fire.
    pub fault_at: [f64; 3],
    pub own_services: bool,
    pub redis_appendonly: bool,
    pub timeout: Duration,
    pub push_parallel: usize,
    pub anchor_mib: f64,
}

/// Everything a run scans: the registry with the pushed population, and the two DBs.
pub struct Setup {
    pub registry: TestRegistry,
    pub client: Registry,
    pub materials: Arc<Materials>,
    pub pushed: Pushed,
    pub push: PushStats,
    pub dbs: Dbs,
    pub dir: tempfile::TempDir,
}

pub fn setup(bins: &Bins, runtime: &tokio::runtime::Runtime, spec: &Spec, parallel: usize) -> Result<Setup> {
    let dir = tempfile::tempdir()?;
    let registry = TestRegistry::start();
    let client = Registry::new(&registry.host())?;
    eprintln!("reading the fixtures…");
    let materials = Arc::new(Materials::load().context("building the base, runtime and package content")?);
    eprintln!("pushing {} images…", spec.images);
    let (pushed, push) = runtime.block_on(push::push_all(&client, &registry.host(), spec, &materials, parallel))?;
    eprintln!("pushed in {:.1} s; building the DBs…", push.seconds);
    let dbs = db::build(bins, dir.path())?;
    Ok(Setup { registry, client, materials, pushed, push, dbs, dir })
}

/// The fleet processes' environment for these backends (production re-check interval, not the tests').
pub fn fleet_env(backends: &Backends) -> Vec<(String, String)> {
    let mut env = backends.env();
    env.push(("STRATA_RECHECK_MS".into(), "5000".into()));
    env
}

pub fn start_fleet(bins: &Bins, db: &std::path::Path, workers: usize, backends: &Backends) -> Fleet {
    let env = fleet_env(backends);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Fleet::start(bins.clone(), db, workers, &env)
}

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub command: String,
    pub spec: Spec,
    pub workers: usize,
    pub cores: usize,
    pub load_average_before: String,
    pub services: String,
    pub push: PushStats,
    pub apps: usize,
    pub distinct_layers_pushed_before_night1: usize,
    pub db: Dbs,
    pub nights: Vec<NightReport>,
    pub anchor: Option<Anchor>,
    pub costs: Costs,
    pub checks: costs::Checks,
    /// What the run left in Redis (both nights' scans), by key family.
    pub redis: Option<crate::redis_size::RedisSize>,
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(bins: &Bins, options: &Options, command: String) -> Result<RunReport> {
    let runtime = tokio::runtime::Runtime::new()?;
    let load_average_before = load_average();
    let mut setup = setup(bins, &runtime, &options.spec, options.push_parallel)?;
    let distinct_before = setup.pushed.layers.len();
    let live_db = setup.dir.path().join("strata.db");
    std::fs::copy(&setup.dbs.night1, &live_db)?;
    let own = options.own_services || options.faults;
    let mut backends = if own { Backends::owned(options.redis_appendonly)? } else { Backends::machine()? };
    let fleet = Mutex::new(start_fleet(bins, &live_db, options.workers, &backends));
    let sampler = Sampler::start(own.then(|| backends.redis_url()), Duration::from_secs(1));
    let (url, prefix) = {
        let mut f = fleet.lock().unwrap_or_else(|p| p.into_inner());
        sampler.set_procs(faults::procs(&mut f));
        sampler.set_services(faults::services(setup.registry.pid(), &backends));
        (f.url(), f.prefix.clone())
    };
    let redis_url = backends.redis_url();
    let mut nights = Vec::new();
    let redis;
    {
        let ctx = Ctx { runtime: &runtime, sampler: &sampler, url, redis_url, prefix, timeout: options.timeout };
        eprintln!("night 1…");
        let injector = options.faults.then_some(Injector {
            fleet: &fleet,
            registry_pid: setup.registry.pid(),
            backends: &mut backends,
            sampler: &sampler,
            workers: options.workers,
            at: options.fault_at,
        });
        let data = night::run(&ctx, &setup.pushed.references, 1, injector)?;
        nights.push(report::night_report(&data, &setup.pushed.layers, None));
        eprintln!(
            "night 1: {:.1} s; rebuilding {} images and updating the DB…",
            data.wall_seconds,
            options.spec.changed().len()
        );
        let new = runtime.block_on(push::rebuild(
            &setup.client,
            &options.spec,
            &setup.materials,
            &mut setup.pushed,
            options.push_parallel,
        ))?;
        db::swap(&setup.dbs.night2, &live_db)?;
        eprintln!("night 2…");
        let data = night::run(&ctx, &setup.pushed.references, 2, None)?;
        nights.push(report::night_report(&data, &setup.pushed.layers, Some(&new)));
        redis = crate::redis_size::measure(&ctx.redis_url, &ctx.prefix)
            .inspect_err(|e| eprintln!("sizing the run's Redis keys: {e:#}"))
            .ok();
    }
    drop(sampler);
    drop(fleet);
    eprintln!("decompressing the same layers for the anchor…");
    let anchor = runtime.block_on(anchor::measure(&setup.client, &setup.pushed.layers, options.anchor_mib))?;
    let costs = costs::costs(&nights, Some(&anchor));
    let checks = costs::checks(&nights);
    Ok(RunReport {
        command,
        spec: options.spec.clone(),
        workers: options.workers,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average_before,
        services: if own {
            format!(
                "own RabbitMQ node and redis-server ({})",
                if options.redis_appendonly { "appendonly yes" } else { "no persistence" }
            )
        } else {
            "the machine's RabbitMQ and Redis (own queue and key prefix)".to_string()
        },
        push: setup.push.clone(),
        apps: options.spec.apps().len(),
        distinct_layers_pushed_before_night1: distinct_before,
        db: setup.dbs.clone(),
        nights,
        anchor: Some(anchor),
        costs,
        checks,
        redis,
    })
}
