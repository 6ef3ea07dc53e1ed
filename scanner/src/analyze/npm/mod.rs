//! npm: lockfiles (`package-lock.json` v1–v3, `npm-shrinkwrap.json`, `yarn.lock` v1 and berry,
//! `pnpm-lock.yaml`) and installed packages (`node_modules/**/package.json`, global installs included),
//! each package with its `npm ls`-style dependency paths.
//!
//! A lockfile holds the whole graph, so its analysis yields paths directly. An installed manifest is one
//! node of a tree spread over many files: it yields its package with its declared dependencies, and
//! [`post_merge`] rebuilds the tree per application once the image is merged (see [`installed`]).

mod installed;
mod lock;
mod pnpm;
mod resolve;
mod yarn;

use crate::analyze::graph::{self, Graph, Order, Unreached, Walk};
use crate::analyze::{Analysis, FileContent};
use crate::package::{Package, PackageKind};

pub use installed::post_merge;

/// The npm files this analyser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `package-lock.json` or `npm-shrinkwrap.json`.
    PackageLock,
    YarnLock,
    PnpmLock,
    /// `…/node_modules/<name>/package.json` or `…/node_modules/@scope/<name>/package.json`.
    Installed,
    /// Any other `package.json`: a candidate application root for the installed tree next to it.
    Manifest,
}

const LOCKFILES: [(&str, Kind); 4] = [
    ("package-lock.json", Kind::PackageLock),
    ("npm-shrinkwrap.json", Kind::PackageLock),
    ("yarn.lock", Kind::YarnLock),
    ("pnpm-lock.yaml", Kind::PnpmLock),
];

pub fn classify(path: &str) -> Option<Kind> {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let in_node_modules = dir.split('/').any(|c| c == "node_modules");
    if !in_node_modules {
        return match LOCKFILES.iter().find(|(name, _)| *name == file) {
            Some((_, kind)) => Some(*kind),
            None => (file == "package.json").then_some(Kind::Manifest),
        };
    }
    // Lockfiles inside node_modules are a dependency's own development files, not what is installed.
    (file == "package.json" && installed_name(dir).is_some()).then_some(Kind::Installed)
}

/// The package name of a directory directly below a `node_modules` (`…/node_modules/@types/node`).
/// Hidden entries (`.bin`, `.pnpm`, `.cache`) are npm's own.
fn installed_name(dir: &str) -> Option<&str> {
    let (parent, name) = dir.rsplit_once('/')?;
    if name.starts_with('.') || name.starts_with('@') {
        return None;
    }
    if parent.ends_with("/node_modules") || parent == "node_modules" {
        return Some(&dir[parent.len() + 1..]);
    }
    let (grand, scope) = parent.rsplit_once('/').unwrap_or(("", parent));
    let scoped = scope.starts_with('@') && (grand.ends_with("/node_modules") || grand == "node_modules");
    scoped.then(|| &dir[grand.len() + 1..])
}

pub fn size_cap(kind: Kind) -> u64 {
    const MIB: u64 = 1024 * 1024;
    match kind {
        // The largest real lockfiles (big monorepos) are around 20 MiB; parsing one takes up to ~18× its
        // size in memory when it is all edges, so 24 MiB keeps the worst case under 512 MiB. A larger file
        // is not analysed and makes the layer incomplete, never clean.
        Kind::PackageLock | Kind::YarnLock | Kind::PnpmLock => 24 * MIB,
        Kind::Installed | Kind::Manifest => MIB,
    }
}

pub fn analyze(kind: Kind, path: &str, bytes: &[u8]) -> Result<Analysis, String> {
    let root_dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    Ok(match kind {
        Kind::PackageLock => {
            let (packages, unresolved) = lock::parse(bytes, root_dir)?;
            Analysis::partial(FileContent::packages(packages), unresolved)
        }
        Kind::YarnLock => yarn::parse(bytes, root_dir).map(FileContent::packages)?.into(),
        Kind::PnpmLock => pnpm::parse(bytes, root_dir).map(FileContent::packages)?.into(),
        Kind::Installed | Kind::Manifest => installed::analyze(kind, path, bytes)?.into(),
    })
}

fn npm_package(name: &str, version: &str) -> Package {
    Package::new(PackageKind::Npm, name, version)
}

/// The label of an unnamed application: its directory's name, as `npm ls` prints it.
fn dir_label(dir: &str) -> String {
    dir.rsplit('/').next().filter(|d| !d.is_empty()).unwrap_or("/").to_string()
}

/// Splits `name@version` (`@scope/name@1.0.0` too).
fn split_name_version(spec: &str) -> Option<(&str, &str)> {
    let at = spec.get(1..)?.find('@')? + 1;
    Some((&spec[..at], &spec[at + 1..]))
}

/// A dependency graph whose node 0 is the application, labelled `root_label` (empty when there is no
/// application, as for global installs: paths then start at its children).
fn app_graph(root_label: String) -> Graph {
    let mut graph = Graph::new();
    let root = graph.add_node(root_label);
    graph.add_root(root);
    graph
}

/// Paths `npm ls` style: sorted alphabetically, from the application only.
fn walk(graph: &Graph) -> Walk {
    graph.walk(Order::Lexical, Unreached::Ignore)
}

/// Packages of one lockfile from its graph: one package per name and version, with the union of the
/// paths of every copy (a version nested in two places is one package with both paths).
fn packages_from_graph(graph: &Graph, nodes: &[(usize, String, String, Option<bool>)]) -> Vec<Package> {
    let walk = walk(graph);
    let mut by_id: std::collections::BTreeMap<(&str, &str), (Package, u64)> = Default::default();
    for (node, name, version, dev) in nodes {
        let (package, count) = by_id.entry((name, version)).or_insert_with(|| {
            let mut p = npm_package(name, version);
            p.dev = true;
            (p, 0)
        });
        // The lockfile's own dev mark where it has one; else dev when only development edges reach the copy.
        package.dev &= dev.unwrap_or(walk.counts[*node] > 0 && !walk.prod[*node]);
        package.dependency_paths.extend(walk.paths[*node].iter().cloned());
        *count = count.saturating_add(walk.counts[*node]);
    }
    by_id
        .into_values()
        .map(|(mut p, count)| {
            graph::compact(&mut p.dependency_paths);
            p.dependency_paths_cut =
                u32::try_from(count.saturating_sub(p.dependency_paths.len() as u64)).unwrap_or(u32::MAX);
            p
        })
        .collect()
}

#[cfg(test)]
mod tests;
