//! Finishing: from a merged inventory to the report every front end shows — match (when the scan looks for
//! vulnerabilities), base-image advice, the image-config checks (with the misconfig scanner), the
//! `--reachable-only` filter, the policy (scanners, ignore entries, VEX) and the summary. `strata image`,
//! the coordinator's runner and rescans all call [`report`]; the Harbor adapter and DefectDojo delivery
//! take what it made. CPU work: callers run it on the blocking pool.
//!
//! A finished report lists every package; [`for_format`] drops the lists where a format does not show
//! them, so a stored report serves every format.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use strata_scanner::image::ResolvedImage;
use strata_scanner::merge::ImageInventory;
use strata_scanner::misconfig::{Misconfiguration, image};
use strata_scanner::report::advice;
use strata_scanner::report::policy::{self, Policy, Scanner};
use strata_scanner::report::{DbInfo, Report, ReportOptions, TargetResult};
use strata_scanner::severity::Severity;
use strata_scanner::vulndb::VulnDb;

use crate::assemble;

#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    #[error("no vulnerability DB: a scan with the vuln scanner needs one (scanners secret,misconfig do not)")]
    NoDb,
    #[error("building the empty vulnerability DB: {0}")]
    EmptyDb(strata_scanner::Error),
}

/// Whether a scan with `policy` is matched against a vulnerability DB at all.
pub fn needs_db(policy: &Policy) -> bool {
    policy.scanners.contains(&Scanner::Vuln)
}

/// The finished report. `db` is used only when the policy's scanners include `vuln` (and then required);
/// without it the report names no DB. `extra` are config targets the front end checked itself (`strata
/// image --dockerfile`), reported with the misconfig scanner.
pub fn report(
    image: &ResolvedImage,
    inventory: &ImageInventory,
    db: Option<&VulnDb>,
    options: &ReportOptions,
    policy: &Policy,
    extra: Vec<TargetResult>,
) -> Result<Report, FinishError> {
    let options = ReportOptions { list_packages: true, ..options.clone() };
    let mut report = if needs_db(policy) {
        assemble::report(image, inventory, db.ok_or(FinishError::NoDb)?, &options)
    } else {
        let mut report = assemble::report(image, inventory, empty_db()?, &options);
        report.db =
            DbInfo { content_digest: String::new(), built_at: String::new(), newest_advisory: None, stale: None };
        report
    };
    if policy.scanners.contains(&Scanner::Misconfig) {
        let checks = image::ImageChecks {
            image,
            inventory,
            facts: &inventory.layer_facts,
            base_layers: advice::base_layers(image),
            size_limit: image::DEFAULT_SIZE_LIMIT,
        };
        let config = config_result("image config".into(), "image-config", image::check(&checks), &options.severities);
        if !config.misconfigurations.is_empty() {
            report.results.push(config);
        }
        report.results.extend(extra);
    }
    // A filter like `--severity`: what it hides is counted, and the policy then sees only what remains.
    if options.reachable_only {
        strata_scanner::report::hide_unreachable(&mut report);
    }
    policy::apply(&mut report, policy);
    Ok(report)
}

/// Drops the package lists unless the format shows them (`list_packages`: an SBOM format, or
/// `--list-all-pkgs`).
pub fn for_format(report: &mut Report, list_packages: bool) {
    if !list_packages {
        for result in &mut report.results {
            result.package_list = None;
        }
    }
}

/// A `config` target (the image config, a Dockerfile) of the checks at `severities`.
pub fn config_result(
    target: String,
    kind: &str,
    found: Vec<Misconfiguration>,
    severities: &BTreeSet<Severity>,
) -> TargetResult {
    TargetResult {
        target,
        class: "config".into(),
        kind: kind.into(),
        ecosystem: None,
        packages: 0,
        notice: None,
        findings: Vec::new(),
        package_list: None,
        secrets: Vec::new(),
        misconfigurations: found.into_iter().filter(|m| severities.contains(&m.severity)).collect(),
        suppressed: Vec::new(),
        hidden: Default::default(),
    }
}

/// Matching against no advisories: what a scan without the vuln scanner is built with.
fn empty_db() -> Result<&'static VulnDb, FinishError> {
    static EMPTY: OnceLock<VulnDb> = OnceLock::new();
    if let Some(db) = EMPTY.get() {
        return Ok(db);
    }
    let db = VulnDb::from_advisories(Vec::new(), Vec::new(), 0).map_err(FinishError::EmptyDb)?;
    Ok(EMPTY.get_or_init(|| db))
}
