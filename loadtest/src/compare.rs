//! `strata-loadtest fleet`: warm rescans and one image cold through the fleet vs local mode, over the
//! simple population (one shared real base layer, one tiny app layer per image) on the machine's RabbitMQ
//! and Redis.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use strata_testkit::fleet::{Bins, Fleet};
use strata_testkit::registry::TestRegistry;

use crate::simple_population as population;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

pub fn fleet(bins: &Bins, images: usize, workers: usize, runs: usize, json_out: Option<&Path>) -> Result<()> {
    let bins = bins.clone();
    let tmp = tempfile::tempdir()?;
    let registry = TestRegistry::start();
    eprintln!("pushing {images} images over one real bullseye base layer…");
    let population = population::push(&registry, images).context("pushing the population")?;
    let db = population::build_db(&bins, tmp.path())?;

    // Night 1 and 2 and the rescan, on one fleet.
    let fleet = Fleet::start(bins.clone(), &db, workers, &[]);
    let night1 = submit_wait(&fleet, &population.references)?;
    let night2 = submit_wait(&fleet, &population.references)?;
    let rescan = timed(|| {
        let mut cmd = fleet.strata();
        cmd.args(["rescan", "--all", "--json"]);
        run_ok(cmd).map(|_| ())
    })?;
    let analyses: u64 = fleet.analyses().values().sum();
    drop(fleet);

    // One real image, cold: fleet (fresh queue and cache each run) vs local mode.
    let mut fleet_cold = Vec::new();
    let mut local_cold = Vec::new();
    for _ in 0..runs {
        let fresh = Fleet::start(bins.clone(), &db, 1, &[]);
        fleet_cold.push(submit_wait(&fresh, &population.references[..1])?.as_secs_f64());
        drop(fresh);
        local_cold.push(
            timed(|| {
                let mut cmd = Command::new(&bins.strata);
                cmd.args([
                    "image",
                    &population.references[0],
                    "--quiet",
                    "--format",
                    "json",
                    "--output",
                    "/dev/null",
                    "--db",
                ])
                .arg(&db);
                run_ok(cmd).map(|_| ())
            })?
            .as_secs_f64(),
        );
    }
    let (fleet_cold, local_cold) = (median(fleet_cold), median(local_cold));
    let n = images as f64;
    let report = json!({
        "images": images,
        "workers": workers,
        "layers_analysed_total": analyses,
        "night1_seconds": night1.as_secs_f64(),
        "night1_images_per_second": n / night1.as_secs_f64(),
        "night2_seconds": night2.as_secs_f64(),
        "night2_images_per_second": n / night2.as_secs_f64(),
        "rescan_seconds": rescan.as_secs_f64(),
        "rescan_images_per_second": n / rescan.as_secs_f64(),
        "cold_one_image_fleet_seconds_median": fleet_cold,
        "cold_one_image_local_seconds_median": local_cold,
        "fleet_overhead_ratio": fleet_cold / local_cold,
        "runs": runs,
    });
    println!("| measurement | value |\n| --- | --- |");
    println!("| images (one shared real base layer + one app layer each) | {images} |");
    println!("| layers analysed in total (night 1 + 2) | {analyses} |");
    println!("| night 1 (cold) | {:.1} s, {:.0} images/s |", night1.as_secs_f64(), n / night1.as_secs_f64());
    println!(
        "| night 2 (all layers cached) | {:.1} s, {:.0} images/s |",
        night2.as_secs_f64(),
        n / night2.as_secs_f64()
    );
    println!(
        "| rescan (re-match stored inventories) | {:.2} s, {:.0} images/s |",
        rescan.as_secs_f64(),
        n / rescan.as_secs_f64()
    );
    println!("| one real image cold, fleet (median of {runs}) | {fleet_cold:.2} s |");
    println!("| same image, `strata image` local mode (median of {runs}) | {local_cold:.2} s |");
    println!("| fleet / local | {:.2} |", fleet_cold / local_cold);
    if let Some(path) = json_out {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

fn timed(f: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

fn run_ok(mut cmd: Command) -> Result<String> {
    let out = cmd.output().context("running a fleet command")?;
    if !out.status.success() {
        bail!("{:?} failed: {}{}", cmd, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Submits with `--file` (one streamed gRPC call) and waits for every scan.
fn submit_wait(fleet: &Fleet, references: &[String]) -> Result<Duration> {
    let list = tempfile::NamedTempFile::new()?;
    std::fs::write(list.path(), references.join("\n"))?;
    timed(|| {
        let mut cmd = fleet.strata();
        cmd.args(["submit", "--wait", "--file"]).arg(list.path());
        run_ok(cmd).map(|_| ()).with_context(|| fleet.logs())
    })
}
