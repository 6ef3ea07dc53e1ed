//! Severity levels, ordered, with the CVSS score bands that map onto them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Ordered from least to most severe, so `max()` picks the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    #[default]
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Unknown];

    /// CVSS v3/v4 qualitative rating bands. A score of 0.0 is "None", which we report as LOW rather than
    /// hide: an advisory exists, so the package is affected.
    pub fn from_score(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s >= 0.0 => Severity::Low,
            _ => Severity::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    /// Accepts the OSV/GHSA words too (`MODERATE` is GitHub's MEDIUM).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "CRITICAL" => Ok(Severity::Critical),
            "HIGH" | "IMPORTANT" => Ok(Severity::High),
            "MEDIUM" | "MODERATE" => Ok(Severity::Medium),
            "LOW" | "NEGLIGIBLE" => Ok(Severity::Low),
            "UNKNOWN" => Ok(Severity::Unknown),
            other => Err(format!("unknown severity {other:?} (expected CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bands() {
        for (score, want) in [
            (10.0, Severity::Critical),
            (9.0, Severity::Critical),
            (8.9, Severity::High),
            (7.0, Severity::High),
            (6.9, Severity::Medium),
            (4.0, Severity::Medium),
            (3.9, Severity::Low),
            (0.0, Severity::Low),
        ] {
            assert_eq!(Severity::from_score(score), want, "{score}");
        }
    }

    #[test]
    fn parse_words() {
        assert_eq!("moderate".parse::<Severity>().unwrap(), Severity::Medium);
        assert!("severe".parse::<Severity>().is_err());
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Unknown);
    }
}
