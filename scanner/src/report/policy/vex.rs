//! OpenVEX v0.2.0 documents (`--vex FILE`): statements that a product is or is not affected by a
//! vulnerability. `not_affected` and `fixed` suppress a finding; `affected` and `under_investigation` keep
//! it. When several statements speak about the same finding, the latest (by timestamp, then by order in the
//! documents) decides, as the spec lets later statements supersede earlier ones.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset};
use packageurl::PackageUrl;
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};

const CONTEXT_PREFIX: &str = "https://openvex.dev/ns";

const JUSTIFICATIONS: [&str; 5] = [
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
];

#[derive(Debug, Deserialize)]
struct RawDocument {
    #[serde(rename = "@context")]
    context: String,
    #[serde(rename = "@id", default)]
    id: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    statements: Vec<RawStatement>,
}

#[derive(Debug, Deserialize)]
struct RawStatement {
    vulnerability: RawVulnerability,
    #[serde(default)]
    products: Vec<RawProduct>,
    status: String,
    #[serde(default)]
    justification: Option<String>,
    #[serde(default)]
    impact_statement: Option<String>,
    #[serde(default)]
    status_notes: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawVulnerability {
    #[serde(rename = "@id", default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RawProduct {
    #[serde(rename = "@id", default)]
    id: Option<String>,
    #[serde(default)]
    identifiers: Option<RawIdentifiers>,
    #[serde(default)]
    subcomponents: Vec<RawProduct>,
}

#[derive(Debug, Deserialize)]
struct RawIdentifiers {
    #[serde(default)]
    purl: Option<String>,
}

/// One statement, ready to match.
#[derive(Debug, Clone)]
pub struct VexStatement {
    /// The vulnerability's name, `@id` and aliases; an `@id` URL also counts by its last path segment.
    pub vulnerability: Vec<String>,
    pub products: Vec<VexProduct>,
    pub status: String,
    pub justification: Option<String>,
    /// `impact_statement`, else `status_notes`: the human reason.
    pub statement: Option<String>,
    pub timestamp: Option<DateTime<FixedOffset>>,
    /// The file and document `@id` it came from.
    pub origin: String,
}

#[derive(Debug, Clone)]
pub struct VexProduct {
    pub purl: Option<PackageUrl<'static>>,
    pub subcomponents: Vec<PackageUrl<'static>>,
}

impl VexStatement {
    pub fn suppresses(&self) -> bool {
        matches!(self.status.as_str(), "not_affected" | "fixed")
    }

    pub fn names(&self, ids: &[&str]) -> bool {
        self.vulnerability.iter().any(|v| ids.iter().any(|id| id.eq_ignore_ascii_case(v)))
    }

    /// Whether a product is the package itself, or the image with no subcomponents or with the package
    /// among them.
    pub fn covers(&self, package: Option<&PackageUrl<'_>>, image: Option<&PackageUrl<'_>>) -> bool {
        self.products.iter().any(|p| {
            let Some(purl) = &p.purl else { return false };
            let is_package = package.is_some_and(|pkg| purl_matches(purl, pkg));
            let is_image = image.is_some_and(|img| purl_matches(purl, img));
            is_package
                || (is_image
                    && (p.subcomponents.is_empty()
                        || package.is_some_and(|pkg| p.subcomponents.iter().any(|s| purl_matches(s, pkg)))))
        })
    }
}

/// `pattern` names `candidate` when type, namespace and name agree, and the version and each qualifier
/// that `pattern` gives are the same in `candidate` (a VEX purl without a version covers every version).
pub fn purl_matches(pattern: &PackageUrl<'_>, candidate: &PackageUrl<'_>) -> bool {
    let same = |a: Option<&str>, b: Option<&str>| a.unwrap_or("").eq_ignore_ascii_case(b.unwrap_or(""));
    pattern.ty().eq_ignore_ascii_case(candidate.ty())
        && same(pattern.namespace(), candidate.namespace())
        && same(Some(pattern.name()), Some(candidate.name()))
        && pattern.version().is_none_or(|v| candidate.version() == Some(v))
        && pattern.qualifiers().iter().all(|(k, v)| candidate.qualifiers().get(k).is_some_and(|c| c == v))
}

pub fn parse_purl(s: &str) -> Option<PackageUrl<'static>> {
    PackageUrl::from_str(s.trim()).ok()
}

/// Parses one OpenVEX JSON document; `origin` names the file in errors and in the report.
pub fn parse(text: &str, origin: &str) -> Result<Vec<VexStatement>> {
    let doc: RawDocument = serde_json::from_str(text)
        .map_err(|e| Error::with_source(ErrorKind::Parse, format!("{origin}: not an OpenVEX JSON document"), e))?;
    if !doc.context.starts_with(CONTEXT_PREFIX) {
        return Err(Error::new(
            ErrorKind::Parse,
            format!("{origin}: @context {:?} is not OpenVEX ({CONTEXT_PREFIX}/v0.2.0)", doc.context),
        ));
    }
    let doc_time = doc.timestamp.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    let source = match &doc.id {
        Some(id) => format!("{origin} ({id})"),
        None => origin.to_string(),
    };
    doc.statements
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let what = format!("{origin}: statement {}", i + 1);
            let status = s.status.trim().to_string();
            if !matches!(status.as_str(), "not_affected" | "affected" | "fixed" | "under_investigation") {
                return Err(Error::new(ErrorKind::Parse, format!("{what}: unknown status {status:?}")));
            }
            if let Some(j) = s.justification.as_deref().filter(|j| !JUSTIFICATIONS.contains(j)) {
                return Err(Error::new(ErrorKind::Parse, format!("{what}: unknown justification {j:?}")));
            }
            if status == "not_affected" && s.justification.is_none() && s.impact_statement.is_none() {
                // The spec requires one of them: a bare "not affected" is no reason to hide a finding.
                return Err(Error::new(
                    ErrorKind::Parse,
                    format!("{what}: not_affected needs a justification or an impact_statement"),
                ));
            }
            let mut vulnerability: Vec<String> =
                s.vulnerability.name.into_iter().chain(s.vulnerability.aliases).collect();
            if let Some(id) = s.vulnerability.id {
                if let Some(last) = id.trim_end_matches('/').rsplit('/').next().filter(|l| *l != id) {
                    vulnerability.push(last.to_string());
                }
                vulnerability.push(id);
            }
            if vulnerability.is_empty() {
                return Err(Error::new(ErrorKind::Parse, format!("{what}: the vulnerability has no name")));
            }
            Ok(VexStatement {
                vulnerability,
                products: s.products.iter().map(product).collect(),
                status,
                justification: s.justification,
                statement: s.impact_statement.or(s.status_notes),
                timestamp: s.timestamp.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).or(doc_time),
                origin: source.clone(),
            })
        })
        .collect()
}

fn product(p: &RawProduct) -> VexProduct {
    let purl_of = |p: &RawProduct| {
        p.identifiers.as_ref().and_then(|i| i.purl.as_deref()).or(p.id.as_deref()).and_then(parse_purl)
    };
    VexProduct { purl: purl_of(p), subcomponents: p.subcomponents.iter().filter_map(purl_of).collect() }
}
