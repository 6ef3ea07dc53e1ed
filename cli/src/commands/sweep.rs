//! `strata sweep`: one `Sweep` call to the coordinator, and its report as a table or JSON.

use anyhow::Result;
use strata_proto::v1::{SweepReport, SweepRequest};

use crate::args::{Format, SweepArgs};
use crate::commands::fleet::connect;

pub async fn run(args: SweepArgs) -> Result<u8> {
    let mut client = connect(&args.coordinator).await?;
    let request = SweepRequest {
        registry: args.registry.clone(),
        repositories: args.repos.clone(),
        wait: args.wait,
        platform: args.platform.clone(),
        page_size: args.page_size.unwrap_or(0),
    };
    let report = client.sweep(request).await?.into_inner();
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&json(&report))?),
        Format::Table => print!("{}", table(&report)),
    }
    Ok(if report.failed > 0 { 2 } else { 0 })
}

fn seconds(report: &SweepReport) -> f64 {
    (report.finished_unix_ms - report.started_unix_ms) as f64 / 1000.0
}

fn json(report: &SweepReport) -> serde_json::Value {
    serde_json::json!({
        "registry": report.registry,
        "repositories": report.repositories,
        "tags": report.tags,
        "digests": report.digests,
        "submitted": report.submitted,
        "rescanned": report.rescanned,
        "skipped": report.skipped,
        "failed": report.failed,
        "waited": report.waited,
        "seconds": seconds(report),
        "started_unix_ms": report.started_unix_ms,
        "finished_unix_ms": report.finished_unix_ms,
        "failures": report.failures.iter().map(|f| serde_json::json!({"subject": f.subject, "error": f.error})).collect::<Vec<_>>(),
        "images": report.images.iter().map(|i| serde_json::json!({
            "digest": i.digest, "reference": i.reference, "tags": i.tags, "action": i.action,
            "scan_id": i.scan_id, "status": i.status, "detail": i.detail,
        })).collect::<Vec<_>>(),
    })
}

fn table(report: &SweepReport) -> String {
    let mut out = format!(
        "Sweep of {} in {:.1} s{}\n",
        report.registry,
        seconds(report),
        if report.waited { ", scans finished" } else { ", without waiting for every scan to finish" }
    );
    for (name, value) in [
        ("repositories", report.repositories),
        ("tags", report.tags),
        ("digests", report.digests),
        ("new (submitted)", report.submitted),
        ("rescanned", report.rescanned),
        ("skipped (in progress)", report.skipped),
        ("failed", report.failed),
    ] {
        out.push_str(&format!("  {name:<22}{value:>8}\n"));
    }
    if !report.failures.is_empty() {
        out.push_str("Failures:\n");
        for failure in &report.failures {
            out.push_str(&format!("  {}: {}\n", failure.subject, failure.error));
        }
    }
    out
}
