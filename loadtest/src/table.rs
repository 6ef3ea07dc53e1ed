//! The run as Markdown tables on stdout (pasted as is into docs/benchmarks.md).

use std::fmt::Write;

use crate::nights::RunReport;
use crate::report::NightReport;

fn row(out: &mut String, label: &str, cells: Vec<String>) {
    let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
}

fn list<T>(items: &std::collections::BTreeMap<String, T>, f: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items.iter().map(|(k, v)| format!("{k}: {}", f(v))).collect::<Vec<_>>().join(", ")
}

pub fn nights(nights: &[NightReport]) -> String {
    let mut out = String::new();
    let header: Vec<String> = nights.iter().map(|n| format!("night {}", n.night)).collect();
    let _ = writeln!(out, "| measurement | {} |", header.join(" | "));
    let _ = writeln!(out, "| --- |{}", " ---: |".repeat(nights.len()));
    let each = |f: &dyn Fn(&NightReport) -> String| nights.iter().map(f).collect::<Vec<_>>();
    row(&mut out, "images", each(&|n| n.images.to_string()));
    row(&mut out, "wall time (submit → last scan done)", each(&|n| format!("{:.1} s", n.wall_seconds)));
    row(&mut out, "throughput", each(&|n| format!("**{:.1} images/s**", n.images_per_second)));
    row(&mut out, "submit (one SubmitScans stream)", each(&|n| format!("{:.2} s", n.submit_seconds)));
    row(
        &mut out,
        "fleet idle after the last scan (no job queued or held)",
        each(&|n| format!("{:.1} s", n.settle_seconds)),
    );
    row(&mut out, "scans by outcome", each(&|n| list(&n.statuses, |c| c.to_string())));
    row(&mut out, "nothing lost (each done, or failed with a reason)", each(&|n| n.nothing_lost.to_string()));
    row(&mut out, "failure reasons", each(&|n| list(&n.failure_reasons, |c| c.to_string())));
    row(&mut out, "layers referenced by the images", each(&|n| n.layers.referenced.to_string()));
    row(&mut out, "… served from the cache", each(&|n| n.layers.served_from_cache.to_string()));
    row(&mut out, "… served by an analysis this night", each(&|n| n.layers.analysed_for_scans.to_string()));
    row(&mut out, "distinct layers analysed", each(&|n| n.layers.distinct_analysed.to_string()));
    row(&mut out, "layers pushed since night 1", each(&|n| n.layers.new_layers.map_or("—".into(), |v| v.to_string())));
    row(
        &mut out,
        "layers analysed again (analysed in an earlier night)",
        each(&|n| format!("**{}**", n.layers.reanalysed)),
    );
    row(
        &mut out,
        "old layers with no earlier analysis on record (night-1 scan failed, or the cache was lost)",
        each(&|n| n.layers.first_analysed_old_layers.map_or("—".into(), |v| v.to_string())),
    );
    row(&mut out, "repeated analyses (redeliveries)", each(&|n| n.layers.repeated_analyses.to_string()));
    row(
        &mut out,
        "single-flight saves (scans that waited, not queued)",
        each(&|n| format!("{:.0}", n.layers.single_flight_saves)),
    );
    row(
        &mut out,
        "jobs queued / retried / dead-lettered",
        each(&|n| format!("{:.0} / {:.0} / {:.0}", n.layers.jobs_queued, n.layers.job_retries, n.layers.dead_lettered)),
    );
    row(
        &mut out,
        "analysed (uncompressed / compressed)",
        each(&|n| format!("{:.0} / {:.0} MiB", n.layers.analysed_mib, n.layers.analysed_compressed_mib)),
    );
    row(
        &mut out,
        "scan latency p50 / p95 / p99 (submit → done)",
        each(&|n| {
            let l = &n.latency_seconds;
            format!("{:.1} / {:.1} / {:.1} s", l.p50, l.p95, l.p99)
        }),
    );
    row(&mut out, "worker CPU (all workers)", each(&|n| format!("{:.1} s", n.workers_cpu_seconds)));
    row(
        &mut out,
        "analysed MiB per worker CPU second",
        each(&|n| format!("{:.0}", n.analysed_mib_per_worker_cpu_second)),
    );
    row(&mut out, "coordinator CPU", each(&|n| format!("{:.1} s", n.coordinator_cpu_seconds)));
    row(
        &mut out,
        "service CPU (registry, owned Redis and RabbitMQ)",
        each(&|n| list(&n.services_cpu_seconds, |c| format!("{c:.1} s"))),
    );
    row(
        &mut out,
        "machine CPU busy (all processes, any user)",
        each(&|n| format!("{:.0} %", n.machine_busy_share * 100.0)),
    );
    row(
        &mut out,
        "peak RSS: worker (max) / coordinator",
        each(&|n| format!("{:.0} / {:.0} MiB", n.worker_peak_rss_mib, n.coordinator_peak_rss_mib)),
    );
    row(&mut out, "max queue depth (sampled each second)", each(&|n| format!("{:.0}", n.max_queue_depth)));
    row(
        &mut out,
        "Redis commands / bytes in+out",
        each(&|n| {
            n.redis.map_or("— (machine's Redis, shared)".into(), |r| {
                format!("{} / {:.1} MiB", r.commands, (r.net_input_bytes + r.net_output_bytes) as f64 / 1_048_576.0)
            })
        }),
    );
    row(
        &mut out,
        "findings (all images)",
        each(&|n| {
            let f = |k: &str| n.findings.get(k).copied().unwrap_or(0);
            format!("{} (unknown severity {})", f("total"), f("unknown"))
        }),
    );
    row(&mut out, "watch reconnects", each(&|n| n.watch_reconnects.to_string()));
    out
}

pub fn run(report: &RunReport) -> String {
    let mut out = nights(&report.nights);
    for night in &report.nights {
        for fault in &night.faults {
            let _ = writeln!(
                out,
                "\nnight {} at {:.1} s ({} scans finished): {} ({:.1} s)",
                night.night, fault.at_seconds, fault.scans_finished, fault.action, fault.took_seconds
            );
        }
    }
    if let Some(anchor) = &report.anchor {
        let _ = writeln!(
            out,
            "\nplain decompression of {} of the same layers ({:.0} MiB compressed), one core: {:.0} MiB/s; night 1 analysed {:.0} MiB per worker CPU second: {:.2} of it",
            anchor.layers,
            anchor.compressed_mib,
            anchor.mib_per_second,
            report.nights.first().map_or(0.0, |n| n.analysed_mib_per_worker_cpu_second),
            report.costs.night1_vs_plain_decompression.unwrap_or(0.0)
        );
    }
    if let Some(redis) = &report.redis {
        out.push_str(&redis.table());
    }
    let _ = writeln!(out, "\nper-unit costs: {}", serde_json::to_string(&report.costs).unwrap_or_default());
    let _ = writeln!(out, "checks: {}", serde_json::to_string(&report.checks).unwrap_or_default());
    out
}
