//! The vulnerability DB: OSV advisories ingested into one compact file, indexed by (ecosystem, package).
//!
//! OWNED BY THE VULNDB WORK — see the module docs of the submodules once written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::severity::Severity;

/// One OSV record, reduced to what matching and reports need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: String,
    /// OSV `aliases` (CVE, GHSA ids).
    pub aliases: Vec<String>,
    /// OSV `upstream`: the CVEs a distro advisory (DSA/DLA) covers.
    pub upstream: Vec<String>,
    pub summary: Option<String>,
    pub details: Option<String>,
    pub severity: Severity,
    pub cvss_score: Option<f64>,
    pub cvss_vector: Option<String>,
    pub primary_url: Option<String>,
    pub references: Vec<String>,
    pub published: Option<String>,
    pub modified: Option<String>,
    pub affected: Vec<Affected>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    /// Normalised OSV ecosystem (`Debian:11`, `Alpine:v3.17`, `Ubuntu:22.04`, `npm`, `PyPI`).
    pub ecosystem: String,
    pub name: String,
    pub ranges: Vec<Range>,
    /// Explicitly listed affected versions.
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub kind: RangeKind,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeKind {
    Ecosystem,
    Semver,
    Git,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

/// The file header: enough to tell which data a report was matched against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbHeader {
    pub format_version: u32,
    /// sha256 of the body, hex: two DBs with the same digest match identically.
    pub content_digest: String,
    pub built_at: String,
    pub sources: Vec<SourceInfo>,
    /// Advisories per normalised ecosystem.
    pub record_counts: BTreeMap<String, u64>,
    pub withdrawn_skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub location: String,
    pub records: u64,
}

/// A match of one package version against one advisory.
#[derive(Debug, Clone, PartialEq)]
pub struct VulnMatch<'a> {
    pub advisory: &'a Advisory,
    /// The lowest `fixed` event above the installed version, if the advisory names one.
    pub fixed_version: Option<String>,
}
