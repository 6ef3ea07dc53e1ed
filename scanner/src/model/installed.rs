//! Where a package or a finding sits in an image: the layer it came from and the file that lists it. The
//! merge makes these (see [`crate::merge`]); secrets, reports and the image-wide analyser passes read them.

use serde::{Deserialize, Serialize};

use crate::package::Package;

/// Which layer something came from, as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LayerOrigin {
    pub index: usize,
    /// Uncompressed digest: identical whether the image came from a registry, an OCI layout or a tarball.
    pub diff_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// A package in the merged image, with the file that lists it and the layer that introduced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPackage {
    pub package: Package,
    /// The file that lists it (`/var/lib/dpkg/status`, `/app/package-lock.json`).
    pub path: String,
    /// The report target it belongs to: the file itself, or the directory that groups installed package
    /// manifests (`/app/node_modules`).
    pub target: String,
    pub layer: LayerOrigin,
}
