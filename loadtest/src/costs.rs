//! What one image and one analysed layer cost the shared services, from the two nights' totals, and the
//! pass/fail checks of a run. The nights scan the same images but analyse very different numbers of
//! layers, so `total = a × images + b × analysed layers` has one solution per counter: `b` is the cost of
//! an analysed layer, `a` that of an image whose layers are all in the cache.

use serde::Serialize;

use crate::anchor::Anchor;
use crate::report::NightReport;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Costs {
    pub redis_commands_per_image: Option<f64>,
    pub redis_commands_per_analysed_layer: Option<f64>,
    pub redis_bytes_per_image: Option<f64>,
    pub redis_bytes_per_analysed_layer: Option<f64>,
    /// Messages published to RabbitMQ per analysed layer (jobs, retries, dead letters).
    pub rabbitmq_messages_per_analysed_layer: f64,
    /// Worker CPU per uncompressed MiB analysed, night 1 (all of it, fixed costs included).
    pub worker_cpu_ms_per_mib: f64,
    /// The same split in two from both nights: a fixed cost per layer job (fetch, cache, broker, encoding)
    /// and a cost per MiB (decompression and analysis).
    pub worker_cpu_ms_per_job: Option<f64>,
    pub worker_cpu_ms_per_mib_beyond_jobs: Option<f64>,
    /// Coordinator CPU per image whose layers were all cached (night 2 minus its analyses' share).
    pub coordinator_cpu_ms_per_image: f64,
    pub mean_analysed_layer_compressed_mib: f64,
    /// Night 1's analysed MiB per worker CPU second over the anchor's decompressed MiB per second.
    pub night1_vs_plain_decompression: Option<f64>,
}

/// `total = a × x + b × y` from two nights' `(x, y, total)`: `(a, b)`.
fn solve(n1: (f64, f64, f64), n2: (f64, f64, f64)) -> Option<(f64, f64)> {
    let (i1, l1, t1) = n1;
    let (i2, l2, t2) = n2;
    let det = i1 * l2 - i2 * l1;
    if det.abs() < 1e-9 {
        return None;
    }
    Some(((t1 * l2 - t2 * l1) / det, (i1 * t2 - i2 * t1) / det))
}

pub fn costs(nights: &[NightReport], anchor: Option<&Anchor>) -> Costs {
    let Some(first) = nights.first() else { return Costs::default() };
    let per = |n: &NightReport, f: fn(&crate::sampler::RedisTotals) -> u64| {
        n.redis.as_ref().map(|r| (n.images as f64, n.layers.distinct_analysed as f64, f(r) as f64))
    };
    let pair = |f: fn(&crate::sampler::RedisTotals) -> u64| match nights {
        [a, b, ..] => solve(per(a, f)?, per(b, f)?),
        _ => None,
    };
    let commands = pair(|r| r.commands);
    let bytes = pair(|r| r.net_input_bytes + r.net_output_bytes);
    let layers = first.layers.distinct_analysed.max(1) as f64;
    let messages = first.layers.jobs_queued + first.layers.job_retries + first.layers.dead_lettered;
    let worker_ms = first.workers_cpu_seconds * 1000.0 / first.layers.analysed_mib.max(1e-9);
    let coordinator = nights.get(1).unwrap_or(first);
    let jobs =
        |n: &NightReport| (n.layers.distinct_analysed as f64, n.layers.analysed_mib, n.workers_cpu_seconds * 1000.0);
    let worker_split = match nights {
        [a, b, ..] => solve(jobs(a), jobs(b)),
        _ => None,
    };
    Costs {
        redis_commands_per_image: commands.map(|c| c.0),
        redis_commands_per_analysed_layer: commands.map(|c| c.1),
        redis_bytes_per_image: bytes.map(|b| b.0),
        redis_bytes_per_analysed_layer: bytes.map(|b| b.1),
        rabbitmq_messages_per_analysed_layer: messages / layers,
        worker_cpu_ms_per_mib: worker_ms,
        worker_cpu_ms_per_job: worker_split.map(|s| s.0),
        worker_cpu_ms_per_mib_beyond_jobs: worker_split.map(|s| s.1),
        coordinator_cpu_ms_per_image: coordinator.coordinator_cpu_seconds * 1000.0 / coordinator.images.max(1) as f64,
        mean_analysed_layer_compressed_mib: first.layers.analysed_compressed_mib / layers,
        night1_vs_plain_decompression: anchor.map(|a| first.analysed_mib_per_worker_cpu_second / a.mib_per_second),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Checks {
    /// Every scan of every night ended done, or failed with a reason.
    pub nothing_lost: bool,
    /// Night 2 analysed every layer rebuilt since night 1 and no layer analysed before.
    pub night2_analysed_only_new_layers: bool,
    pub night2_reanalysed: usize,
    /// Night 2 within 5 minutes for its images at ≥ 33 images/s.
    pub night2_at_least_33_images_per_second: bool,
}

pub fn checks(nights: &[NightReport]) -> Checks {
    let second = nights.get(1);
    let reanalysed = second.map_or(0, |n| n.layers.reanalysed);
    Checks {
        nothing_lost: nights.iter().all(|n| n.nothing_lost),
        night2_analysed_only_new_layers: second.is_some_and(|n| {
            n.layers.reanalysed == 0
                && n.layers.new_layers.zip(n.layers.first_analysed_old_layers).map(|(a, b)| a + b)
                    == Some(n.layers.distinct_analysed)
        }),
        night2_reanalysed: reanalysed,
        night2_at_least_33_images_per_second: second.is_some_and(|n| n.images_per_second >= 33.0),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_nights_separate_image_and_layer_costs() {
        // 10 ops per image, 7 per layer.
        let (a, b) = super::solve((100.0, 50.0, 1350.0), (100.0, 5.0, 1035.0)).unwrap();
        assert!((a - 10.0).abs() < 1e-9 && (b - 7.0).abs() < 1e-9);
        assert!(super::solve((1.0, 1.0, 1.0), (2.0, 2.0, 2.0)).is_none());
    }
}
