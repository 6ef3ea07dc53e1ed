//! `strata image`: scan one image locally and print the report.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};
use strata_scanner::image::Platform;
use strata_scanner::report::{self, ReportOptions, TableStyle};
use strata_scanner::severity::Severity;

use crate::args::{Format, ImageArgs};
use crate::commands::db;
use crate::pipeline::{self, ImageSource};

pub async fn run(args: ImageArgs) -> Result<u8> {
    let platform: Platform = args.platform.parse()?;
    let options = report_options(&args)?;
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
    let scanned = pipeline::scan(&source, &platform, !args.quiet).await?;
    let vulndb = db_task.await.context("loading the vulnerability DB")??;
    let report = report::build(&scanned.image, &scanned.inventory, &vulndb, &options);

    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let rendered = match args.format {
        Format::Json => report::to_json(&report) + "\n",
        Format::Table => {
            let width = to_terminal.then(terminal_width).flatten();
            report::to_table(&report, TableStyle { color: to_terminal, width })
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, rendered).with_context(|| format!("writing {}", path.display()))?,
        None => std::io::stdout().lock().write_all(rendered.as_bytes()).context("writing the report")?,
    }
    Ok(if report.summary.total > 0 { args.exit_code } else { 0 })
}

fn report_options(args: &ImageArgs) -> Result<ReportOptions> {
    let severities: BTreeSet<Severity> = if args.severity.is_empty() {
        Severity::ALL.into_iter().collect()
    } else {
        args.severity.iter().map(|s| s.parse::<Severity>().map_err(anyhow::Error::msg)).collect::<Result<_>>()?
    };
    Ok(ReportOptions { severities, ignore_unfixed: args.ignore_unfixed, list_packages: args.list_all_pkgs })
}

fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).or(Some(160))
}
