//! `strata-loadtest scaling`: the same population's night 1 with 1, 2, 4… workers, each on a cold cache
//! (a fresh key prefix and queue), on the run's own RabbitMQ and Redis. Efficiency is the speed-up over
//! one worker divided by the worker count: on 2 cores, more than 2 workers can only share them.

use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use strata_testkit::fleet::Bins;

use crate::faults;
use crate::night::{self, Ctx};
use crate::nights::{load_average, setup, start_fleet};
use crate::population::Spec;
use crate::push::PushStats;
use crate::report::{self, NightReport};
use crate::sampler::Sampler;
use crate::services::Backends;

#[derive(Debug, Serialize)]
pub struct ScalingRun {
    pub workers: usize,
    pub speedup: f64,
    pub efficiency: f64,
    pub night: NightReport,
}

#[derive(Debug, Serialize)]
pub struct ScalingReport {
    pub command: String,
    pub spec: Spec,
    pub cores: usize,
    pub load_average_before: String,
    pub push: PushStats,
    pub runs: Vec<ScalingRun>,
}

pub fn run(
    bins: &Bins,
    spec: &Spec,
    workers: &[usize],
    parallel: usize,
    timeout: Duration,
    command: String,
) -> Result<ScalingReport> {
    let runtime = tokio::runtime::Runtime::new()?;
    let load_average_before = load_average();
    let setup = setup(bins, &runtime, spec, parallel)?;
    let backends = Backends::owned(true)?;
    let mut runs: Vec<ScalingRun> = Vec::new();
    for &count in workers {
        eprintln!("night 1 with {count} worker(s), cold…");
        let fleet = Mutex::new(start_fleet(bins, &setup.dbs.night1, count, &backends));
        let sampler = Sampler::start(Some(backends.redis_url()), Duration::from_secs(1));
        let (url, prefix) = {
            let mut f = fleet.lock().unwrap_or_else(|p| p.into_inner());
            sampler.set_procs(faults::procs(&mut f));
            sampler.set_services(faults::services(setup.registry.pid(), &backends));
            (f.url(), f.prefix.clone())
        };
        let ctx = Ctx { runtime: &runtime, sampler: &sampler, url, redis_url: backends.redis_url(), prefix, timeout };
        let data = night::run(&ctx, &setup.pushed.references, 1, None)?;
        let night = report::night_report(&data, &setup.pushed.layers, None);
        // Per-worker throughput of the first run (normally 1 worker) is the unit.
        let base = runs
            .first()
            .map_or(night.images_per_second / count as f64, |r| r.night.images_per_second / r.workers as f64);
        let speedup = night.images_per_second / base;
        runs.push(ScalingRun { workers: count, speedup, efficiency: speedup / count as f64, night });
    }
    Ok(ScalingReport {
        command,
        spec: spec.clone(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average_before,
        push: setup.push,
        runs,
    })
}

pub fn table(report: &ScalingReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| workers | night 1 wall | images/s | speed-up | efficiency | worker CPU | analysed MiB per worker CPU s | nothing lost |"
    );
    let _ = writeln!(out, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for run in &report.runs {
        let n = &run.night;
        let _ = writeln!(
            out,
            "| {} | {:.1} s | {:.1} | {:.2}× | {:.0} % | {:.1} s | {:.0} | {} |",
            run.workers,
            n.wall_seconds,
            n.images_per_second,
            run.speedup,
            run.efficiency * 100.0,
            n.workers_cpu_seconds,
            n.analysed_mib_per_worker_cpu_second,
            n.nothing_lost
        );
    }
    out
}
