//! Packages as the analysers find them, independent of where they were found.

use serde::{Deserialize, Serialize};

/// Which package manager's database a package came from; decides the version ordering and the purl type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    Deb,
    Apk,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    pub kind: PackageKind,
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// The source package (dpkg `Source:`, apk origin `o:`). Advisories name source packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// The source version when it differs from the binary version (binNMUs: `Source: glibc (2.31-13)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
}

impl Package {
    /// The name advisories use for this package: the source package where there is one.
    pub fn advisory_name(&self) -> &str {
        self.source_name.as_deref().unwrap_or(&self.name)
    }

    /// The version advisories compare against: the source version where it differs.
    pub fn advisory_version(&self) -> &str {
        self.source_version.as_deref().unwrap_or(&self.version)
    }
}
