//! Java archives (`.jar`, `.war`, `.ear`, and Jenkins' `.hpi`/`.jpi`), nested ones included: one Maven
//! package per `META-INF/maven/<group>/<artifact>/pom.properties` (a fat jar lists everything it shades),
//! else the identity the manifest gives, else the file name (`name-1.2.3.jar`).
//!
//! Each archive is its own report target (`group: None`): it is what gets deployed and replaced as a unit,
//! and Trivy and Syft users find a vulnerable library by the jar path they report. Packages of nested
//! archives are reported under the outer archive the layer holds.

mod archive;
mod meta;

use std::collections::BTreeSet;

use crate::analyze::{Analysis, FileContent};
use crate::package::{Package, PackageKind};

/// The java files this analyser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Archive,
}

pub fn classify(path: &str) -> Option<Kind> {
    archive::is_archive_name(path).then_some(Kind::Archive)
}

/// The whole archive is read into memory to open it (the central directory is at its end). Application
/// jars are a few MiB and Spring Boot fat jars 20–100 MiB; 128 MiB covers them while bounding what one
/// file can hold, with nested archives adding at most [`archive::MAX_DEPTH`] × [`archive::NESTED_CAP`].
pub fn size_cap(_kind: Kind) -> u64 {
    128 * 1024 * 1024
}

/// Entries of an archive that could not be read (over a cap, corrupt) are named in the partial result's
/// reason, the first few of them: one is enough to say the jar's packages may be missing.
pub fn analyze(kind: Kind, path: &str, bytes: &[u8]) -> Result<Analysis, String> {
    match kind {
        Kind::Archive => {
            let file = path.rsplit('/').next().unwrap_or(path);
            let mut walker = archive::Walker::new();
            walker.walk(file, bytes, 0)?;
            let unique: BTreeSet<(String, String)> =
                walker.found.iter().map(|c| (c.name(), c.version.clone())).collect();
            let packages =
                unique.into_iter().map(|(name, version)| Package::new(PackageKind::Maven, name, version)).collect();
            let reason = (!walker.skipped.is_empty()).then(|| {
                let shown: Vec<&str> = walker.skipped.iter().take(3).map(String::as_str).collect();
                let more = walker.skipped.len().saturating_sub(shown.len());
                let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
                format!("not every entry of the archive was analysed: {}{more}", shown.join("; "))
            });
            Ok(Analysis::partial(FileContent::packages(packages), reason))
        }
    }
}

#[cfg(test)]
mod tests;
