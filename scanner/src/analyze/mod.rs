//! Analysers: which files of a layer matter, and what they say.
//!
//! Layer analysis asks [`classify`] for every tar entry; only files it names are read into memory (up to
//! their kind's size cap) and handed to [`analyze`]. Everything else streams past.

pub mod apk;
pub mod dpkg;
pub mod os;

use serde::{Deserialize, Serialize};

use crate::package::Package;
pub use os::{OsInfo, OsRelease};

/// The kinds of file the analysers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    OsRelease,
    DebianVersion,
    AlpineRelease,
    DpkgStatus,
    ApkInstalled,
}

impl FileKind {
    /// The most we read of such a file. The largest real dpkg status files (desktop installs with
    /// thousands of packages) are a few MiB; anything far beyond is not a package database.
    pub fn size_cap(self) -> u64 {
        match self {
            FileKind::OsRelease | FileKind::DebianVersion | FileKind::AlpineRelease => 64 * 1024,
            FileKind::DpkgStatus | FileKind::ApkInstalled => 64 * 1024 * 1024,
        }
    }
}

/// Decides from the normalised path alone (`etc/os-release`) whether a file is of interest.
pub fn classify(path: &str) -> Option<FileKind> {
    match path {
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
    }
}

/// What an analysed file contributes to the image view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FileContent {
    OsRelease(OsRelease),
    DebianVersion { version: String },
    AlpineRelease { version: String },
    Packages { packages: Vec<Package> },
}

/// Parses one file of interest. The error is a sentence about the file's content (with a line number where
/// there is one); the caller adds image, layer and path.
pub fn analyze(kind: FileKind, bytes: &[u8]) -> Result<FileContent, String> {
    let first_line = || String::from_utf8_lossy(bytes).lines().next().unwrap_or_default().trim().to_string();
    match kind {
        FileKind::OsRelease => os::parse_os_release(bytes).map(FileContent::OsRelease),
        FileKind::DebianVersion => Ok(FileContent::DebianVersion { version: first_line() }),
        FileKind::AlpineRelease => Ok(FileContent::AlpineRelease { version: first_line() }),
        FileKind::DpkgStatus => dpkg::parse_status(bytes).map(|packages| FileContent::Packages { packages }),
        FileKind::ApkInstalled => apk::parse_installed(bytes).map(|packages| FileContent::Packages { packages }),
    }
}

/// Splits a byte buffer into lines with their 1-based numbers, without requiring UTF-8: package databases
/// written by old tools carry Latin-1 in free-text fields, and only some fields must be valid text.
pub(crate) fn numbered_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    bytes.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).enumerate().map(|(i, l)| (i + 1, l))
}

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
