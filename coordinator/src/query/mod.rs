//! Fleet-wide questions answered from a Redis index rather than from the reports: which images' latest
//! scan has an advisory or a package ([`answer::query`]), and which layer chains shared across the fleet
//! are the bases whose rebuild fixes the most findings ([`answer::rollup`]).
//!
//! The index ([`index`]) is written in the MULTI that marks a scan done (a rescan too, as it finishes the
//! same way) and removed by retention with the scan ([`index::unindex`]). It keeps, per image reference,
//! only its latest done scan: a compact hash of that scan's findings grouped by advisory, and sets from
//! each advisory and package name back to the image. Answers read those sets and the few hash fields they
//! name; a rollup reads one small `meta` field per image.

pub mod answer;
pub mod http;
pub mod index;
pub mod range;

use serde::{Deserialize, Serialize};

/// One layer of an indexed image: its diff id and the Dockerfile step that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedLayer {
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// What a rollup needs of an image, in its `meta` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMeta {
    pub scan_id: String,
    pub layers: Vec<IndexedLayer>,
    /// Per layer, the findings it introduced that have a fixed version (what a rebuild can fix).
    pub fixable: Vec<u32>,
    /// More findings than [`index::MAX_FINDINGS`]: the answers about this image are a lower bound.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// One finding as indexed, under its advisory's field (`f:{advisory}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedFinding {
    pub package: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    pub severity: String,
    /// The OSV ecosystem of the package's target (`Debian:11`): the version ordering of a range query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem: Option<String>,
    pub layer: usize,
}

/// One answer to a query: an image whose latest scan has the advisory or package, where it came from,
/// and the fix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Match {
    pub reference: String,
    pub scan_id: String,
    pub advisory: String,
    pub package: String,
    pub installed_version: String,
    pub fixed_version: Option<String>,
    pub severity: String,
    pub layer_index: usize,
    pub layer_digest: String,
    /// The Dockerfile step that brought the package in.
    pub created_by: Option<String>,
}

/// A layer chain shared by several images: "rebuilding on `top_layer` (N images) fixes M findings".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    /// The chain's top layer (diff id); the chain is every layer below it too.
    pub top_layer: String,
    /// Layers in the chain.
    pub depth: usize,
    pub created_by: Option<String>,
    /// Images (latest scans) built on the chain.
    pub images: usize,
    /// Findings with a fixed version, introduced by the chain's layers, summed over those images.
    pub fixes: u64,
    /// The first few of those images, by reference.
    pub examples: Vec<String>,
}

/// What `strata query` asks: exactly one of `advisory` and `package`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueryRequest {
    #[serde(default)]
    pub advisory: Option<String>,
    /// `NAME` or `NAME@RANGE` (`libssl1.1@<1.1.1n`, `lodash@>=4.0.0,<4.17.21`).
    #[serde(default)]
    pub package: Option<String>,
    /// A glob on the repository (`team/*`).
    #[serde(default)]
    pub repository: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollupRequest {
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default = "default_min_images")]
    pub min_images: usize,
    #[serde(default = "default_limit")]
    pub limit: usize,
}

impl Default for RollupRequest {
    fn default() -> Self {
        RollupRequest { repository: None, min_images: default_min_images(), limit: default_limit() }
    }
}

fn default_min_images() -> usize {
    2
}

fn default_limit() -> usize {
    20
}

/// The answer of a query, as served over gRPC and HTTP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryAnswer {
    /// Distinct images among the matches.
    pub images: usize,
    pub matches: Vec<Match>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupAnswer {
    /// Images the rollup looked at (after the repository filter).
    pub images: usize,
    pub bases: Vec<Base>,
}

impl From<strata_proto::v1::FleetQueryRequest> for QueryRequest {
    fn from(r: strata_proto::v1::FleetQueryRequest) -> Self {
        let given = |s: String| (!s.trim().is_empty()).then_some(s);
        QueryRequest { advisory: given(r.advisory), package: given(r.package), repository: given(r.repository) }
    }
}

impl From<strata_proto::v1::RollupRequest> for RollupRequest {
    fn from(r: strata_proto::v1::RollupRequest) -> Self {
        let defaults = RollupRequest::default();
        RollupRequest {
            repository: (!r.repository.trim().is_empty()).then_some(r.repository),
            min_images: if r.min_images == 0 { defaults.min_images } else { r.min_images as usize },
            limit: if r.limit == 0 { defaults.limit } else { r.limit as usize },
        }
    }
}

/// An answer as gRPC carries it: the JSON the HTTP API serves.
pub fn to_proto(answer: &impl Serialize) -> crate::error::Result<strata_proto::v1::FleetAnswer> {
    let json = serde_json::to_vec(answer).map_err(|e| crate::error::CoordinatorError::Internal(e.to_string()))?;
    Ok(strata_proto::v1::FleetAnswer { json })
}
