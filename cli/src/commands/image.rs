//! `strata image`: scan one image locally and print the report.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};
use strata_scanner::image::Platform;
use strata_scanner::report::policy::{self, Policy};
use strata_scanner::report::{self, Report, ReportOptions, TableStyle};
use strata_scanner::severity::Severity;

use crate::args::{ImageArgs, ReportFormat};
use crate::commands::db;
use crate::pipeline::{self, ImageSource};

pub async fn run(mut args: ImageArgs) -> Result<u8> {
    // Asking for a Dockerfile's checks is asking for the misconfiguration scanner.
    if args.dockerfile.is_some() && !args.scanners.contains(&policy::Scanner::Misconfig) {
        args.scanners.push(policy::Scanner::Misconfig);
    }
    let platform: Platform = args.platform.parse()?;
    let options = report_options(&args)?;
    // Read before the scan: a typo in an ignore file or a VEX document should not cost a whole scan.
    let policy = load_policy(&args)?;
    let defectdojo = crate::commands::defectdojo::prepare(&args)?;
    let source = match (&args.reference, &args.input) {
        (Some(reference), _) => ImageSource::registry(reference, args.insecure, &platform)?,
        (None, Some(input)) => ImageSource::input(input)?,
        (None, None) => anyhow::bail!("give an image reference or --input PATH"),
    };
    // Load the DB while the image is fetched: both are I/O and CPU that do not depend on each other.
    let db_task = tokio::task::spawn_blocking({
        let (file, osv) = (args.db.db.clone(), args.db.osv.clone());
        move || db::open(file.as_deref(), &osv)
    });
    let secrets = match &args.secret_config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let config = strata_scanner::secret::config::SecretConfig::from_yaml(&text)
                .with_context(|| format!("secret config {}", path.display()))?;
            Some(std::sync::Arc::new(config.scanner().with_context(|| format!("secret config {}", path.display()))?))
        }
        None => None,
    };
    let budget = args.layer_budget.parse().map_err(anyhow::Error::msg).context("--layer-budget")?;
    let scanned = pipeline::scan(&source, &platform, !args.quiet, args.cache.as_deref(), secrets, budget).await?;
    let vulndb = db_task.await.context("loading the vulnerability DB")??;
    // The same report step as the fleet's coordinator (matching plus base-image advice).
    let mut report = strata_coordinator::assemble::report(&scanned.image, &scanned.inventory, &vulndb, &options);
    crate::commands::dockerfile::add_to_image_report(
        &mut report,
        &scanned,
        args.scanners.contains(&policy::Scanner::Misconfig).then_some(args.dockerfile.as_deref()),
        args.dockerfile_context.as_deref(),
        &options.severities,
    )?;

    policy::apply(&mut report, &policy);
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let rendered = render(&report, args.format, to_terminal);
    match &args.output {
        Some(path) => std::fs::write(path, rendered).with_context(|| format!("writing {}", path.display()))?,
        None => std::io::stdout().lock().write_all(rendered.as_bytes()).context("writing the report")?,
    }
    // After the report is written (a failed upload must not cost the report file), before the exit code:
    // a CI job fails when the upload did.
    if let Some(defectdojo) = &defectdojo {
        let uploaded_as = args.reference.clone().unwrap_or_else(|| report.artifact.name.clone());
        defectdojo.upload(&report, &uploaded_as).await?;
    }
    if let Some(stale) = &report.db.stale {
        tracing::warn!("{stale}");
    }
    if !report.is_complete() {
        for line in report.incomplete_lines() {
            tracing::warn!("incomplete analysis: {line}");
        }
    }
    Ok(if report.fails_gate() { args.exit_code } else { 0 })
}

fn report_options(args: &ImageArgs) -> Result<ReportOptions> {
    let severities: BTreeSet<Severity> = if args.severity.is_empty() {
        Severity::ALL.into_iter().collect()
    } else {
        args.severity.iter().map(|s| s.parse::<Severity>().map_err(anyhow::Error::msg)).collect::<Result<_>>()?
    };
    // An SBOM lists every package, not only the vulnerable ones.
    let sbom = matches!(args.format, ReportFormat::Cyclonedx | ReportFormat::Spdx);
    Ok(ReportOptions { severities, ignore_unfixed: args.ignore_unfixed, list_packages: args.list_all_pkgs || sbom })
}

/// The report in `format`; `to_terminal` colours and wraps the table.
pub fn render(report: &Report, format: ReportFormat, to_terminal: bool) -> String {
    match format {
        ReportFormat::Json => report::to_json(report) + "\n",
        ReportFormat::Table => {
            report::to_table(report, TableStyle { color: to_terminal, width: columns(), fit_terminal: to_terminal })
        }
        ReportFormat::TrivyJson => report::trivy::to_trivy_json(report) + "\n",
        ReportFormat::Sarif => report::sarif::to_sarif(report) + "\n",
        ReportFormat::Cyclonedx => report::cyclonedx::to_cyclonedx(report) + "\n",
        ReportFormat::Spdx => {
            let created = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            report::spdx::to_spdx(report, &created) + "\n"
        }
    }
}

/// `--scanners`, the ignore file (`--ignorefile`, else `./.strataignore` when present) and `--vex`.
fn load_policy(args: &ImageArgs) -> Result<Policy> {
    let mut policy = Policy::new(chrono::Local::now().date_naive());
    policy.scanners = args.scanners.iter().copied().collect();
    let default = std::path::Path::new(".strataignore");
    let ignorefile = args.ignorefile.as_deref().or(default.is_file().then_some(default));
    if let Some(path) = ignorefile {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        policy.ignore = policy::ignore::parse(&text, &path.display().to_string())?;
    }
    for path in &args.vex {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        policy.vex.extend(policy::vex::parse(&text, &path.display().to_string())?);
    }
    Ok(policy)
}

/// `COLUMNS` when set: the table wraps to it on a terminal or not. Otherwise a terminal's own width, and
/// a file or pipe gets whole lines (for grep and diff), as most table-printing tools do.
fn columns() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse().ok()).filter(|c| *c >= 40)
}
