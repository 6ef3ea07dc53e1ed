//! What one layer contributes, as a serialisable value: the unit the fleet caches by digest.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::analyze::FileContent;
use crate::secret::FileSecret;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInventory {
    pub analyzer_version: u32,
    /// The verified digest of the blob that was analysed.
    pub digest: String,
    /// Files of interest present in this layer, by normalised path, with what the analysers found.
    pub files: BTreeMap<String, FileContent>,
    /// Paths this layer deletes from lower layers (`.wh.` entries), with everything below them.
    pub whiteouts: BTreeSet<String>,
    /// Directories whose lower-layer content this layer hides (`.wh..wh..opq`).
    pub opaque_dirs: BTreeSet<String>,
    /// Hard links of interest whose target is not in this layer (tar links always point back): link path →
    /// target path, resolved against the lower layers at merge, as the runtime links to the file it already
    /// unpacked. Links resolved within the layer have their content in `files` instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hardlinks: BTreeMap<String, String>,
    /// Files that were skipped, with why. Never fatal.
    pub warnings: Vec<LayerWarning>,
    /// Analysis that was skipped or cut short (a budget ran out, a package database could not be read):
    /// the layer's result is then not the whole truth, and a report built from it must say so rather than
    /// look clean. Empty for a complete analysis.
    #[serde(default)]
    pub incomplete: Vec<Incomplete>,
    pub stats: LayerStats,
    /// Secrets in this layer's files, masked (see [`crate::secret`]).
    #[serde(default)]
    pub secrets: Vec<FileSecret>,
    /// File modes and caches the misconfiguration rules need (see [`crate::misconfig::LayerFacts`]).
    #[serde(default)]
    pub facts: crate::misconfig::LayerFacts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerWarning {
    pub path: String,
    pub message: String,
}

/// Why part of a layer went unanalysed. `path` is the file concerned (`/var/lib/rpm/Packages`), absent when
/// the whole rest of the layer was given up (a budget of the layer ran out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incomplete {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerStats {
    pub blob_bytes: u64,
    pub uncompressed_bytes: u64,
    pub entries: u64,
}

impl LayerInventory {
    pub fn new(digest: &str) -> Self {
        LayerInventory {
            analyzer_version: crate::ANALYZER_VERSION,
            digest: digest.to_string(),
            files: BTreeMap::new(),
            whiteouts: BTreeSet::new(),
            opaque_dirs: BTreeSet::new(),
            hardlinks: BTreeMap::new(),
            warnings: Vec::new(),
            incomplete: Vec::new(),
            stats: LayerStats::default(),
            secrets: Vec::new(),
            facts: crate::misconfig::LayerFacts::default(),
        }
    }

    pub(crate) fn warn(&mut self, path: &str, message: String) {
        self.warnings.push(LayerWarning { path: format!("/{path}"), message });
    }

    /// Records that analysis of `path` (a normalised path, or `None` for the rest of the layer) was skipped
    /// or cut short, and why.
    pub fn mark_incomplete(&mut self, path: Option<&str>, reason: impl Into<String>) {
        self.incomplete.push(Incomplete { path: path.map(|p| format!("/{p}")), reason: reason.into() });
    }

    pub fn is_complete(&self) -> bool {
        self.incomplete.is_empty()
    }
}
