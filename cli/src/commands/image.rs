//! `strata image`: scan one image locally and print the report.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result};
use strata_pipeline::finish;
use strata_pipeline::policy::Documents;
use strata_scanner::image::Platform;
use strata_scanner::report::policy::{self, Policy};
use strata_scanner::report::{self, Report, ReportOptions, TableStyle};
use strata_scanner::severity::Severity;

use crate::args::{ImageArgs, PolicyArgs, ReportFormat};
use crate::commands::db;
use crate::pipeline::{self, ImageSource};

pub async fn run(mut args: ImageArgs) -> Result<u8> {
    // Asking for a Dockerfile's checks is asking for the misconfiguration scanner.
    if args.dockerfile.is_some() && !args.policy.scanners.contains(&policy::Scanner::Misconfig) {
        args.policy.scanners.push(policy::Scanner::Misconfig);
    }
    let platform: Platform = args.platform.parse()?;
    let options = report_options(&args)?;
    // Read before the scan: a typo in an ignore file or a VEX document should not cost a whole scan.
    let policy = load_policy(&args.policy)?;
    let defectdojo = crate::commands::defectdojo::prepare(&args)?;
    let source = match (&args.reference, &args.input) {
        (Some(reference), _) => ImageSource::registry(reference, args.insecure, &platform)?,
        (None, Some(input)) => ImageSource::input(input)?,
        (None, None) => anyhow::bail!("give an image reference or --input PATH"),
    };
    // Load the DB while the image is fetched: both are I/O and CPU that do not depend on each other. A
    // scan that does not look for vulnerabilities needs none.
    let db_task = finish::needs_db(&policy).then(|| {
        let (file, osv) = (args.db.db.clone(), args.db.osv.clone());
        tokio::task::spawn_blocking(move || db::open(file.as_deref(), &osv))
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
    let scanned = pipeline::scan(
        &source,
        &platform,
        !args.quiet,
        args.cache.as_deref(),
        &args.cache_tls.files(),
        secrets,
        budget,
    )
    .await?;
    let vulndb = match db_task {
        Some(task) => Some(task.await.context("loading the vulnerability DB")??),
        None => None,
    };
    let dockerfile = match (&args.dockerfile, policy.scanners.contains(&policy::Scanner::Misconfig)) {
        (Some(path), true) => {
            vec![crate::commands::dockerfile::dockerfile_result(
                path,
                args.dockerfile_context.as_deref(),
                &options.severities,
            )?]
        }
        _ => Vec::new(),
    };
    // The same finishing step as the fleet's: match, advice, image-config checks, policy, summary.
    let mut report =
        finish::report(&scanned.image, &scanned.inventory, vulndb.as_ref(), &options, &policy, dockerfile)?;
    finish::for_format(&mut report, shows_packages(args.format, args.list_all_pkgs));
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
    refuse_hidden_vex(args.format, args.reachable_only)?;
    // The package lists are `finish::for_format`'s to keep or drop.
    Ok(ReportOptions {
        severities,
        ignore_unfixed: args.ignore_unfixed,
        list_packages: false,
        reachable_only: args.reachable_only,
    })
}

/// An OpenVEX document made without the unreachable findings would drop exactly the `not_affected`
/// statements it exists to make.
pub fn refuse_hidden_vex(format: ReportFormat, reachable_only: bool) -> Result<()> {
    if format == ReportFormat::Openvex && reachable_only {
        anyhow::bail!(
            "--format openvex states which findings are unreachable; --reachable-only would leave those out. \
             Use one or the other"
        );
    }
    Ok(())
}

/// Whether `format` shows every package: an SBOM lists them all, the others on request.
pub fn shows_packages(format: ReportFormat, list_all_pkgs: bool) -> bool {
    list_all_pkgs || matches!(format, ReportFormat::Cyclonedx | ReportFormat::Spdx)
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
        ReportFormat::Openvex => report::openvex::to_openvex(report) + "\n",
    }
}

/// `--scanners`, the ignore file (`--ignorefile`, else `./.strataignore` when present) and `--vex`.
fn load_policy(args: &PolicyArgs) -> Result<Policy> {
    let documents = policy_documents(args)?;
    Ok(strata_pipeline::policy::build(&args.scanners, &[&documents], strata_pipeline::policy::today())?)
}

/// The ignore file (`ignorefile`, else `./.strataignore` when present) and the VEX documents, read and
/// checked: what `strata image` applies and `strata submit` sends.
pub fn policy_documents(args: &PolicyArgs) -> Result<Documents> {
    use strata_pipeline::policy::read_document;
    let default = Path::new(".strataignore");
    let ignorefile = args.ignorefile.as_deref().or(default.is_file().then_some(default));
    let documents = Documents {
        ignorefiles: ignorefile.map(read_document).transpose()?.into_iter().collect(),
        vex: args.vex.iter().map(|p| read_document(p)).collect::<Result<_, _>>()?,
    };
    documents.check()?;
    Ok(documents)
}

/// `COLUMNS` when set: the table wraps to it on a terminal or not. Otherwise a terminal's own width, and
/// a file or pipe gets whole lines (for grep and diff), as most table-printing tools do.
fn columns() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse().ok()).filter(|c| *c >= 40)
}
