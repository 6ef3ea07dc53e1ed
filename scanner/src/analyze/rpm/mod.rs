//! rpm's installed-package database, in its two formats: the sqlite `rpmdb.sqlite` (rpm ≥ 4.16) and the
//! Berkeley DB `Packages` hash file of older releases. Both store one rpm header blob per package, from
//! which we take name, epoch, version, release, architecture and source rpm.
//!
//! SUSE's `ndb` format (`Packages.db`) is not read yet: those images get no OS packages rather than a
//! failed scan (docs/accuracy-java-rpm.md).

mod bdb;
mod header;
mod sqlite;

use crate::analyze::{Analysis, FileContent};
use crate::budget::Budget;
use crate::package::Package;

/// The rpm files this analyser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Sqlite,
    BerkeleyDb,
}

/// rpm's database directory: `/var/lib/rpm` everywhere, with Fedora ≥ 36 and openSUSE moving it to
/// `/usr/lib/sysimage/rpm` (and leaving `/var/lib/rpm` a symlink, which the layer walker skips).
pub fn classify(path: &str) -> Option<Kind> {
    let file = path.strip_prefix("var/lib/rpm/").or_else(|| path.strip_prefix("usr/lib/sysimage/rpm/"))?;
    match file {
        "rpmdb.sqlite" => Some(Kind::Sqlite),
        "Packages" => Some(Kind::BerkeleyDb),
        _ => None,
    }
}

/// The database is read whole, and sqlite holds a second copy of it: peak memory is twice the file. A
/// minimal UBI 9 image's rpmdb.sqlite is about 6 MiB for 150 packages and container images' databases stay
/// far below 100 MiB (a 3000-package CentOS 7 *desktop* reaches 200 MiB); 192 MiB keeps a whole analysis
/// under 512 MiB. A larger file is not analysed and makes the layer incomplete, never clean.
pub fn size_cap(_kind: Kind) -> u64 {
    192 * 1024 * 1024
}

pub fn analyze(kind: Kind, _path: &str, bytes: &[u8], budget: &Budget) -> Result<Analysis, String> {
    let (blobs, incomplete) = match kind {
        Kind::Sqlite => sqlite::blobs(bytes, budget)?,
        // Key 0 of the hash file holds rpm's 4-byte instance counter, not a header.
        Kind::BerkeleyDb => (bdb::values(bytes)?.into_iter().filter(|v| v.len() > 8).collect(), None),
    };
    let mut packages = Vec::with_capacity(blobs.len());
    for (i, blob) in blobs.iter().enumerate() {
        let package = header::Header::parse(blob)
            .and_then(|h| h.package())
            .map_err(|why| format!("package header {}: {why}", i + 1))?;
        // Imported signing keys are rpm pseudo-packages (`gpg-pubkey-fd431d51-4ae0493b`), not software.
        if package.name != "gpg-pubkey" {
            packages.push(package);
        }
    }
    packages.sort();
    Ok(Analysis::partial(FileContent::packages(packages), incomplete))
}

/// Parses one rpm header blob (as the databases store it, without the lead) into its package: the fuzz
/// target for headers calls this directly, as headers reach it only inside a valid database otherwise.
pub fn parse_header(blob: &[u8]) -> Result<Package, String> {
    header::Header::parse(blob).and_then(|h| h.package())
}

/// Parses one database into its packages with the default budget (tests and tools).
pub fn parse(kind: Kind, bytes: &[u8]) -> Result<Vec<Package>, String> {
    Ok(analyze(kind, "", bytes, &Budget::default())?.packages().to_vec())
}

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod tests;
