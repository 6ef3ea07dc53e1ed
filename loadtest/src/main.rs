//! `strata-loadtest`: measures a real fleet on this machine. Everything runs on 127.0.0.1: a registry of
//! its own, the release coordinator and workers, and RabbitMQ and Redis (the machine's, with a queue and
//! key prefix of the run's own, or the run's own servers in fault mode).
//!
//!   cargo build --release --workspace --bins
//!   target/release/strata-loadtest nights --images 10000 --json nights.json --plot nights.svg
//!
//! - `nights`: two nightly runs over a realistic population (docs/benchmarks.md, "Two nights");
//! - `scaling`: night 1 with 1, 2, 4 workers, cold each time (docs/scaling.md);
//! - `big-layer`: a worker's peak memory while it analyses a 1 GiB layer;
//! - `fleet`: warm rescans and one image cold through the fleet vs local mode;
//! - `query`: the fleet index's query and rollup times at 10,000 images (docs/query.md).
//!
//! It is a measuring tool, not a test: it reports what happened, including failures, and exits non-zero
//! only when it could not run or when a run lost scans.

mod analyses;
mod anchor;
mod biglayer;
mod blob;
mod client;
mod compare;
mod content;
mod costs;
mod db;
mod faults;
mod night;
mod nights;
mod plot;
mod population;
mod procstat;
mod push;
mod query;
mod redis_size;
mod report;
mod sampler;
mod scaling;
mod services;
mod simple_population;
mod table;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, Parser, Subcommand};
use strata_testkit::fleet::Bins;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(ClapArgs, Clone)]
struct PopulationArgs {
    /// Images in the registry.
    #[arg(long, default_value_t = 10_000)]
    images: usize,
    /// Share of images whose dependency layer other images share (builds of one app).
    #[arg(long, default_value_t = 0.9)]
    reuse: f64,
    /// Share of images rebuilt (a new app layer) between the nights.
    #[arg(long, default_value_t = 0.05)]
    change_rate: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Apps pushed at once.
    #[arg(long, default_value_t = 4)]
    push_parallel: usize,
}

impl PopulationArgs {
    fn spec(&self) -> population::Spec {
        population::Spec { images: self.images, reuse: self.reuse, change_rate: self.change_rate, seed: self.seed }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Two nights over a realistic population, through the gRPC API, with a DB update in between.
    Nights {
        #[command(flatten)]
        population: PopulationArgs,
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Kill a worker, restart RabbitMQ and restart Redis during night 1 (implies --own-services).
        #[arg(long)]
        faults: bool,
        /// Shares of night 1's scans finished when the worker is killed, RabbitMQ restarted, Redis
        /// restarted (each after the submission).
        #[arg(long, value_delimiter = ',', default_values_t = faults::DEFAULT_AT)]
        fault_at: Vec<f64>,
        /// Start a RabbitMQ node and a redis-server of the run's own (Redis counters become exact).
        #[arg(long)]
        own_services: bool,
        /// The owned Redis keeps no data across a restart (as the machine's Redis).
        #[arg(long)]
        no_redis_persistence: bool,
        /// Give up on a night after this long.
        #[arg(long, default_value_t = 60)]
        timeout_minutes: u64,
        /// Compressed MiB of layers decompressed for the anchor.
        #[arg(long, default_value_t = 512.0)]
        anchor_mib: f64,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
    },
    /// Night 1 (cold) with each worker count in turn, on the run's own RabbitMQ and Redis.
    Scaling {
        #[command(flatten)]
        population: PopulationArgs,
        #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
        workers: Vec<usize>,
        #[arg(long, default_value_t = 60)]
        timeout_minutes: u64,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
    },
    /// One worker analyses one large real layer; reports its peak RSS.
    BigLayer {
        /// Uncompressed size of the layer, in MiB.
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Warm-rescan and cold-scan figures for the fleet.
    Fleet {
        #[arg(long, default_value_t = 1000)]
        images: usize,
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Repetitions of the single-image cold comparison (medians are reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// The fleet index's answer times (`strata query`, `strata rollup`) at `images` indexed images, with a
    /// Redis PING and a GetReport as anchors (docs/benchmarks.md, "Fleet query").
    Query {
        #[arg(long, default_value_t = 10_000)]
        images: usize,
        /// Timed calls of each kind (median and p95 are reported).
        #[arg(long, default_value_t = 20)]
        repetitions: usize,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
}

fn bins() -> Result<Bins> {
    let me = std::env::current_exe().context("locating this binary")?;
    Ok(Bins::beside(&me))
}

fn write(path: &Option<PathBuf>, bytes: &[u8]) -> Result<()> {
    if let Some(path) = path {
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    match Args::parse().command {
        Cmd::Nights {
            population,
            workers,
            faults,
            fault_at,
            own_services,
            no_redis_persistence,
            timeout_minutes,
            anchor_mib,
            json,
            plot,
        } => {
            let [kill, rabbit, redis] = fault_at[..] else {
                bail!("--fault-at takes three shares: worker,rabbitmq,redis")
            };
            let options = nights::Options {
                spec: population.spec(),
                workers,
                faults,
                fault_at: [kill, rabbit, redis],
                own_services,
                redis_appendonly: !no_redis_persistence,
                timeout: Duration::from_secs(timeout_minutes * 60),
                push_parallel: population.push_parallel,
                anchor_mib,
            };
            let report = nights::run(&bins()?, &options, command)?;
            print!("{}", table::run(&report));
            write(&json, &serde_json::to_vec_pretty(&report)?)?;
            let title = format!("strata-loadtest nights: {} images, {} workers", report.spec.images, report.workers);
            let series: Vec<(String, &report::NightReport)> =
                report.nights.iter().map(|n| (format!("night {}", n.night), n)).collect();
            write(&plot, plot::svg(&title, &series).as_bytes())?;
            if !report.checks.nothing_lost {
                bail!("scans were lost or did not finish: see the report");
            }
        }
        Cmd::Scaling { population, workers, timeout_minutes, json, plot } => {
            let timeout = Duration::from_secs(timeout_minutes * 60);
            let report =
                scaling::run(&bins()?, &population.spec(), &workers, population.push_parallel, timeout, command)?;
            print!("{}", scaling::table(&report));
            write(&json, &serde_json::to_vec_pretty(&report)?)?;
            let title =
                format!("strata-loadtest scaling: {} images, night 1 (cold) per worker count", report.spec.images);
            let series: Vec<(String, &report::NightReport)> =
                report.runs.iter().map(|r| (format!("{} worker(s)", r.workers), &r.night)).collect();
            write(&plot, plot::svg(&title, &series).as_bytes())?;
        }
        Cmd::BigLayer { size_mib, json } => {
            let report = biglayer::run(&bins()?, size_mib, command)?;
            print!("{}", biglayer::table(&report));
            write(&json, &serde_json::to_vec_pretty(&report)?)?;
        }
        Cmd::Fleet { images, workers, runs, json } => compare::fleet(&bins()?, images, workers, runs, json.as_deref())?,
        Cmd::Query { images, repetitions, json } => {
            let report = query::run(&bins()?, images, repetitions, command)?;
            print!("{}", query::table(&report));
            write(&json, &serde_json::to_vec_pretty(&report)?)?;
        }
    }
    Ok(())
}
