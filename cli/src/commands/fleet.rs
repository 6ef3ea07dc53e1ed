//! The fleet from the command line: `strata submit | status | results | watch | rescan`, thin gRPC
//! calls to a coordinator.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;

use anyhow::{Context, Result, anyhow, bail};
use strata_pipeline::policy::{Document, Documents};
use strata_proto::status::{is_terminal, name as status_name};
use strata_proto::v1::scan_service_client::ScanServiceClient;
use strata_proto::v1::{
    CancelScanRequest, GetReportRequest, GetScanRequest, ListScansRequest, PolicyDocument, RescanRequest, Scan,
    ScanEvent, ScanOptions, ScanPolicy, ScanStatus, SubmitScanRequest, WatchScansRequest,
};
use strata_scanner::report::Report;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::args::{CancelArgs, CoordinatorArgs, RescanArgs, ResultsArgs, StatusArgs, SubmitArgs};
use crate::commands::image;

pub(crate) type Client = ScanServiceClient<InterceptedService<Channel, Interceptor>>;

/// Connects; the bearer token comes from `STRATA_TOKEN` or `--token-file`, never from a flag value.
pub(crate) async fn connect(args: &CoordinatorArgs) -> Result<Client> {
    let token = match (&args.token_file, std::env::var("STRATA_TOKEN").ok().filter(|t| !t.is_empty())) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?.trim().to_string(),
        ),
        (None, token) => token,
    };
    let mut endpoint = Channel::from_shared(args.coordinator.clone())
        .with_context(|| format!("coordinator URL {}", args.coordinator))?;
    if args.coordinator.starts_with("https://") {
        let read = |p: &std::path::PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
        let mut tls = tonic::transport::ClientTlsConfig::new();
        if let Some(ca) = &args.tls_ca {
            tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
        }
        if let (Some(cert), Some(key)) = (&args.tls_client_cert, &args.tls_client_key) {
            tls = tls.identity(tonic::transport::Identity::from_pem(read(cert)?, read(key)?));
        }
        endpoint = endpoint.tls_config(tls).context("TLS configuration")?;
    }
    let channel =
        endpoint.connect().await.with_context(|| format!("connecting to the coordinator at {}", args.coordinator))?;
    let header = match token {
        Some(t) => Some(
            format!("Bearer {t}")
                .parse::<tonic::metadata::MetadataValue<_>>()
                .context("token is not a valid header value")?,
        ),
        None => None,
    };
    let interceptor: Interceptor = Box::new(move |mut request: Request<()>| {
        if let Some(h) = &header {
            request.metadata_mut().insert("authorization", h.clone());
        }
        Ok(request)
    });
    Ok(ScanServiceClient::with_interceptor(channel, interceptor).max_decoding_message_size(256 * 1024 * 1024))
}

fn parse_labels(labels: &[String]) -> Result<HashMap<String, String>> {
    labels
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("label {l:?} is not k=v"))
        })
        .collect()
}

/// The root of the scans' trace: `submit` (waiting included with `--wait`), sent to the coordinator as
/// `traceparent` metadata so each scan's spans, its layer jobs' and its DefectDojo delivery's follow.
pub async fn submit(args: SubmitArgs) -> Result<u8> {
    use tracing::Instrument;
    let span = tracing::info_span!("submit", images = tracing::field::Empty, wait = args.wait);
    submit_traced(args).instrument(span).await
}

async fn submit_traced(args: SubmitArgs) -> Result<u8> {
    let mut references = args.references.clone();
    if let Some(file) = &args.file {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        references
            .extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from));
    }
    if references.is_empty() {
        bail!("no image references: give REF… or --file FILE");
    }
    // Read and checked here, as `strata image` does: a typo fails before anything is submitted.
    let documents = crate::commands::image::policy_documents(&args.policy)?;
    let options = ScanOptions {
        platform: args.platform.clone(),
        labels: parse_labels(&args.label)?,
        severities: args.severity.clone(),
        ignore_unfixed: args.ignore_unfixed,
        reachable_only: args.reachable_only,
        scanners: args.policy.scanners.iter().map(|s| s.to_string()).collect(),
        policy: (!documents.is_empty()).then(|| scan_policy(&documents)),
        ..ScanOptions::default()
    };
    tracing::Span::current().record("images", references.len());
    let mut client = connect(&args.coordinator).await?;
    let requests: Vec<SubmitScanRequest> =
        references.iter().map(|r| SubmitScanRequest { reference: r.clone(), options: Some(options.clone()) }).collect();
    let mut request = Request::new(tokio_stream::iter(requests));
    if let Some(traceparent) = strata_fleet::telemetry::current_traceparent()
        && let Ok(value) = traceparent.parse()
    {
        request.metadata_mut().insert(strata_fleet::telemetry::TRACEPARENT, value);
    }
    let ids = client.submit_scans(request).await?.into_inner().scan_ids;
    if !args.wait {
        for (id, reference) in ids.iter().zip(&references) {
            println!("{id}\t{reference}");
        }
        return Ok(0);
    }
    let finals = wait(&mut client, &ids).await?;
    let mut failed = 0;
    for id in &ids {
        let scan = &finals[id];
        println!("{}", status_line(scan));
        failed += usize::from(scan.status != ScanStatus::Done as i32);
    }
    Ok(if failed > 0 { 2 } else { 0 })
}

/// The documents as a submission carries them.
fn scan_policy(documents: &Documents) -> ScanPolicy {
    let list = |documents: &[Document]| {
        documents.iter().map(|d| PolicyDocument { name: d.name.clone(), text: d.text.clone() }).collect()
    };
    ScanPolicy { ignorefiles: list(&documents.ignorefiles), vex: list(&documents.vex) }
}

/// Adds the client token to every request.
type Interceptor = Box<dyn FnMut(Request<()>) -> Result<Request<()>, Status> + Send>;

/// How long `wait` trusts a silent watch before it re-reads the unfinished scans.
const QUIET: std::time::Duration = std::time::Duration::from_secs(15);

/// Watches until every scan is terminal, with a progress bar on a terminal.
async fn wait(client: &mut Client, ids: &[String]) -> Result<BTreeMap<String, Scan>> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(ids.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} images {msg}") {
            bar.set_style(style);
        }
        bar
    });
    let mut stream = open_watch(client, ids).await?;
    let mut latest: BTreeMap<String, Scan> = BTreeMap::new();
    let done = |latest: &BTreeMap<String, Scan>| latest.values().filter(|s| is_terminal(s.status)).count();
    // Scans may have finished before the watch began: read them once.
    reread(client, ids, &mut latest).await?;
    while done(&latest) < ids.len() {
        match tokio::time::timeout(QUIET, stream.message()).await {
            Ok(Ok(Some(event))) => {
                if let Some(scan) = event.scan {
                    latest.insert(scan.id.clone(), scan);
                }
            }
            Ok(Ok(None)) => bail!("the coordinator closed the watch"),
            // The coordinator's Redis went away under the watch (a restart): watch again once it is back.
            Ok(Err(status)) if status.code() == tonic::Code::Unavailable => {
                stream = open_watch(client, ids).await?;
                reread(client, ids, &mut latest).await?;
            }
            Ok(Err(status)) => return Err(status.into()),
            // Events published while the coordinator's Redis was restarting never arrive: after a quiet
            // spell, read the unfinished scans again.
            Err(_) => {
                let unfinished: Vec<String> =
                    ids.iter().filter(|id| latest.get(*id).is_none_or(|s| !is_terminal(s.status))).cloned().collect();
                reread(client, &unfinished, &mut latest).await?;
            }
        }
        if let Some(bar) = &bar {
            let (analysed, cached, failed) = latest.values().fold((0, 0, 0), |(a, c, f), s| {
                (
                    a + s.layers_analyzed,
                    c + s.layers_cached,
                    f + u32::from(matches!(ScanStatus::try_from(s.status), Ok(ScanStatus::Failed))),
                )
            });
            bar.set_position(done(&latest) as u64);
            bar.set_message(format!("layers analysed {analysed}, cached {cached}, failed scans {failed}"));
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(latest)
}

/// How long `wait` keeps trying to (re)open a watch the coordinator answers as unavailable.
const UNAVAILABLE_FOR: std::time::Duration = std::time::Duration::from_secs(120);

/// Opens the watch, retrying while the coordinator says its backends are unavailable (a Redis restart).
async fn open_watch(client: &mut Client, ids: &[String]) -> Result<tonic::Streaming<ScanEvent>> {
    let give_up = std::time::Instant::now() + UNAVAILABLE_FOR;
    loop {
        match client.watch_scans(WatchScansRequest { ids: ids.to_vec() }).await {
            Ok(stream) => return Ok(stream.into_inner()),
            Err(status) if status.code() == tonic::Code::Unavailable && std::time::Instant::now() < give_up => {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(status) => return Err(status.into()),
        }
    }
}

/// Reads the scans' records; one the coordinator cannot read now (its Redis restarting) is read later.
async fn reread(client: &mut Client, ids: &[String], latest: &mut BTreeMap<String, Scan>) -> Result<()> {
    for id in ids {
        match client.get_scan(GetScanRequest { id: id.clone() }).await {
            Ok(scan) => {
                latest.insert(id.clone(), scan.into_inner());
            }
            Err(status) if status.code() == tonic::Code::Unavailable => {}
            Err(status) => return Err(status.into()),
        }
    }
    Ok(())
}

fn status_line(scan: &Scan) -> String {
    let summary = scan.summary.as_ref().map_or_else(String::new, |s| {
        format!(" findings={} (C{} H{} M{} L{} U{})", s.total, s.critical, s.high, s.medium, s.low, s.unknown)
    });
    let error = if scan.error.is_empty() { String::new() } else { format!(" error={:?}", scan.error) };
    let incomplete = scan.summary.as_ref().and_then(|s| s.incomplete.first().map(|first| (s.incomplete_total, first)));
    let incomplete = incomplete.map_or_else(String::new, |(total, first)| {
        let more = if total > 1 { format!(" (+{} more: strata results)", total - 1) } else { String::new() };
        format!(" INCOMPLETE={first:?}{more}")
    });
    format!(
        "{}\t{}\t{}\tlayers={}/{} analysed={} cached={}{summary}{incomplete}{error}",
        scan.id,
        scan.reference,
        status_name(scan.status),
        scan.layers_analyzed + scan.layers_cached,
        scan.layers_total,
        scan.layers_analyzed,
        scan.layers_cached
    )
}

pub async fn status(args: StatusArgs) -> Result<u8> {
    let mut client = connect(&args.coordinator).await?;
    let scans = match &args.id {
        Some(id) => vec![client.get_scan(GetScanRequest { id: id.clone() }).await?.into_inner()],
        None => {
            client
                .list_scans(ListScansRequest { active_only: !args.all, ..Default::default() })
                .await?
                .into_inner()
                .scans
        }
    };
    let deliveries = crate::commands::defectdojo::deliveries(&mut client, &scans).await;
    let of = |scan: &Scan| deliveries.get(&scan.id).map(Vec::as_slice).unwrap_or_default();
    if args.json {
        let rows: Vec<serde_json::Value> = scans
            .iter()
            .map(|s| {
                let mut row = scan_json(s);
                row["defectdojo"] = crate::commands::defectdojo::json(of(s));
                row
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{STATUS_HEADER}");
        for scan in &scans {
            println!("{}{}", status_line(scan), crate::commands::defectdojo::text(of(scan)));
        }
        if scans.is_empty() && !args.all {
            println!("no active scans; `strata status --all` lists finished ones too");
        }
    }
    Ok(0)
}

/// The columns of [`status_line`].
const STATUS_HEADER: &str = "SCAN\tIMAGE\tSTATUS\tLAYERS (done/total, analysed, from cache), FINDINGS, ERROR";

fn scan_json(scan: &Scan) -> serde_json::Value {
    serde_json::json!({
        "id": scan.id, "reference": scan.reference, "status": status_name(scan.status), "error": scan.error,
        "image_digest": scan.image_digest, "layers_total": scan.layers_total, "layers_cached": scan.layers_cached,
        "layers_analyzed": scan.layers_analyzed, "layers_failed": scan.layers_failed, "db_digest": scan.db_digest,
        "findings": scan.summary.as_ref().map(|s| s.total), "labels": scan.labels,
        "incomplete": scan.summary.as_ref().map(|s| &s.incomplete),
        "incomplete_total": scan.summary.as_ref().map(|s| s.incomplete_total),
    })
}

pub async fn results(args: ResultsArgs) -> Result<u8> {
    image::refuse_hidden_vex(args.format, args.reachable_only)?;
    let mut client = connect(&args.coordinator).await?;
    let json = match client.get_report(GetReportRequest { id: args.id.clone() }).await {
        Ok(response) => response.into_inner().json,
        Err(status) if status.code() == tonic::Code::NotFound => return Err(no_report(&mut client, &args.id).await),
        Err(status) => return Err(status.into()),
    };
    let mut report: Report =
        serde_json::from_slice(&json).context("the coordinator's report is not a Strata report")?;
    // The stored report is finished (policy applied, every package listed): shown as `strata image` shows it.
    if args.reachable_only {
        strata_scanner::report::hide_unreachable(&mut report);
    }
    strata_pipeline::finish::for_format(&mut report, image::shows_packages(args.format, args.list_all_pkgs));
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let rendered = image::render(&report, args.format, to_terminal);
    match &args.output {
        Some(path) => std::fs::write(path, rendered).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{rendered}"),
    }
    Ok(0)
}

/// Why a scan has no report, in words: failed (with the reason), cancelled, not finished, or unknown.
async fn no_report(client: &mut Client, id: &str) -> anyhow::Error {
    let scan = match client.get_scan(GetScanRequest { id: id.to_string() }).await {
        Ok(scan) => scan.into_inner(),
        Err(status) if status.code() == tonic::Code::NotFound => return anyhow!("no scan {id} on this coordinator"),
        Err(status) => return status.into(),
    };
    match ScanStatus::try_from(scan.status) {
        Ok(ScanStatus::Failed) => anyhow!("scan {id} ({}) failed: {}", scan.reference, scan.error),
        Ok(ScanStatus::Cancelled) => anyhow!("scan {id} ({}) was cancelled: it has no report", scan.reference),
        _ if !is_terminal(scan.status) => anyhow!(
            "scan {id} ({}) is still {}: wait for it (`strata submit --wait`, `strata watch {id}`)",
            scan.reference,
            status_name(scan.status)
        ),
        _ => {
            anyhow!("scan {id} ({}) is {} but its report is gone (expired?)", scan.reference, status_name(scan.status))
        }
    }
}

pub async fn watch(args: StatusArgs) -> Result<u8> {
    let mut client = connect(&args.coordinator).await?;
    let ids = args.id.clone().into_iter().collect();
    let mut stream = client.watch_scans(WatchScansRequest { ids }).await?.into_inner();
    while let Some(event) = stream.message().await? {
        if let Some(scan) = event.scan {
            println!("{}", status_line(&scan));
        }
    }
    Ok(0)
}

pub async fn rescan(args: RescanArgs) -> Result<u8> {
    let mut client = connect(&args.coordinator).await?;
    let request = RescanRequest {
        all: args.all,
        labels: parse_labels(&args.label)?,
        repository: args.repository.clone().unwrap_or_default(),
    };
    let results = client.rescan(request).await?.into_inner().results;
    if args.json {
        let rows: Vec<serde_json::Value> = results
            .iter()
            .map(|r| serde_json::json!({"scan_id": r.scan_id, "reference": r.reference, "new": r.new_findings, "fixed": r.fixed_findings, "db_digest": r.db_digest}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in &results {
            println!("{}\t{}\tnew={} fixed={}", r.scan_id, r.reference, r.new_findings.len(), r.fixed_findings.len());
            for f in &r.new_findings {
                println!("  + {f}");
            }
            for f in &r.fixed_findings {
                println!("  - {f}");
            }
        }
    }
    Ok(0)
}

pub async fn cancel(args: CancelArgs) -> Result<u8> {
    let mut client = connect(&args.coordinator).await?;
    let scan = client.cancel_scan(CancelScanRequest { id: args.id.clone() }).await?.into_inner();
    println!("{}", status_line(&scan));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use strata_proto::v1::ReportSummary;

    use super::*;

    fn done(summary: ReportSummary) -> Scan {
        Scan { id: "s1".into(), status: ScanStatus::Done as i32, summary: Some(summary), ..Scan::default() }
    }

    #[test]
    fn a_done_scan_with_an_incomplete_report_says_so_and_why() {
        let gap = "layer #1 sha256:ab usr/lib/rpm/Packages: over the 64 MiB cap for rpm databases; not analysed";
        let scan = done(ReportSummary { incomplete: vec![gap.into()], incomplete_total: 3, ..Default::default() });
        let line = status_line(&scan);
        assert!(line.contains("\tdone\t"), "{line}");
        assert!(line.contains(&format!("INCOMPLETE={gap:?} (+2 more: strata results)")), "{line}");
        assert_eq!(scan_json(&scan)["incomplete"][0], gap);

        let complete = status_line(&done(ReportSummary::default()));
        assert!(!complete.contains("INCOMPLETE"), "{complete}");
    }
}
