//! Which versions of a package an advisory affects, as OSV states it: the vulnerability DB stores these
//! (see [`crate::vulndb`]) and the matcher evaluates them (see [`crate::matcher`]).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    /// Normalised OSV ecosystem (`Debian:11`, `Alpine:v3.17`, `Ubuntu:22.04`, `npm`, `PyPI`).
    pub ecosystem: String,
    pub name: String,
    pub ranges: Vec<Range>,
    /// Explicitly listed affected versions.
    pub versions: Vec<String>,
    /// Go advisories: the vulnerable packages and symbols (OSV `ecosystem_specific.imports`).
    pub imports: Vec<GoImport>,
}

/// One vulnerable Go package: its import path, the vulnerable functions and methods (`Parse`,
/// `Client.Do`; none listed: all of them) and the platforms it is limited to (none listed: all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoImport {
    pub path: String,
    pub symbols: Vec<String>,
    pub goos: Vec<String>,
    pub goarch: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub kind: RangeKind,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeKind {
    Ecosystem,
    Semver,
    Git,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}
