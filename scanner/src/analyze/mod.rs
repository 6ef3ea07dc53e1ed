//! Analysers: which files of a layer matter, and what they say.
//!
//! Layer analysis asks [`classify`] for every tar entry; only files it names are read into memory (up to
//! their kind's size cap) and handed to [`analyze`]. Executables are not read whole: [`analyze_stream`] scans
//! them as they stream past for the build information Go and `cargo auditable` embed. Everything else
//! streams past untouched.
//!
//! OS package databases are the image's ground truth, so a broken one fails the scan. A broken lockfile or
//! package manifest is a per-file warning: the scan goes on.

pub mod apk;
pub mod binary;
pub mod dpkg;
pub mod graph;
pub mod java;
pub mod npm;
pub mod os;
mod outcome;
pub mod python;
pub mod rpm;
pub mod ruby;
pub mod rust;

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::budget::Budget;
use crate::model::InstalledPackage;
use crate::package::Package;
pub use os::{OsInfo, OsRelease};
pub use outcome::Analysis;

/// The kinds of file the analysers read. Language analysers own their sub-kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    OsRelease,
    DebianVersion,
    AlpineRelease,
    DpkgStatus,
    ApkInstalled,
    Rpm(rpm::Kind),
    Npm(npm::Kind),
    Python(python::Kind),
    Ruby(ruby::Kind),
    Rust(rust::Kind),
    Java(java::Kind),
    /// An executable, scanned as a stream for embedded Go or Rust dependency information.
    Executable,
}

impl FileKind {
    /// The most we read of such a file. The largest real dpkg status files (desktop installs with
    /// thousands of packages) are a few MiB; anything far beyond is not a package database.
    pub fn size_cap(self) -> u64 {
        const MIB: u64 = 1024 * 1024;
        match self {
            FileKind::OsRelease | FileKind::DebianVersion | FileKind::AlpineRelease => 64 * 1024,
            FileKind::DpkgStatus | FileKind::ApkInstalled => 64 * MIB,
            FileKind::Rpm(k) => rpm::size_cap(k),
            FileKind::Npm(k) => npm::size_cap(k),
            FileKind::Python(k) => python::size_cap(k),
            FileKind::Ruby(k) => ruby::size_cap(k),
            FileKind::Rust(k) => rust::size_cap(k),
            FileKind::Java(k) => java::size_cap(k),
            FileKind::Executable => binary::SIZE_CAP,
        }
    }

    /// Whether a parse failure fails the scan (OS package databases) or is a per-file warning.
    pub fn errors_are_fatal(self) -> bool {
        matches!(self, FileKind::OsRelease | FileKind::DpkgStatus | FileKind::ApkInstalled | FileKind::Rpm(_))
    }

    /// Read as a stream by [`analyze_stream`] rather than whole by [`analyze`].
    pub fn is_streamed(self) -> bool {
        matches!(self, FileKind::Executable)
    }
}

/// Decides from the normalised path alone (`etc/os-release`) whether a file is of interest.
pub fn classify(path: &str) -> Option<FileKind> {
    let os = match path {
        "etc/os-release" | "usr/lib/os-release" => Some(FileKind::OsRelease),
        "etc/debian_version" => Some(FileKind::DebianVersion),
        "etc/alpine-release" => Some(FileKind::AlpineRelease),
        "var/lib/dpkg/status" => Some(FileKind::DpkgStatus),
        "lib/apk/db/installed" => Some(FileKind::ApkInstalled),
        // Distroless images have one status file per package instead of one database.
        _ => path
            .strip_prefix("var/lib/dpkg/status.d/")
            .filter(|name| !name.is_empty() && !name.contains('/') && !name.ends_with(".md5sums"))
            .map(|_| FileKind::DpkgStatus),
    };
    os.or_else(|| rpm::classify(path).map(FileKind::Rpm))
        .or_else(|| npm::classify(path).map(FileKind::Npm))
        .or_else(|| python::classify(path).map(FileKind::Python))
        .or_else(|| ruby::classify(path).map(FileKind::Ruby))
        .or_else(|| rust::classify(path).map(FileKind::Rust))
        .or_else(|| java::classify(path).map(FileKind::Java))
}

/// Decides whether a regular file that [`classify`] passed over is an executable worth scanning.
pub fn classify_executable(path: &str, mode: u32, size: u64) -> Option<FileKind> {
    binary::is_candidate(path, mode, size).then_some(FileKind::Executable)
}

/// What an analysed file contributes to the image view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FileContent {
    OsRelease(OsRelease),
    DebianVersion {
        version: String,
    },
    AlpineRelease {
        version: String,
    },
    Packages {
        packages: Vec<Package>,
        /// The report target these packages belong to when it is not this file: installed package
        /// manifests (`node_modules/x/package.json`, `*.dist-info/METADATA`) group into their directory
        /// (`/app/node_modules`, `/usr/lib/python3/dist-packages`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
}

impl FileContent {
    pub fn packages(packages: Vec<Package>) -> FileContent {
        FileContent::Packages { packages, group: None }
    }
}

/// Parses one file of interest. `path` is the normalised path (`app/package-lock.json`). The error is a
/// sentence about the file's content (with a line number where there is one); the caller adds image,
/// layer and path. Caps an analyser reaches (see [`crate::budget`]) make the analysis partial, not an error.
pub fn analyze(kind: FileKind, path: &str, bytes: &[u8], budget: &Budget) -> Result<Analysis, String> {
    let first_line = || String::from_utf8_lossy(bytes).lines().next().unwrap_or_default().trim().to_string();
    let analysis = match kind {
        FileKind::OsRelease => os::parse_os_release(bytes).map(FileContent::OsRelease)?.into(),
        FileKind::DebianVersion => FileContent::DebianVersion { version: first_line() }.into(),
        FileKind::AlpineRelease => FileContent::AlpineRelease { version: first_line() }.into(),
        FileKind::DpkgStatus => dpkg::parse_status(bytes).map(FileContent::packages)?.into(),
        FileKind::ApkInstalled => apk::parse_installed(bytes).map(FileContent::packages)?.into(),
        FileKind::Rpm(k) => rpm::analyze(k, path, bytes, budget)?,
        FileKind::Npm(k) => npm::analyze(k, path, bytes)?,
        FileKind::Python(k) => python::analyze(k, path, bytes)?.into(),
        FileKind::Ruby(k) => ruby::analyze(k, path, bytes)?.into(),
        FileKind::Rust(k) => rust::analyze(k, path, bytes)?.into(),
        FileKind::Java(k) => java::analyze(k, path, bytes)?,
        FileKind::Executable => return Err("executables are analysed as streams".into()),
    };
    Ok(outcome::cap_packages(analysis, budget))
}

/// Scans a streamed file (an executable). No content: nothing of interest (not a Go or auditable binary).
pub fn analyze_stream(
    kind: FileKind,
    path: &str,
    reader: &mut dyn Read,
    size: u64,
    budget: &Budget,
) -> Result<Analysis, String> {
    match kind {
        FileKind::Executable => Ok(outcome::cap_packages(binary::analyze(path, reader, size)?, budget)),
        _ => Err(format!("{kind:?} is not a streamed kind")),
    }
}

/// Image-level work after the merge, for what no single file can tell: npm dependency paths through a
/// nested `node_modules` layout, and packages seen both in a lockfile and installed.
pub fn post_merge(packages: &mut Vec<InstalledPackage>) {
    npm::post_merge(packages);
    python::post_merge(packages);
}

/// Splits a byte buffer into lines with their 1-based numbers, without requiring UTF-8: package databases
/// written by old tools carry Latin-1 in free-text fields, and only some fields must be valid text.
pub(crate) fn numbered_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    bytes.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).enumerate().map(|(i, l)| (i + 1, l))
}

#[cfg(test)]
mod hostile_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        assert_eq!(classify("var/lib/dpkg/status"), Some(FileKind::DpkgStatus));
        assert_eq!(classify("var/lib/dpkg/status.d/base-files"), Some(FileKind::DpkgStatus));
        assert_eq!(classify("var/lib/dpkg/status.d/base-files.md5sums"), None);
        assert_eq!(classify("var/lib/dpkg/status-old"), None);
        assert_eq!(classify("usr/lib/os-release"), Some(FileKind::OsRelease));
        assert_eq!(classify("lib/apk/db/installed"), Some(FileKind::ApkInstalled));
        assert_eq!(classify("usr/share/doc/os-release"), None);
    }
}
