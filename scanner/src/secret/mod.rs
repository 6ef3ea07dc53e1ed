//! Secret detection (being written): rules, keyword prefilter, masking. Findings never carry the secret
//! itself, only a masked excerpt, so they are safe to cache, log and report.

use serde::{Deserialize, Serialize};

use crate::merge::LayerOrigin;
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
