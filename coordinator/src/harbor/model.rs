//! The adapter API's objects, field by field as the spec names them, and its MIME types.

use std::fmt;

use serde::{Deserialize, Serialize};

pub const METADATA_MIME: &str = "application/vnd.scanner.adapter.metadata+json; version=1.1";
pub const SCAN_RESPONSE_MIME: &str = "application/vnd.scanner.adapter.scan.response+json; version=1.0";
pub const ERROR_MIME: &str = "application/vnd.scanner.adapter.error+json; version=1.0";
pub const VULN_REPORT_MIME: &str = "application/vnd.security.vulnerability.report; version=1.1";
pub const HARBOR_VULN_REPORT_MIME: &str = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";
pub const SBOM_REPORT_MIME: &str = "application/vnd.security.sbom.report+json; version=1.0";
pub const SPDX_MIME: &str = "application/spdx+json";
pub const CYCLONEDX_MIME: &str = "application/vnd.cyclonedx+json";
/// The artifacts Strata scans: image manifests (Harbor scans an index's manifests one by one).
pub const CONSUMES: [&str; 2] =
    ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"];

/// What a report request asks for, from its `Accept` header and `sbom_media_type` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// `mime`: the MIME type answered with (either vulnerability report type).
    Vulnerabilities {
        mime: &'static str,
    },
    Sbom {
        format: SbomFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbomFormat {
    Spdx,
    CycloneDx,
}

impl SbomFormat {
    pub fn mime(self) -> &'static str {
        match self {
            SbomFormat::Spdx => SPDX_MIME,
            SbomFormat::CycloneDx => CYCLONEDX_MIME,
        }
    }
}

/// Why a report request cannot be answered: the spec's 400 (bad SBOM parameter) or 501 (a MIME type the
/// scanner does not produce).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unwanted {
    BadRequest(String),
    NotProduced(String),
}

/// MIME types compared without case and blanks (`…report; version=1.1` = `…report;version=1.1`).
fn normalise(mime: &str) -> String {
    mime.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase()
}

/// The first produced type the `Accept` header lists; no header or `*/*` means the vulnerability report.
pub fn negotiate(accept: Option<&str>, sbom_media_type: Option<&str>) -> Result<Wanted, Unwanted> {
    let accept = accept.unwrap_or("").trim();
    let wants_any = accept.is_empty() || accept.split(',').any(|m| matches!(normalise(m).as_str(), "*/*" | "*/*;q=1"));
    for candidate in accept.split(',') {
        let candidate = normalise(candidate);
        for mime in [VULN_REPORT_MIME, HARBOR_VULN_REPORT_MIME] {
            if candidate == normalise(mime) {
                return Ok(Wanted::Vulnerabilities { mime });
            }
        }
        if candidate == normalise(SBOM_REPORT_MIME) {
            let format = match sbom_media_type.map(str::trim) {
                Some(SPDX_MIME) => SbomFormat::Spdx,
                Some(CYCLONEDX_MIME) => SbomFormat::CycloneDx,
                Some(other) => {
                    return Err(Unwanted::BadRequest(format!(
                        "sbom_media_type {other:?}: {SPDX_MIME} or {CYCLONEDX_MIME}"
                    )));
                }
                None => {
                    return Err(Unwanted::BadRequest(format!(
                        "an SBOM report needs ?sbom_media_type={SPDX_MIME} or {CYCLONEDX_MIME}"
                    )));
                }
            };
            return Ok(Wanted::Sbom { format });
        }
    }
    if wants_any {
        return Ok(Wanted::Vulnerabilities { mime: VULN_REPORT_MIME });
    }
    Err(Unwanted::NotProduced(format!(
        "no report of type {accept:?}: {VULN_REPORT_MIME}, {HARBOR_VULN_REPORT_MIME} or {SBOM_REPORT_MIME}"
    )))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scanner {
    pub name: String,
    pub vendor: String,
    pub version: String,
}

impl Scanner {
    pub fn strata() -> Scanner {
        Scanner { name: "Strata".into(), vendor: "Strata".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repository: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mime_type: String,
}

#[derive(Clone, Default, Deserialize)]
pub struct Registry {
    #[serde(default)]
    pub url: String,
    /// `Basic …` robot credentials (or a bearer token): secret.
    #[serde(default)]
    pub authorization: Option<String>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("url", &self.url)
            .field("authorization", &self.authorization.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScanRequest {
    pub registry: Option<Registry>,
    pub artifact: Option<Artifact>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorResponse {
    pub error: ErrorMessage,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorMessage {
    pub message: String,
}

impl ErrorResponse {
    pub fn new(message: impl Into<String>) -> ErrorResponse {
        ErrorResponse { error: ErrorMessage { message: message.into() } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let vuln = Ok(Wanted::Vulnerabilities { mime: VULN_REPORT_MIME });
        assert_eq!(negotiate(Some("application/vnd.security.vulnerability.report; version=1.1"), None), vuln);
        assert_eq!(negotiate(Some("application/vnd.security.vulnerability.report;version=1.1"), None), vuln);
        assert_eq!(negotiate(None, None), vuln);
        assert_eq!(negotiate(Some("*/*"), None), vuln);
        assert_eq!(
            negotiate(Some(HARBOR_VULN_REPORT_MIME), None),
            Ok(Wanted::Vulnerabilities { mime: HARBOR_VULN_REPORT_MIME })
        );
        assert_eq!(
            negotiate(Some(SBOM_REPORT_MIME), Some(CYCLONEDX_MIME)),
            Ok(Wanted::Sbom { format: SbomFormat::CycloneDx })
        );
        assert!(matches!(negotiate(Some(SBOM_REPORT_MIME), None), Err(Unwanted::BadRequest(_))));
        assert!(matches!(negotiate(Some(SBOM_REPORT_MIME), Some("text/csv")), Err(Unwanted::BadRequest(_))));
        assert!(matches!(
            negotiate(Some("application/vnd.scanner.adapter.vuln.report.raw"), None),
            Err(Unwanted::NotProduced(_))
        ));
        assert!(matches!(negotiate(Some("text/html"), None), Err(Unwanted::NotProduced(_))));
    }
}
