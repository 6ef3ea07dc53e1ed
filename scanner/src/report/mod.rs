//! The scan report: what was found, where, and how bad. Built from a merged image inventory and the DB;
//! rendered as a table for people and as JSON for tools (see `docs/report-json.md` for the contract).

pub mod advice;
mod artifact;
pub mod cyclonedx;
mod json;
pub mod openvex;
pub mod policy;
mod purl;
mod reachability;
pub mod sarif;
pub mod spdx;
mod table;
pub mod trivy;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use artifact::{image_purl, repository};
pub use json::to_json;
pub use purl::purl;
pub use table::{TableStyle, to_table};

use crate::analyze::OsInfo;
use crate::image::ResolvedImage;
pub use crate::merge::ImageIncomplete as Incomplete;
use crate::merge::{ImageInventory, InstalledPackage, LayerOrigin};
use crate::misconfig::Misconfiguration;
pub use crate::model::Reachability;
use crate::package::PackageKind;
use crate::secret::SecretFinding;
use crate::severity::Severity;
use crate::vulndb::VulnDb;

/// Bumped on any incompatible change to the JSON shape.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub artifact: Artifact,
    pub db: DbInfo,
    pub results: Vec<TargetResult>,
    pub summary: Summary,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Analysis that was skipped or cut short (a budget ran out, a package database was unreadable). A
    /// report with entries here is **incomplete**: its findings are a lower bound, never a clean bill, and
    /// `--exit-code` treats it as failing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<Incomplete>,
    /// What to do about the base image (see [`advice`]); set by the caller, which knows
    /// today's date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<crate::report::advice::BaseImageAdvice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// The reference or path as given.
    pub name: String,
    /// The config digest ("image ID"): the same from a registry, an OCI layout or a docker-archive.
    pub image_id: String,
    /// The manifest digest, where the source has a manifest (not for docker-archive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_digest: Option<String>,
    pub platform: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsInfo>,
    pub layers: Vec<LayerOrigin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbInfo {
    pub content_digest: String,
    pub built_at: String,
    /// The newest advisory date in the DB: how current the data is (see `vulndb::freshness`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_advisory: Option<String>,
    /// Set by the caller, which knows today's date, when the data this scan matched against is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
}

/// Findings for one target: the OS packages (later also each lockfile or package directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetResult {
    /// Stable name of what was scanned: `debian 11.6` for OS packages.
    pub target: String,
    /// `os-pkgs` or `lang-pkgs`, as Trivy names them.
    pub class: String,
    /// `debian`, `ubuntu`, `alpine` for OS packages.
    #[serde(rename = "type")]
    pub kind: String,
    /// The OSV ecosystem matched against, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem: Option<String>,
    pub packages: usize,
    /// Why nothing could be matched, when that is the case (no advisory data for this release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    pub findings: Vec<Finding>,
    /// Every package of the target, when asked for (`--list-all-pkgs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_list: Option<Vec<PackageEntry>>,
    /// Secrets found in this target (class `secret`: the target is the file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretFinding>,
    /// Failed misconfiguration checks (class `config`: the image config or a Dockerfile).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub misconfigurations: Vec<Misconfiguration>,
    /// Findings that an ignore entry or a VEX statement suppressed, with the reason (see `policy`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<policy::Suppressed>,
    /// Findings the `--severity` and `--ignore-unfixed` filters left out (counted, not listed).
    #[serde(default, skip_serializing_if = "Hidden::is_empty")]
    pub hidden: Hidden,
}

/// Findings left out by the report filters. A finding outside the severities is counted there even when
/// it is also unfixed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hidden {
    /// Per severity, the findings `--severity` left out (levels with none are absent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_severity: BTreeMap<Severity, usize>,
    /// Findings in the selected severities that `--ignore-unfixed` left out (no fixed version).
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub unfixed: usize,
    /// Findings that `--reachable-only` left out: Go findings whose vulnerable symbols are not in the binary.
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub unreachable: usize,
}

impl Hidden {
    pub fn is_empty(&self) -> bool {
        self.by_severity.is_empty() && self.unfixed == 0 && self.unreachable == 0
    }

    pub fn total(&self) -> usize {
        self.by_severity.values().sum::<usize>() + self.unfixed + self.unreachable
    }

    fn add(&mut self, other: &Hidden) {
        for (severity, n) in &other.by_severity {
            *self.by_severity.entry(*severity).or_default() += n;
        }
        self.unfixed += other.unfixed;
        self.unreachable += other.unreachable;
    }
}

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

/// A package as listed with `--list-all-pkgs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageEntry {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    pub purl: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dev: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependency_paths: Vec<String>,
    pub layer: LayerOrigin,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Advisory id (`DSA-5380-1`, `GHSA-…`, `CVE-…`).
    pub id: String,
    /// CVE and other ids the advisory covers (OSV `aliases` and `upstream`).
    pub aliases: Vec<String>,
    pub package: String,
    pub installed_version: String,
    /// The source package, where it differs from the binary package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    pub severity: Severity,
    /// The alias record the severity and score come from, when the advisory has none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_url: Option<String>,
    /// The advisory's CVSS vector, when it has one (the score above is computed from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_vector: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    pub purl: String,
    /// The file that lists the package (`/var/lib/dpkg/status`, `/app/package-lock.json`).
    pub path: String,
    /// How the application reaches the package, `npm ls` style (language packages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependency_paths: Vec<String>,
    /// Further distinct paths that were not kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dependency_paths_cut: u32,
    /// Only a development dependency.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dev: bool,
    pub layer: LayerOrigin,
    /// Go findings: whether the vulnerable symbols are in the binary (see [`Reachability`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachability: Option<Reachability>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    /// Counts per severity, every level present (zero included) so consumers need no defaults.
    pub by_severity: BTreeMap<Severity, usize>,
    /// Secrets and failed misconfiguration checks (not in `total`, which counts vulnerabilities).
    #[serde(default)]
    pub secrets: usize,
    #[serde(default)]
    pub misconfigurations: usize,
    /// Findings the `--severity` / `--ignore-unfixed` filters left out, so a passing gate says what it
    /// did not look at. Always present (zero included).
    #[serde(default)]
    pub hidden: usize,
    /// The same per severity (`--severity`), unfixed (`--ignore-unfixed`) and unreachable
    /// (`--reachable-only`).
    #[serde(default, skip_serializing_if = "Hidden::is_empty")]
    pub hidden_by: Hidden,
    /// Go findings whose vulnerable symbols are not in the binary, listed or hidden by `--reachable-only`:
    /// a report that hides them still says how many there were.
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub unreachable: usize,
}

impl Summary {
    /// Whether anything at all remains after the filters: what `--exit-code` acts on, as in Trivy.
    pub fn any(&self) -> bool {
        self.total + self.secrets + self.misconfigurations > 0
    }
}

/// What the user asked to see: filters change the findings and therefore the exit code.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub severities: BTreeSet<Severity>,
    pub ignore_unfixed: bool,
    pub list_packages: bool,
    /// Leave out findings known to be unreachable (see [`hide_unreachable`]); counted, not dropped silently.
    pub reachable_only: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            severities: Severity::ALL.into_iter().collect(),
            ignore_unfixed: false,
            list_packages: false,
            reachable_only: false,
        }
    }
}

/// Matches the merged inventory against the DB and builds the report.
pub fn build(image: &ResolvedImage, inventory: &ImageInventory, db: &VulnDb, options: &ReportOptions) -> Report {
    let header = db.header();
    let mut results = Vec::new();
    let os_packages: Vec<&InstalledPackage> = inventory.packages.iter().filter(|p| p.package.kind.is_os()).collect();
    if !os_packages.is_empty() || inventory.os.is_some() {
        results.push(os_target(inventory, &os_packages, db, options));
    }
    let mut by_target: BTreeMap<&str, Vec<&InstalledPackage>> = BTreeMap::new();
    for p in inventory.packages.iter().filter(|p| !p.package.kind.is_os()) {
        by_target.entry(p.target.as_str()).or_default().push(p);
    }
    for (target, packages) in by_target {
        results.push(language_target(target, &packages, inventory.os.as_ref(), db, options));
    }
    results.extend(secret_targets(inventory, options));
    let summary = summarize(&results);
    let warnings =
        inventory.warnings.iter().map(|w| format!("layer {} {}: {}", w.layer.diff_id, w.path, w.message)).collect();
    Report {
        schema_version: REPORT_SCHEMA_VERSION,
        artifact: Artifact {
            name: image.name.clone(),
            image_id: image.config_digest.clone(),
            repo_digest: Some(image.manifest_digest.clone()).filter(|d| !d.is_empty()),
            platform: match &image.config.variant {
                Some(v) => format!("{}/{}/{v}", image.config.os, image.config.architecture),
                None => format!("{}/{}", image.config.os, image.config.architecture),
            },
            os: inventory.os.clone(),
            layers: image.layers.iter().map(LayerOrigin::from).collect(),
        },
        db: DbInfo {
            content_digest: header.content_digest.clone(),
            built_at: header.built_at.clone(),
            newest_advisory: header.newest_advisory.clone(),
            stale: None,
        },
        results,
        summary,
        warnings,
        incomplete: inventory.incomplete.clone(),
        advice: None,
    }
}

impl Report {
    /// Whether every layer was analysed in full: a report that is not may hide findings.
    pub fn is_complete(&self) -> bool {
        self.incomplete.is_empty()
    }

    /// One line per gap, naming the layer and file: for tables, SARIF notifications and error summaries.
    pub fn incomplete_lines(&self) -> Vec<String> {
        self.incomplete
            .iter()
            .map(|gap| match &gap.path {
                Some(path) => format!("layer #{} {} {path}: {}", gap.layer.index, gap.layer.diff_id, gap.reason),
                None => format!("layer #{} {}: {}", gap.layer.index, gap.layer.diff_id, gap.reason),
            })
            .collect()
    }

    /// What `--exit-code` acts on: findings remain after the filters, or the analysis was incomplete (a
    /// skipped analysis must never pass a gate that a complete one would fail).
    pub fn fails_gate(&self) -> bool {
        self.summary.any() || !self.is_complete()
    }
}

/// One `secret` target per file with secrets at the selected severities, deleted files included.
fn secret_targets(inventory: &ImageInventory, options: &ReportOptions) -> Vec<TargetResult> {
    let mut by_path: BTreeMap<&str, Vec<SecretFinding>> = BTreeMap::new();
    for s in inventory.secrets.iter().filter(|s| options.severities.contains(&s.severity)) {
        by_path.entry(s.path.as_str()).or_default().push(s.clone());
    }
    by_path
        .into_iter()
        .map(|(path, secrets)| TargetResult {
            target: path.to_string(),
            class: "secret".to_string(),
            kind: "secret".to_string(),
            ecosystem: None,
            packages: 0,
            notice: None,
            findings: Vec::new(),
            package_list: None,
            secrets,
            misconfigurations: Vec::new(),
            suppressed: Vec::new(),
            hidden: Hidden::default(),
        })
        .collect()
}

/// Counts the findings that remain in `results` (suppressed ones are not in `findings`).
pub fn summarize(results: &[TargetResult]) -> Summary {
    let mut summary = Summary {
        total: 0,
        by_severity: Severity::ALL.iter().map(|s| (*s, 0)).collect(),
        secrets: results.iter().map(|r| r.secrets.len()).sum(),
        misconfigurations: results.iter().map(|r| r.misconfigurations.len()).sum(),
        hidden: 0,
        hidden_by: Hidden::default(),
        unreachable: 0,
    };
    for result in results {
        summary.hidden_by.add(&result.hidden);
    }
    summary.hidden = summary.hidden_by.total();
    for finding in results.iter().flat_map(|r| &r.findings) {
        summary.total += 1;
        *summary.by_severity.entry(finding.severity).or_default() += 1;
        if finding.reachability == Some(Reachability::Unreachable) {
            summary.unreachable += 1;
        }
    }
    summary.unreachable += summary.hidden_by.unreachable;
    summary
}

/// `--reachable-only`: moves the findings known to be unreachable out of the lists into the targets'
/// hidden counts and recounts the summary. Findings whose reachability is unknown or was not assessed
/// stay: only evidence that the code is absent hides one. Idempotent, so a stored report that was
/// finished with the filter can be shown with it again.
pub fn hide_unreachable(report: &mut Report) {
    for result in &mut report.results {
        let before = result.findings.len();
        result.findings.retain(|f| f.reachability != Some(Reachability::Unreachable));
        result.hidden.unreachable += before - result.findings.len();
    }
    report.summary = summarize(&report.results);
}

fn os_target(
    inventory: &ImageInventory,
    packages: &[&InstalledPackage],
    db: &VulnDb,
    options: &ReportOptions,
) -> TargetResult {
    let os = inventory.os.as_ref();
    let ecosystem = os.and_then(OsInfo::ecosystem);
    let notice = match (&ecosystem, os) {
        (None, Some(os)) => Some(format!("{os} has no OSV ecosystem; its packages were not matched")),
        (None, None) => Some("operating system not detected; packages were not matched".to_string()),
        (Some(eco), _) if !db.has_ecosystem(eco) => {
            Some(format!("the vulnerability DB has no advisories for {eco}; its packages were not matched"))
        }
        _ => None,
    };
    let matchable = if notice.is_none() { ecosystem.as_deref() } else { None };
    let (findings, hidden) = findings(packages, matchable, os, db, options);
    TargetResult {
        target: os.map_or_else(|| "unknown os".to_string(), ToString::to_string),
        class: "os-pkgs".to_string(),
        kind: os.map_or_else(|| "unknown".to_string(), |o| o.family.clone()),
        findings,
        hidden,
        package_list: options.list_packages.then(|| package_list(packages, os)),
        ecosystem,
        packages: packages.len(),
        notice,
        secrets: Vec::new(),
        misconfigurations: Vec::new(),
        suppressed: Vec::new(),
    }
}

fn language_target(
    target: &str,
    packages: &[&InstalledPackage],
    os: Option<&OsInfo>,
    db: &VulnDb,
    options: &ReportOptions,
) -> TargetResult {
    let kind = packages.first().map(|p| p.package.kind);
    let ecosystem = kind.and_then(PackageKind::language_ecosystem).map(str::to_string);
    let notice = match &ecosystem {
        Some(eco) if !db.has_ecosystem(eco) => {
            Some(format!("the vulnerability DB has no advisories for {eco}; these packages were not matched"))
        }
        _ => None,
    };
    let matchable = if notice.is_none() { ecosystem.as_deref() } else { None };
    let (findings, hidden) = findings(packages, matchable, os, db, options);
    TargetResult {
        target: target.to_string(),
        class: "lang-pkgs".to_string(),
        kind: kind.map_or("unknown", PackageKind::purl_type).to_string(),
        findings,
        hidden,
        package_list: options.list_packages.then(|| package_list(packages, os)),
        ecosystem,
        packages: packages.len(),
        notice,
        secrets: Vec::new(),
        misconfigurations: Vec::new(),
        suppressed: Vec::new(),
    }
}

/// Matches `packages` against `ecosystem` (no ecosystem: nothing to match) and orders the findings; also
/// counts what the filters left out.
fn findings(
    packages: &[&InstalledPackage],
    ecosystem: Option<&str>,
    os: Option<&OsInfo>,
    db: &VulnDb,
    options: &ReportOptions,
) -> (Vec<Finding>, Hidden) {
    let mut hidden = Hidden::default();
    let Some(eco) = ecosystem else { return (Vec::new(), hidden) };
    let mut findings = Vec::new();
    let mut seen = BTreeSet::new();
    for installed in packages {
        let package = &installed.package;
        let go = package.kind == PackageKind::Go;
        // Built at the package's first finding, once: most packages have none.
        let mut symbols: Option<Option<reachability::SymbolIndex<'_>>> = None;
        for m in db.matches(eco, package.advisory_name(), package.advisory_version()) {
            let advisory = m.advisory;
            if !seen.insert((
                advisory.id.clone(),
                package.name.clone(),
                package.version.clone(),
                installed.path.clone(),
            )) {
                continue;
            }
            if !options.severities.contains(&advisory.severity) {
                *hidden.by_severity.entry(advisory.severity).or_default() += 1;
                continue;
            }
            if options.ignore_unfixed && m.fixed_version.is_none() {
                hidden.unfixed += 1;
                continue;
            }
            let mut aliases: Vec<String> = advisory.aliases.iter().chain(&advisory.upstream).cloned().collect();
            aliases.sort();
            aliases.dedup();
            let reachability = go.then(|| {
                let index =
                    symbols.get_or_insert_with(|| package.go_symbols.as_ref().map(reachability::SymbolIndex::new));
                reachability::reachability(index.as_ref(), &m.affected)
            });
            findings.push(Finding {
                id: advisory.id.clone(),
                aliases,
                package: package.name.clone(),
                installed_version: package.version.clone(),
                source_package: package.source_name.clone().filter(|s| *s != package.name),
                fixed_version: m.fixed_version.clone(),
                severity: advisory.severity,
                severity_source: advisory.severity_source.clone(),
                score: advisory.cvss_score,
                title: advisory.summary.clone(),
                primary_url: advisory.primary_url.clone(),
                cvss_vector: advisory.cvss_vector.clone(),
                references: advisory.references.clone(),
                purl: purl(package, os),
                path: installed.path.clone(),
                dependency_paths: package.dependency_paths.clone(),
                dependency_paths_cut: package.dependency_paths_cut,
                dev: package.dev,
                layer: installed.layer.clone(),
                reachability,
            });
        }
    }
    findings.sort_by(|a, b| {
        (std::cmp::Reverse(a.severity), &a.package, &a.id, &a.path).cmp(&(
            std::cmp::Reverse(b.severity),
            &b.package,
            &b.id,
            &b.path,
        ))
    });
    (findings, hidden)
}

fn package_list(packages: &[&InstalledPackage], os: Option<&OsInfo>) -> Vec<PackageEntry> {
    packages
        .iter()
        .map(|p| PackageEntry {
            name: p.package.name.clone(),
            version: p.package.version.clone(),
            arch: p.package.arch.clone(),
            source_name: p.package.source_name.clone(),
            source_version: p.package.source_version.clone(),
            purl: purl(&p.package, os),
            path: p.path.clone(),
            dev: p.package.dev,
            dependency_paths: p.package.dependency_paths.clone(),
            layer: p.layer.clone(),
        })
        .collect()
}

#[cfg(test)]
mod reachability_tests;
