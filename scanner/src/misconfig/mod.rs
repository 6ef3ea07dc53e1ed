//! Misconfiguration checks: Dockerfiles ([`dockerfile`]), and the image config, history and layer facts
//! ([`image`]). The base-image advice, built from a report's findings, is [`crate::report::advice`].

pub mod dockerfile;
mod facts;
pub mod image;
pub mod sensitive;

pub use facts::LayerFacts;

use serde::{Deserialize, Serialize};

use crate::severity::Severity;

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Misconfiguration {
    /// Stable rule id (`DS001` for Dockerfile rules, `IMG001` for image config rules).
    pub id: String,
    pub title: String,
    pub severity: Severity,
    /// What is wrong here, specifically.
    pub message: String,
    /// How to fix it.
    pub resolution: String,
    /// Where: `Dockerfile`, `image config`, or a file path.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}
