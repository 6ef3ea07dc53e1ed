//! What the user accepts: the scanners chosen, `.strataignore` entries ([`ignore`]) and OpenVEX statements
//! ([`vex`]). Applied to a built [`Report`]: suppressed findings move from `findings` (and `secrets`,
//! `misconfigurations`) to the target's `suppressed` list with the reason, and the summary — and with it the
//! exit code — counts only what remains.

pub mod ignore;
pub mod vex;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use ignore::IgnoreEntry;
pub use vex::VexStatement;

use super::{Finding, Reachability, Report, image_purl, summarize};
use crate::misconfig::Misconfiguration;
use crate::secret::SecretFinding;

/// What a scan looks for (`--scanners vuln,secret,misconfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scanner {
    Vuln,
    Secret,
    Misconfig,
}

impl Scanner {
    /// Trivy's default: vulnerabilities and secrets; misconfiguration checks on request.
    pub const DEFAULT: [Scanner; 2] = [Scanner::Vuln, Scanner::Secret];

    pub fn as_str(self) -> &'static str {
        match self {
            Scanner::Vuln => "vuln",
            Scanner::Secret => "secret",
            Scanner::Misconfig => "misconfig",
        }
    }
}

impl fmt::Display for Scanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scanner {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "vuln" | "vulnerability" => Ok(Scanner::Vuln),
            "secret" => Ok(Scanner::Secret),
            "misconfig" | "config" => Ok(Scanner::Misconfig),
            other => Err(format!("unknown scanner {other:?} (expected vuln, secret or misconfig)")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub scanners: BTreeSet<Scanner>,
    pub ignore: Vec<IgnoreEntry>,
    /// Statements of every `--vex` document, in the order given.
    pub vex: Vec<VexStatement>,
    /// The day expiry dates are compared with (the caller's clock: the engine reads none).
    pub today: NaiveDate,
}

impl Policy {
    pub fn new(today: NaiveDate) -> Self {
        Policy { scanners: Scanner::DEFAULT.into_iter().collect(), ignore: Vec::new(), vex: Vec::new(), today }
    }
}

/// A finding taken out of the counts, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppressed {
    #[serde(flatten)]
    pub item: SuppressedItem,
    pub suppression: Suppression,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressedItem {
    Vulnerability(Finding),
    Secret(SecretFinding),
    Misconfiguration(Misconfiguration),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// `ignorefile` or `vex`.
    pub by: String,
    /// The ignore file, or the VEX file and document `@id`.
    pub source: String,
    /// The ignore entry's id, or the VEX status (`not_affected`, `fixed`).
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// The ignore entry's reason, or the VEX impact statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<NaiveDate>,
}

/// Applies `policy` to `report` in place and recounts the summary.
pub fn apply(report: &mut Report, policy: &Policy) {
    let image = vex::parse_purl(&image_purl(&report.artifact));
    for entry in policy.ignore.iter().filter(|e| !e.active(policy.today)) {
        if let Some(day) = entry.expires {
            report
                .warnings
                .push(format!("{}: ignore entry {} expired on {day}; no longer applied", entry.origin, entry.id));
        }
    }
    let ignore: Vec<&IgnoreEntry> = policy.ignore.iter().filter(|e| e.active(policy.today)).collect();
    for result in &mut report.results {
        if !policy.scanners.contains(&Scanner::Vuln) {
            result.findings.clear();
        }
        if !policy.scanners.contains(&Scanner::Secret) {
            result.secrets.clear();
        }
        if !policy.scanners.contains(&Scanner::Misconfig) {
            result.misconfigurations.clear();
        }
        let (kept, gone) = partition(std::mem::take(&mut result.findings), |f| {
            vulnerability_suppression(f, &ignore, &policy.vex, image.as_ref())
        });
        result.findings = kept;
        result.suppressed.extend(
            gone.into_iter().map(|(f, s)| Suppressed { item: SuppressedItem::Vulnerability(f), suppression: s }),
        );
        let (kept, gone) =
            partition(std::mem::take(&mut result.secrets), |s| by_ignore(&ignore, &[&s.rule_id], &[], &s.path, None));
        result.secrets = kept;
        result
            .suppressed
            .extend(gone.into_iter().map(|(f, s)| Suppressed { item: SuppressedItem::Secret(f), suppression: s }));
        let (kept, gone) = partition(std::mem::take(&mut result.misconfigurations), |m| {
            by_ignore(&ignore, &[&m.id], &[], &m.source, None)
        });
        result.misconfigurations = kept;
        result.suppressed.extend(
            gone.into_iter().map(|(f, s)| Suppressed { item: SuppressedItem::Misconfiguration(f), suppression: s }),
        );
    }
    report.summary = summarize(&report.results);
}

fn partition<T>(items: Vec<T>, why: impl Fn(&T) -> Option<Suppression>) -> (Vec<T>, Vec<(T, Suppression)>) {
    let (mut kept, mut gone) = (Vec::new(), Vec::new());
    for item in items {
        match why(&item) {
            Some(s) => gone.push((item, s)),
            None => kept.push(item),
        }
    }
    (kept, gone)
}

fn vulnerability_suppression(
    f: &Finding,
    ignore: &[&IgnoreEntry],
    vex: &[VexStatement],
    image: Option<&packageurl::PackageUrl<'_>>,
) -> Option<Suppression> {
    let ids: Vec<&str> = std::iter::once(f.id.as_str()).chain(f.aliases.iter().map(String::as_str)).collect();
    let packages: Vec<&str> = std::iter::once(f.package.as_str()).chain(f.source_package.as_deref()).collect();
    if let Some(s) = by_ignore(ignore, &ids, &packages, &f.path, f.reachability) {
        return Some(s);
    }
    let package = vex::parse_purl(&f.purl);
    // The latest statement about this finding decides; ties go to the one given last.
    let decisive = vex
        .iter()
        .enumerate()
        .filter(|(_, s)| s.names(&ids) && s.covers(package.as_ref(), image))
        .max_by_key(|(i, s)| (s.timestamp, *i))
        .map(|(_, s)| s)?;
    decisive.suppresses().then(|| Suppression {
        by: "vex".into(),
        source: decisive.origin.clone(),
        rule: decisive.status.clone(),
        justification: decisive.justification.clone(),
        reason: decisive.statement.clone(),
        expires: None,
    })
}

fn by_ignore(
    ignore: &[&IgnoreEntry],
    ids: &[&str],
    packages: &[&str],
    path: &str,
    reachability: Option<Reachability>,
) -> Option<Suppression> {
    let entry = ignore.iter().find(|e| e.matches(ids, packages, path, reachability))?;
    Some(Suppression {
        by: "ignorefile".into(),
        source: entry.origin.clone(),
        rule: entry.id.clone(),
        justification: None,
        reason: Some(entry.reason.clone()),
        expires: entry.expires,
    })
}

#[cfg(test)]
mod tests;
