//! A night's measurements as the report shows them (table on stdout, JSON with `--json`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use strata_proto::v1::Scan;

use crate::faults::FaultEvent;
use crate::night::{self, NightData};
use crate::push::LayerInfo;
use crate::sampler::{Point, RedisTotals};

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// Nearest-rank percentiles.
pub fn percentiles(mut values: Vec<f64>) -> Percentiles {
    values.sort_by(f64::total_cmp);
    let at = |p: f64| {
        if values.is_empty() {
            return 0.0;
        }
        let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values[rank - 1]
    };
    Percentiles { p50: at(0.50), p95: at(0.95), p99: at(0.99), max: at(1.0) }
}

#[derive(Debug, Clone, Serialize)]
pub struct Layers {
    /// Layers of all images (with repeats): what a scanner without a shared cache would analyse.
    pub referenced: u64,
    /// Of those, served from the layer cache without waiting.
    pub served_from_cache: u64,
    /// Served by an analysis during this night (queued by the scan, or by another scan it waited for).
    pub analysed_for_scans: u64,
    /// Distinct layers analysed (the workers' counters).
    pub distinct_analysed: usize,
    /// Analyses beyond the first of a layer (a redelivery after a fault, or a lost claim).
    pub repeated_analyses: u64,
    /// Scans that waited for a layer another scan had queued instead of queueing it again.
    pub single_flight_saves: f64,
    pub jobs_queued: f64,
    pub job_retries: f64,
    pub dead_lettered: f64,
    /// Layers analysed this night that had been analysed before (the cache failed them).
    pub reanalysed: usize,
    /// Night 2: layers pushed since night 1.
    pub new_layers: Option<usize>,
    /// Night 2: old layers with no earlier analysis on record (their night-1 scan failed first, or Redis
    /// lost the cache and the counters).
    pub first_analysed_old_layers: Option<usize>,
    pub analysed_mib: f64,
    pub analysed_compressed_mib: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NightReport {
    pub night: u32,
    pub images: usize,
    pub wall_seconds: f64,
    pub submit_seconds: f64,
    pub images_per_second: f64,
    pub timed_out: bool,
    /// Seconds after the last scan until no job was queued or held by a worker.
    pub settle_seconds: f64,
    pub statuses: BTreeMap<String, usize>,
    pub failure_reasons: BTreeMap<String, usize>,
    /// Every submitted scan ended done, or failed with a reason.
    pub nothing_lost: bool,
    pub layers: Layers,
    pub latency_seconds: Percentiles,
    pub coordinator_cpu_seconds: f64,
    pub workers_cpu_seconds: f64,
    pub coordinator_peak_rss_mib: f64,
    pub worker_peak_rss_mib: f64,
    /// CPU of the registry, and of Redis and RabbitMQ when the run owns them.
    pub services_cpu_seconds: BTreeMap<String, f64>,
    /// Share of the machine's cores busy during the night (every process, other users' too).
    pub machine_busy_share: f64,
    /// Uncompressed layer MiB analysed per second of worker CPU.
    pub analysed_mib_per_worker_cpu_second: f64,
    pub redis: Option<RedisTotals>,
    pub max_queue_depth: f64,
    pub findings: BTreeMap<String, u64>,
    pub watch_reconnects: usize,
    pub faults: Vec<FaultEvent>,
    pub timeline: Vec<Point>,
}

fn findings(scans: &[Scan]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for s in scans.iter().filter_map(|s| s.summary.as_ref()) {
        for (name, n) in [
            ("total", s.total),
            ("critical", s.critical),
            ("high", s.high),
            ("medium", s.medium),
            ("low", s.low),
            ("unknown", s.unknown),
        ] {
            *out.entry(name.to_string()).or_default() += u64::from(n);
        }
    }
    out
}

/// `new_layers`: for night 2, the layers pushed since night 1.
pub fn night_report(
    data: &NightData,
    layers: &BTreeMap<String, LayerInfo>,
    new_layers: Option<&BTreeMap<String, LayerInfo>>,
) -> NightReport {
    let (statuses, failure_reasons) = night::outcome(data);
    let ok = |name: &str| statuses.get(name).copied().unwrap_or(0);
    let failed_with_reason = data
        .scans
        .iter()
        .filter(|s| s.status == strata_proto::v1::ScanStatus::Failed as i32)
        .all(|s| !s.error.trim().is_empty());
    let nothing_lost = ok("done") + ok("failed") == data.ids.len() && failed_with_reason && !data.timed_out;
    let mine: BTreeSet<&String> = data.ids.iter().collect();
    let scans: Vec<&Scan> = data.scans.iter().filter(|s| mine.contains(&s.id)).collect();
    let sum = |f: fn(&Scan) -> u32| scans.iter().map(|s| u64::from(f(s))).sum::<u64>();
    let latencies: Vec<f64> = scans
        .iter()
        .filter(|s| strata_proto::status::is_terminal(s.status))
        .map(|s| (s.updated_unix_ms - s.created_unix_ms) as f64 / 1000.0)
        .collect();
    let size = |digest: &String, f: fn(&LayerInfo) -> u64| layers.get(digest).map_or(0, f) as f64 / 1_048_576.0;
    // Folded from +0.0: an empty f64 sum is -0.0, which prints as "-0".
    let analysed_mib = data.analysed.keys().map(|d| size(d, |l| l.raw_len)).fold(0.0, |a, b| a + b);
    let window = &data.window;
    let counter = |name: &str| window.counters.get(name).copied().unwrap_or(0.0);
    let layers_report = Layers {
        referenced: sum(|s| s.layers_total),
        served_from_cache: sum(|s| s.layers_cached),
        analysed_for_scans: sum(|s| s.layers_analyzed),
        distinct_analysed: data.analysed.len(),
        repeated_analyses: data.analysed.values().map(|n| n - 1).sum(),
        single_flight_saves: counter("strata_single_flight_waits_total"),
        jobs_queued: counter("strata_layer_jobs_queued_total"),
        job_retries: counter("strata_job_retries_total"),
        dead_lettered: counter("strata_jobs_dead_lettered_total"),
        reanalysed: data.analysed_again.len(),
        new_layers: new_layers.map(BTreeMap::len),
        first_analysed_old_layers: new_layers.map(|new| {
            let again: BTreeSet<&String> = data.analysed_again.iter().collect();
            data.analysed.keys().filter(|d| !new.contains_key(*d) && !again.contains(d)).count()
        }),
        analysed_mib,
        analysed_compressed_mib: data.analysed.keys().map(|d| size(d, |l| l.gz_len)).fold(0.0, |a, b| a + b),
    };
    NightReport {
        night: data.night,
        images: data.ids.len(),
        wall_seconds: data.wall_seconds,
        submit_seconds: data.submit_seconds,
        images_per_second: data.ids.len() as f64 / data.wall_seconds.max(1e-9),
        timed_out: data.timed_out,
        settle_seconds: data.settle_seconds,
        statuses,
        failure_reasons,
        nothing_lost,
        layers: layers_report,
        latency_seconds: percentiles(latencies),
        coordinator_cpu_seconds: window.coordinator_cpu_seconds,
        workers_cpu_seconds: window.workers_cpu_seconds,
        coordinator_peak_rss_mib: window.coordinator_peak_rss_mib,
        worker_peak_rss_mib: window.worker_peak_rss_mib,
        services_cpu_seconds: window.services_cpu_seconds.clone(),
        machine_busy_share: window.machine_busy_cpu_seconds
            / (window.seconds * window.machine_cores.max(1) as f64).max(1e-9),
        analysed_mib_per_worker_cpu_second: analysed_mib / window.workers_cpu_seconds.max(1e-9),
        redis: window.redis,
        max_queue_depth: window.max_queue_depth,
        findings: findings(&data.scans),
        watch_reconnects: data.watch_reconnects,
        faults: data.faults.clone(),
        timeline: window.points.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank() {
        let p = super::percentiles((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(super::percentiles(vec![]).max, 0.0);
    }
}
