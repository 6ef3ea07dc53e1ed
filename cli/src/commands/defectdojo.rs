//! DefectDojo from the command line: `strata defectdojo check`, the one-off upload of
//! `strata image … --defectdojo URL`, and the delivery columns of `strata status`. The HTTP client is the
//! coordinator's (`strata_defectdojo`), so CI uploads and fleet deliveries send the same form.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use strata_defectdojo::{Client, DefectDojoError, Settings, Templates, Token, Upload, concurrent};
use strata_proto::v1::{Delivery, GetDeliveriesRequest, ResendDeliveriesRequest, Scan};
use strata_scanner::report::Report;

use crate::args::{DefectDojoArgs, DefectDojoCommand, ImageArgs};

pub async fn run(args: DefectDojoArgs) -> Result<u8> {
    match args.command {
        DefectDojoCommand::Check { url } => check(&url).await,
        DefectDojoCommand::Resend { coordinator, ids } => resend(&coordinator, ids).await,
    }
}

async fn resend(coordinator: &crate::args::CoordinatorArgs, ids: Vec<String>) -> Result<u8> {
    let mut client = crate::commands::fleet::connect(coordinator).await?;
    let response = client.resend_deliveries(ResendDeliveriesRequest { ids }).await?.into_inner();
    for d in &response.deliveries {
        println!("{}\t{}\t{}\tqueued again", d.id, d.scan_id, d.test_title);
    }
    if response.deliveries.is_empty() {
        println!("nothing parked to resend");
    }
    Ok(0)
}

/// Reachability, the API key, and read permission, each with a message that says what to fix.
async fn check(url: &str) -> Result<u8> {
    let token = Token::from_env()?;
    let client = Client::new(url, token, std::time::Duration::from_secs(30))?;
    match client.check().await {
        Ok(outcome) => {
            println!(
                "ok: DefectDojo at {} accepts the key; {} product(s) visible",
                client.base(),
                outcome.products_visible
            );
            Ok(0)
        }
        Err(DefectDojoError::Rejected { status: 403, body }) => bail!(
            "DefectDojo at {} refused the API key (403: {body}); check STRATA_DEFECTDOJO_TOKEN(_FILE) and that the \
             key's user may view products and import scans",
            client.base()
        ),
        Err(DefectDojoError::Rejected { status: 404, .. }) => bail!(
            "{}/api/v2/products/ does not exist (404): is {} the DefectDojo base URL (without /api/v2)?",
            client.base(),
            client.base()
        ),
        Err(e @ DefectDojoError::Unreachable { .. }) => bail!("{e}"),
        Err(e) => bail!("{e}"),
    }
}

/// The one-off upload of `strata image … --defectdojo URL`, set up before the scan: a missing key or a
/// bad setting is reported before minutes of scanning, not after.
pub struct OneOff {
    settings: Settings,
    templates: Templates,
    client: Client,
}

pub fn prepare(args: &ImageArgs) -> Result<Option<OneOff>> {
    let Some(url) = &args.defectdojo else { return Ok(None) };
    // Only the URL comes from the flag; every other setting (and the key) from the coordinator's env.
    let settings = Settings::from_env_with_url(url)?;
    let templates = Templates {
        product_type: args.dd_product_type.clone().unwrap_or(settings.names.product_type.clone()),
        product: args.dd_product.clone().unwrap_or(settings.names.product.clone()),
        engagement: args.dd_engagement.clone().unwrap_or(settings.names.engagement.clone()),
        test_title: args.dd_test_title.clone().unwrap_or(settings.names.test_title.clone()),
        service: settings.names.service.clone(),
    };
    let client = Client::new(&settings.url, settings.token.clone(), settings.timeout)?;
    Ok(Some(OneOff { settings, templates, client }))
}

impl OneOff {
    /// The report as the fleet would send it, each part retried a few times; then the tests an earlier
    /// split left behind are closed.
    pub async fn upload(&self, report: &Report, reference: &str) -> Result<()> {
        let settings = &self.settings;
        let names = self.templates.render(reference, &HashMap::new(), None)?;
        let upload = Upload {
            names,
            scan_date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
            minimum_severity: settings.minimum_severity.clone(),
            image_digest: report.artifact.repo_digest.clone().unwrap_or_default(),
            tags: settings.tags.clone(),
            dedup_sync: settings.dedup_sync,
            base_title: String::new(),
            titles: Vec::new(),
        };
        let file = strata_defectdojo::document::to_dojo_file(report);
        let parts = strata_defectdojo::document::uploads(&upload, file, settings.max_file_bytes)?;
        let mut last = None;
        for (upload, bytes) in parts {
            let result = self.send(&upload, &bytes).await?;
            let d = &result.delta;
            eprintln!(
                "DefectDojo: test {} ({}): created {}, closed {}, reactivated {}, untouched {}",
                result.test_id,
                upload.names.test_title,
                d.created.total,
                d.closed.total,
                d.reactivated.total,
                d.untouched.total
            );
            last = Some(upload);
        }
        if let Some(upload) = last {
            let closed = strata_defectdojo::orphans::close(&self.client, &upload)
                .await
                .context("closing the DefectDojo tests an earlier split left behind")?;
            for title in closed {
                eprintln!("DefectDojo: closed the findings of {title:?}, which this report no longer delivers to");
            }
        }
        Ok(())
    }

    /// The upload, then the repair of what a concurrent upload to the same test (a parallel CI job) may
    /// have left, each retried a few times on a temporary failure.
    async fn send(&self, upload: &Upload, bytes: &[u8]) -> Result<strata_defectdojo::ImportResult> {
        let (result, settled) = concurrent::upload_settled(&self.client, upload, bytes)
            .await
            .with_context(|| format!("uploading to DefectDojo test {:?}", upload.names.test_title))?;
        if let Some((surplus, deleted)) = settled.moved {
            let what = if deleted { "deleted" } else { "emptied and renamed (the key may not delete tests)" };
            eprintln!(
                "DefectDojo: a concurrent upload created test {} first; sent again into it, test {surplus} {what}",
                result.test_id
            );
        }
        if settled.duplicates_closed > 0 {
            eprintln!(
                "DefectDojo: closed {} duplicate finding(s) that concurrent uploads created in test {}",
                settled.duplicates_closed, result.test_id
            );
        }
        Ok(result)
    }
}

/// Each scan's DefectDojo deliveries; empty when the coordinator does not deliver (or predates it).
pub async fn deliveries(client: &mut crate::commands::fleet::Client, scans: &[Scan]) -> HashMap<String, Vec<Delivery>> {
    let ids = scans.iter().map(|s| s.id.clone()).collect();
    let Ok(response) = client.get_deliveries(GetDeliveriesRequest { scan_ids: ids }).await else {
        return HashMap::new();
    };
    let mut out: HashMap<String, Vec<Delivery>> = HashMap::new();
    for d in response.into_inner().deliveries {
        out.entry(d.scan_id.clone()).or_default().push(d);
    }
    out
}

/// ` dd=delivered(+2 -1 ↺0)` per delivery, with the error of a parked or retrying one.
pub fn text(deliveries: &[Delivery]) -> String {
    let mut out = String::new();
    for d in deliveries {
        let delta = d.delta.unwrap_or_default();
        let total = |c: Option<strata_proto::v1::SeverityCounts>| c.map_or(0, |c| c.total);
        out.push_str(&format!(" dd={}", d.state));
        if d.state == "delivered" {
            out.push_str(&format!(
                "(test={} created={} closed={} reactivated={})",
                d.test_id,
                total(delta.created),
                total(delta.closed),
                total(delta.reactivated)
            ));
        }
        if !d.error.is_empty() {
            out.push_str(&format!(" dd_error={:?}", d.error));
        }
    }
    out
}

pub fn json(deliveries: &[Delivery]) -> serde_json::Value {
    let counts = |c: Option<strata_proto::v1::SeverityCounts>| {
        let c = c.unwrap_or_default();
        serde_json::json!({"critical": c.critical, "high": c.high, "medium": c.medium, "low": c.low, "info": c.info, "total": c.total})
    };
    deliveries
        .iter()
        .map(|d| {
            let delta = d.delta.unwrap_or_default();
            serde_json::json!({
                "id": d.id, "state": d.state, "attempts": d.attempts, "error": d.error,
                "product_type": d.product_type, "product": d.product, "engagement": d.engagement,
                "test_title": d.test_title, "test_id": d.test_id,
                "created_unix_ms": d.created_unix_ms, "updated_unix_ms": d.updated_unix_ms,
                "created": counts(delta.created), "closed": counts(delta.closed),
                "reactivated": counts(delta.reactivated), "untouched": counts(delta.untouched),
            })
        })
        .collect()
}
