//! Python packages: installed distributions (`*.dist-info/METADATA`, `*.egg-info/PKG-INFO` or an
//! `.egg-info` file) directly inside a `site-packages` or `dist-packages` directory, grouped into that
//! directory as the report target; and lockfiles (`poetry.lock`, `uv.lock`, `Pipfile.lock`, pinned
//! `requirements*.txt`), each its own target. Names keep their published spelling; matching compares them
//! in PEP 503 form (the DB normalises both sides).

mod installed;
mod lockfiles;
mod site;

use crate::analyze::FileContent;
pub use site::post_merge;

/// The Python files this analyser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `METADATA` or `PKG-INFO` of an installed distribution.
    Installed,
    PoetryLock,
    UvLock,
    PipfileLock,
    Requirements,
}

const MIB: u64 = 1024 * 1024;

pub fn classify(path: &str) -> Option<Kind> {
    if let Some((_, rest)) = split_site(path) {
        // Directly inside the directory: what `pip` installed there. Copies deeper down (a project's
        // vendored `_vendor/*.dist-info`, test data) are not installed distributions.
        let installed = match rest.split_once('/') {
            Some((dir, "METADATA")) => dir.ends_with(".dist-info"),
            Some((dir, "PKG-INFO")) => dir.ends_with(".egg-info"),
            Some((dir, "EGG-INFO/PKG-INFO")) => dir.ends_with(".egg"),
            None => rest.ends_with(".egg-info"),
            _ => false,
        };
        // Lockfiles that packages ship inside site-packages describe their authors' machines, not this image.
        return installed.then_some(Kind::Installed);
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    if path.split('/').any(|c| c == "node_modules") {
        return None;
    }
    match name {
        "poetry.lock" => Some(Kind::PoetryLock),
        "uv.lock" => Some(Kind::UvLock),
        "Pipfile.lock" => Some(Kind::PipfileLock),
        _ if name.starts_with("requirements") && name.ends_with(".txt") => Some(Kind::Requirements),
        _ => None,
    }
}

pub fn size_cap(kind: Kind) -> u64 {
    match kind {
        // The long description sits in METADATA; the largest real ones are a few hundred KiB.
        Kind::Installed => 8 * MIB,
        // uv and poetry locks of large monorepos reach a few MiB (every wheel's hash is listed).
        Kind::PoetryLock | Kind::UvLock | Kind::PipfileLock => 32 * MIB,
        Kind::Requirements => 8 * MIB,
    }
}

pub fn analyze(kind: Kind, path: &str, bytes: &[u8]) -> Result<FileContent, String> {
    match kind {
        Kind::Installed => {
            let package = installed::parse(bytes)?;
            let group = split_site(path).map(|(dir, _)| format!("/{dir}"));
            Ok(FileContent::Packages { packages: vec![package], group })
        }
        Kind::PoetryLock => lockfiles::poetry(bytes).map(FileContent::packages),
        Kind::UvLock => lockfiles::uv(bytes).map(FileContent::packages),
        Kind::PipfileLock => lockfiles::pipfile(bytes).map(FileContent::packages),
        Kind::Requirements => lockfiles::requirements(bytes).map(FileContent::packages),
    }
}

/// Splits `usr/lib/python3/dist-packages/six-1.16.0.egg-info` into the (innermost) package directory and
/// the rest.
fn split_site(path: &str) -> Option<(&str, &str)> {
    ["/site-packages/", "/dist-packages/"]
        .iter()
        .filter_map(|dir| path.rfind(dir).map(|i| (&path[..i + dir.len() - 1], &path[i + dir.len()..])))
        .max_by_key(|(dir, _)| dir.len())
}

/// The PEP 503 form of a distribution name: lower case, runs of `-`, `_` and `.` as one `-`.
pub(crate) fn normalize(name: &str) -> String {
    crate::package::normalize_name("PyPI", name).into_owned()
}

#[cfg(test)]
mod tests;
