//! `strata dockerfile PATH`: check a Dockerfile against Docker's practices, and the `config`-class
//! results `strata image` adds (the image config rules, and `--dockerfile PATH`).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use strata_scanner::misconfig::dockerfile::{self, BuildContext};
use strata_scanner::misconfig::{Misconfiguration, image};
use strata_scanner::report::TargetResult;
use strata_scanner::severity::Severity;

use crate::args::{DockerfileArgs, Format};

/// The JSON shape of `strata dockerfile`: the same `results[]` entries as an image report's.
#[derive(Serialize)]
struct DockerfileReport {
    schema_version: u32,
    results: Vec<TargetResult>,
    summary: Summary,
}

#[derive(Serialize)]
struct Summary {
    total: usize,
    by_severity: std::collections::BTreeMap<Severity, usize>,
}

pub fn run(args: DockerfileArgs) -> Result<u8> {
    let severities = parse_severities(&args.severity)?;
    let result = dockerfile_result(&args.path, args.context.as_deref(), &severities)?;
    let found = &result.misconfigurations;
    let mut by_severity: std::collections::BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
    for m in found {
        *by_severity.entry(m.severity).or_default() += 1;
    }
    let total = found.len();
    let rendered = match args.format {
        Format::Json => {
            let report = DockerfileReport {
                schema_version: strata_scanner::report::REPORT_SCHEMA_VERSION,
                results: vec![result],
                summary: Summary { total, by_severity },
            };
            serde_json::to_string_pretty(&report)? + "\n"
        }
        _ => render(&result),
    };
    match &args.output {
        Some(path) => std::fs::write(path, rendered).with_context(|| format!("writing {}", path.display()))?,
        None => std::io::stdout().lock().write_all(rendered.as_bytes()).context("writing the report")?,
    }
    Ok(if total > 0 { args.exit_code } else { 0 })
}

/// Checks the Dockerfile at `path`; the `.dockerignore` comes from `<path>.dockerignore` (BuildKit's
/// per-Dockerfile ignore file) or else the build context, which is the Dockerfile's directory by default.
pub fn dockerfile_result(path: &Path, context: Option<&Path>, severities: &BTreeSet<Severity>) -> Result<TargetResult> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let context_dir = match context {
        Some(dir) => dir.to_path_buf(),
        None => path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    let own = PathBuf::from(format!("{}.dockerignore", path.display()));
    let dockerignore = [own, context_dir.join(".dockerignore")]
        .iter()
        .find(|p| p.is_file())
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let found = dockerfile::check(&text, &BuildContext { dockerignore })
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(config_result(path.display().to_string(), "dockerfile", found, severities))
}

/// The image config rules as a report target.
pub fn image_config_result(checks: &image::ImageChecks, severities: &BTreeSet<Severity>) -> TargetResult {
    config_result("image config".to_string(), "image-config", image::check(checks), severities)
}

fn config_result(
    target: String,
    kind: &str,
    found: Vec<Misconfiguration>,
    severities: &BTreeSet<Severity>,
) -> TargetResult {
    let mut result: TargetResult = serde_json::from_value(serde_json::json!({
        "target": target, "class": "config", "type": kind, "packages": 0, "findings": []
    }))
    .expect("a TargetResult's required fields");
    result.misconfigurations = found.into_iter().filter(|m| severities.contains(&m.severity)).collect();
    result
}

pub fn parse_severities(list: &[String]) -> Result<BTreeSet<Severity>> {
    if list.is_empty() {
        return Ok(Severity::ALL.into_iter().collect());
    }
    list.iter().map(|s| s.parse::<Severity>().map_err(anyhow::Error::msg)).collect()
}

/// Plain text: one block per finding, worst first.
pub fn render(result: &TargetResult) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({}): {} misconfigurations", result.target, result.kind, result.misconfigurations.len());
    let mut found: Vec<&Misconfiguration> = result.misconfigurations.iter().collect();
    found.sort_by_key(|m| (std::cmp::Reverse(m.severity), m.line, m.id.clone()));
    for m in found {
        let at = m.line.map(|l| format!(" line {l}")).unwrap_or_default();
        let _ = writeln!(out, "\n{} {}{at}: {}\n  {}\n  fix: {}", m.id, m.severity, m.title, m.message, m.resolution);
    }
    out
}

/// What `strata image` adds to its report with the misconfig scanner (`misconfig` is `Some`): the image
/// config rules and the `--dockerfile` checks. (The base-image advice comes with the report itself.)
pub fn add_to_image_report(
    report: &mut strata_scanner::report::Report,
    scanned: &crate::pipeline::Scanned,
    misconfig: Option<Option<&Path>>,
    context: Option<&Path>,
    severities: &BTreeSet<Severity>,
) -> Result<()> {
    use strata_scanner::report::advice;
    let Some(dockerfile) = misconfig else { return Ok(()) };
    let base_layers = advice::base_layers(&scanned.image);
    let checks = image::ImageChecks {
        image: &scanned.image,
        inventory: &scanned.inventory,
        facts: &scanned.inventory.layer_facts,
        base_layers,
        size_limit: image::DEFAULT_SIZE_LIMIT,
    };
    let config = image_config_result(&checks, severities);
    if !config.misconfigurations.is_empty() {
        report.results.push(config);
    }
    if let Some(path) = dockerfile {
        report.results.push(dockerfile_result(path, context, severities)?);
    }
    Ok(())
}
