//! Strata's scanning engine.
//!
//! This crate is the whole of what a scan *computes*: it reads an image's manifest and config, analyses
//! each layer blob as a stream into a [`layer::LayerInventory`], merges the inventories in layer order into
//! an [`merge::ImageInventory`], matches the packages against a [`vulndb::VulnDb`] built from OSV data and
//! renders a [`report::Report`].
//!
//! It is pure and synchronous: byte streams in, data out. It has no async runtime, network, queue or cache
//! code, so the CLI (local mode), the fleet's workers and its coordinator all share it unchanged. Image
//! sources that are plain files (OCI layout directories, docker-archive tarballs) live here; the registry
//! source is the `strata-registry` crate.

pub mod analyze;
pub mod budget;
pub mod error;
pub mod image;
pub mod layer;
pub mod matcher;
pub mod merge;
pub mod misconfig;
pub mod model;
pub mod package;
pub mod report;
pub mod secret;
pub mod severity;
pub mod source;
pub mod version;
pub mod vulndb;

pub use error::{Error, ErrorKind, Result};

/// Bumped whenever a change to layer analysis changes what a [`layer::LayerInventory`] holds for the same
/// bytes. Cached inventories are keyed by it, so a new analyser never reads a stale result.
pub const ANALYZER_VERSION: u32 = 4;
