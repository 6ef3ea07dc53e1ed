//! The vulnerability DB: OSV advisories ingested into one compact file, indexed by (ecosystem, package).
//!
//! - [`osv`]: the OSV record shape and its reduction to an [`Advisory`] (severity, URLs, text).
//! - `ingest`: reading directories, `.json`, `all.zip` and `.jsonl.gz` sources, with per-record warnings.
//! - `file`: the on-disk format (magic, JSON header, zstd-compressed postcard body) and its checks.
//! - `index`: the (ecosystem, name) lookup built at load, and the ecosystem/name normalisation rules.
//! - `alias`: severity borrowed from an alias record for advisories that have none (at build time).
//! - `freshness`: the newest advisory date, and when data counts as stale.
//!
//! Matching itself (OSV range semantics) is [`crate::matcher`]; version orderings are [`crate::version`].

mod alias;
mod file;
mod freshness;
mod index;
mod ingest;
mod osv;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::matcher::Installed;
use crate::severity::Severity;
use crate::version::{self, scheme_for};

pub use crate::model::{Affected, Event, GoImport, Range, RangeKind};
pub use file::FORMAT_VERSION;
pub use freshness::{STALE_AFTER_DAYS, stale_for, stale_notice};
pub use index::{normalize_ecosystem, normalize_name};
pub use ingest::IngestWarning;

/// One OSV record, reduced to what matching and reports need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: String,
    /// OSV `aliases` (CVE, GHSA ids).
    pub aliases: Vec<String>,
    /// OSV `upstream`: the CVEs a distro advisory (DSA/DLA) covers.
    pub upstream: Vec<String>,
    /// The first line of the OSV `summary`.
    pub summary: Option<String>,
    /// OSV `details`, cut to about 1,000 characters.
    pub details: Option<String>,
    pub severity: Severity,
    /// The alias record the severity (and score, vector) was taken from, when the advisory has none of its
    /// own (see `alias`).
    pub severity_source: Option<String>,
    pub cvss_score: Option<f64>,
    pub cvss_vector: Option<String>,
    /// An ADVISORY reference, else the first WEB reference.
    pub primary_url: Option<String>,
    pub references: Vec<String>,
    pub published: Option<String>,
    pub modified: Option<String>,
    pub affected: Vec<Affected>,
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
    /// Advisories whose severity was taken from an alias record.
    #[serde(default)]
    pub severity_from_aliases: u64,
    /// The newest `modified` (else `published`) date of any advisory, not after `built_at`: how current the
    /// data is, whenever the file was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_advisory: Option<String>,
    /// The same per normalised ecosystem: one ecosystem's data can stop years before another's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub newest_by_ecosystem: BTreeMap<String, String>,
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
    /// The advisory's entries that matched (one advisory may list the package twice).
    pub affected: Vec<&'a Affected>,
}

/// A loaded or freshly built DB: the advisories (sorted by id) and their lookup index.
#[derive(Debug)]
pub struct VulnDb {
    header: DbHeader,
    advisories: Vec<Advisory>,
    index: index::Index,
    warnings: Vec<IngestWarning>,
    /// The encoded body of a freshly built DB, kept so that `write` does not compress it a second time.
    body: Option<Vec<u8>>,
}

impl VulnDb {
    /// Ingests OSV sources: directories (walked for `*.json`, `*.zip`, `*.jsonl.gz`), single `.json` records,
    /// osv.dev `all.zip` exports and `.jsonl.gz` files. Records that fail to parse become [`Self::warnings`].
    pub fn build(sources: &[PathBuf]) -> Result<VulnDb> {
        let ingested = ingest::ingest(sources)?;
        let mut db = VulnDb::from_advisories(ingested.advisories, ingested.sources, ingested.withdrawn)?;
        db.warnings = ingested.warnings;
        Ok(db)
    }

    /// A DB from advisories already in memory (tests, other front ends). Computes the header and index.
    pub fn from_advisories(
        mut advisories: Vec<Advisory>,
        sources: Vec<SourceInfo>,
        withdrawn_skipped: u64,
    ) -> Result<VulnDb> {
        advisories.sort_by(|a, b| a.id.cmp(&b.id));
        let severity_from_aliases = alias::borrow_severities(&mut advisories);
        let now = chrono::Utc::now();
        let mut newest = freshness::Newest::new(now);
        let mut record_counts = BTreeMap::new();
        for advisory in &advisories {
            let ecosystems: BTreeSet<_> = advisory.affected.iter().map(|a| normalize_ecosystem(&a.ecosystem)).collect();
            newest.add(advisory, &ecosystems);
            for eco in ecosystems {
                *record_counts.entry(eco.into_owned()).or_insert(0) += 1;
            }
        }
        let body = file::encode_body(&advisories)?;
        let (newest_advisory, newest_by_ecosystem) = newest.finish();
        let header = DbHeader {
            format_version: FORMAT_VERSION,
            content_digest: file::digest(&body),
            built_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            sources,
            record_counts,
            withdrawn_skipped,
            severity_from_aliases,
            newest_advisory,
            newest_by_ecosystem,
        };
        let index = index::Index::build(&advisories);
        Ok(VulnDb { header, advisories, index, warnings: Vec::new(), body: Some(body) })
    }

    /// Reads a DB file written by [`Self::write`].
    pub fn load(path: &Path) -> Result<VulnDb> {
        let bytes = std::fs::read(path).map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound { ErrorKind::Database } else { ErrorKind::Io };
            Error::with_source(kind, format!("reading vulnerability DB {}", path.display()), e)
        })?;
        VulnDb::from_bytes(&bytes).map_err(|e| e.context(path.display()))
    }

    /// Decodes a DB file image, checking its magic, format version and content digest.
    pub fn from_bytes(bytes: &[u8]) -> Result<VulnDb> {
        let (header, advisories) = file::parse(bytes)?;
        let index = index::Index::build(&advisories);
        Ok(VulnDb { header, advisories, index, warnings: Vec::new(), body: None })
    }

    /// The DB file image: what [`Self::write`] puts on disk.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        match &self.body {
            Some(body) => file::assemble(&self.header, body),
            None => {
                let body = file::encode_body(&self.advisories)?;
                let header = DbHeader { content_digest: file::digest(&body), ..self.header.clone() };
                file::assemble(&header, &body)
            }
        }
    }

    /// Writes the DB atomically (temporary file in the same directory, then rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        file::write_atomic(path, &self.to_bytes()?)
    }

    /// Writes a DB file image that [`Self::from_bytes`] accepted, byte for byte (so its file digest stays
    /// the one it was published under), atomically as [`Self::write`] does.
    pub fn write_image(path: &Path, bytes: &[u8]) -> Result<()> {
        file::write_atomic(path, bytes)
    }

    pub fn header(&self) -> &DbHeader {
        &self.header
    }

    /// All advisories, sorted by id.
    pub fn advisories(&self) -> &[Advisory] {
        &self.advisories
    }

    /// Records skipped while building (empty for a loaded DB).
    pub fn warnings(&self) -> &[IngestWarning] {
        &self.warnings
    }

    /// Whether any advisory names `ecosystem` (normalised), so callers can tell "no findings" from "no data".
    pub fn has_ecosystem(&self, ecosystem: &str) -> bool {
        self.index.has_ecosystem(ecosystem)
    }

    /// The advisories that affect `name` at `version` in `ecosystem`, one per advisory id, sorted by id.
    pub fn matches(&self, ecosystem: &str, name: &str, version: &str) -> Vec<VulnMatch<'_>> {
        let entries = self.index.lookup(&self.advisories, ecosystem, name);
        if entries.is_empty() {
            return Vec::new();
        }
        let scheme = scheme_for(&normalize_ecosystem(ecosystem));
        let installed = Installed::new(scheme, version);
        let mut out: Vec<VulnMatch<'_>> = Vec::new();
        for (ai, fi) in entries {
            let advisory = &self.advisories[ai];
            let entry = &advisory.affected[fi];
            let Some(fixed) = installed.check(entry) else { continue };
            match out.iter_mut().find(|m| m.advisory.id == advisory.id) {
                // Two entries of one advisory for the same package: show the lowest fix either names.
                Some(m) => {
                    m.affected.push(entry);
                    let lower = match (&m.fixed_version, &fixed) {
                        (Some(have), Some(new)) => {
                            version::compare(scheme, new, have) == Some(std::cmp::Ordering::Less)
                        }
                        (None, Some(_)) => true,
                        _ => false,
                    };
                    if lower {
                        m.fixed_version = fixed;
                    }
                }
                None => out.push(VulnMatch { advisory, fixed_version: fixed, affected: vec![entry] }),
            }
        }
        out.sort_by(|a, b| a.advisory.id.cmp(&b.advisory.id));
        out
    }
}

#[cfg(test)]
mod tests;
