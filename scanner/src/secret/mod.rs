//! Secret detection: built-in rules ([`rules`]), a keyword prefilter and masking ([`Scanner`]), and the
//! user's config ([`SecretConfig`]). Findings never carry the secret itself, only a masked excerpt, so they
//! are safe to cache, log and report.
//!
//! Layer analysis scans every small text file of every layer with [`Scanner::builtin`] and keeps the
//! findings in the layer's inventory ([`FileSecret`]); the merge attributes them to their layer and marks
//! those a later layer deleted ([`SecretFinding`]).

#[cfg(test)]
mod budget_tests;
pub mod config;
#[cfg(test)]
mod corpus_tests;
pub mod render;
pub mod rules;
mod scan;
#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

pub use config::SecretConfig;
pub use scan::{BINARY_SNIFF, SIZE_CAP, Scanner, entropy, looks_binary};

use crate::model::LayerOrigin;
use crate::severity::Severity;

/// A secret found in a file of a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretFinding {
    /// Stable rule id (`aws-access-key-id`, `private-key`, …).
    pub rule_id: String,
    pub category: String,
    pub title: String,
    pub severity: Severity,
    /// Absolute path in the image (`/app/.env`).
    pub path: String,
    /// 1-based line of the match.
    pub line: u32,
    /// The matching line with the secret replaced by `*`.
    pub masked: String,
    /// The layer that holds the file.
    pub layer: LayerOrigin,
    /// The layer that deleted the file, when a later layer did: the secret is still in the image's blobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_in: Option<LayerOrigin>,
}

/// A secret as one layer's analysis records it: masked, without layer attribution (the merge adds it),
/// so the same blob gives the same value in every image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSecret {
    pub rule_id: String,
    pub category: String,
    pub title: String,
    pub severity: Severity,
    /// Absolute path in the image (`/app/.env`).
    pub path: String,
    /// 1-based line of the match.
    pub line: u32,
    /// The matching line with the secret replaced by `*`.
    pub masked: String,
}

impl SecretFinding {
    pub fn new(found: &FileSecret, layer: LayerOrigin, deleted_in: Option<LayerOrigin>) -> Self {
        SecretFinding {
            rule_id: found.rule_id.clone(),
            category: found.category.clone(),
            title: found.title.clone(),
            severity: found.severity,
            path: found.path.clone(),
            line: found.line,
            masked: found.masked.clone(),
            layer,
            deleted_in,
        }
    }
}

static BUILTIN: LazyLock<Scanner> = LazyLock::new(|| match SecretConfig::default().scanner() {
    Ok(scanner) => scanner,
    // The built-in rules are literals covered by the tests: failing to compile them is a bug.
    Err(e) => panic!("built-in secret rules: {e}"),
});

impl Scanner {
    /// The built-in rules with the default allow-list, compiled once per process.
    pub fn builtin() -> &'static Scanner {
        &BUILTIN
    }
}
