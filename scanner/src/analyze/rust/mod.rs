//! Rust: `Cargo.lock` files, and the crate graph shared with `cargo auditable` binaries
//! ([`crate::analyze::binary`]).
//!
//! A lockfile lists every crate of a workspace with its dependencies, but not which are dev-dependencies.
//! The roots of the dependency paths are the local crates (no `source`) that nothing depends on: the
//! workspace members at the top. Local crates are not reported as packages (see [`graph::Node::reported`]).

pub mod graph;

use std::collections::HashMap;
use std::str::FromStr;

use cargo_lock::Lockfile;

use crate::analyze::FileContent;
use graph::Node;

/// The rust files this analyser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    CargoLock,
}

/// The largest real lockfiles (rustc, Firefox) are under 1 MiB.
const LOCK_CAP: u64 = 16 * 1024 * 1024;

pub fn classify(path: &str) -> Option<Kind> {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    // Crates unpacked in cargo's caches ship their own lockfiles; they say nothing about what was built.
    let in_cache = |d: &str| d.contains(".cargo/registry/") || d.contains(".cargo/git/");
    (name == "Cargo.lock" && !in_cache(&format!("{dir}/"))).then_some(Kind::CargoLock)
}

pub fn size_cap(kind: Kind) -> u64 {
    match kind {
        Kind::CargoLock => LOCK_CAP,
    }
}

pub fn analyze(kind: Kind, _path: &str, bytes: &[u8]) -> Result<FileContent, String> {
    match kind {
        Kind::CargoLock => parse_lock(bytes).map(FileContent::packages),
    }
}

fn parse_lock(bytes: &[u8]) -> Result<Vec<crate::package::Package>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("Cargo.lock is not UTF-8: {e}"))?;
    // cargo-lock 11 slices a checksum by byte offsets and panics inside a multi-byte character (found by
    // fuzzing); a checksum is hex, so anything else is refused before the crate sees it.
    if let Some((n, _)) =
        text.lines().enumerate().find(|(_, l)| l.trim_start().starts_with("checksum") && !l.is_ascii())
    {
        return Err(format!("line {}: a checksum that is not hex", n + 1));
    }
    let lock = Lockfile::from_str(text).map_err(|e| format!("not a valid Cargo.lock: {e}"))?;
    // Lockfiles of format 1 name their top crate in a separate `[root]` table.
    let all: Vec<&cargo_lock::Package> = lock.root.iter().chain(&lock.packages).collect();
    let mut by_name_version: HashMap<(&str, String), Vec<usize>> = HashMap::new();
    for (i, p) in all.iter().enumerate() {
        by_name_version.entry((p.name.as_str(), p.version.to_string())).or_default().push(i);
    }
    let mut nodes = Vec::with_capacity(all.len());
    let mut depended_on = vec![false; all.len()];
    for p in &all {
        let mut deps = Vec::with_capacity(p.dependencies.len());
        for d in &p.dependencies {
            let Some(found) = by_name_version.get(&(d.name.as_str(), d.version.to_string())) else {
                return Err(format!(
                    "Cargo.lock: {} {} depends on {} {}, which it does not list",
                    p.name, p.version, d.name, d.version
                ));
            };
            // Two crates of one name and version come from different sources; the entry names which.
            let i =
                found.iter().copied().find(|&i| d.source.is_none() || all[i].source == d.source).unwrap_or(found[0]);
            depended_on[i] = true;
            deps.push(i);
        }
        nodes.push(Node {
            name: p.name.as_str().to_string(),
            version: p.version.to_string(),
            reported: p.source.as_ref().is_some_and(|s| !s.is_path()),
            deps,
        });
    }
    let local: Vec<usize> = (0..all.len()).filter(|&i| all[i].source.as_ref().is_none_or(|s| s.is_path())).collect();
    let mut roots: Vec<usize> = local.iter().copied().filter(|&i| !depended_on[i]).collect();
    if roots.is_empty() {
        roots = local;
    }
    Ok(graph::packages(&nodes, &roots))
}

#[cfg(test)]
mod tests;
