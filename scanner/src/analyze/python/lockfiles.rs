//! Python lockfiles: `poetry.lock`, `uv.lock`, `Pipfile.lock` and pinned `requirements*.txt`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::normalize;
use crate::analyze::graph::dependency_paths;
use crate::package::{Package, PackageKind};

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<PoetryPackage>,
}

#[derive(Deserialize)]
struct PoetryPackage {
    name: String,
    version: String,
    /// Poetry before 1.5: `main` or `dev`.
    category: Option<String>,
    /// Poetry 2: the dependency groups that pull the package in.
    groups: Option<Vec<String>>,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
}

/// `poetry.lock`: every package; dev when no production group needs it; paths from the lock's own
/// dependency tables, rooted at the packages nothing else in the lock requires (the project's direct
/// dependencies: the lock does not name the project itself).
pub fn poetry(bytes: &[u8]) -> Result<Vec<Package>, String> {
    let lock: PoetryLock = parse_toml(bytes)?;
    let index = name_index(lock.package.iter().map(|p| p.name.as_str()));
    let edges: Vec<Vec<usize>> = lock
        .package
        .iter()
        .map(|p| {
            p.dependencies
                .iter()
                // An optional dependency is installed only with an extra, which the lock does not record.
                .filter(|(_, spec)| spec.get("optional").and_then(toml::Value::as_bool) != Some(true))
                .flat_map(|(name, _)| index.get(&normalize(name)).into_iter().flatten().copied())
                .collect()
        })
        .collect();
    let roots = roots_without_parents(lock.package.len(), &edges);
    let labels: Vec<String> = lock.package.iter().map(|p| format!("{}@{}", p.name, p.version)).collect();
    let paths = dependency_paths(&labels, &edges, &roots);
    Ok(lock
        .package
        .into_iter()
        .zip(paths)
        .map(|(p, paths)| {
            let dev = match (&p.groups, &p.category) {
                (Some(groups), _) => !groups.iter().any(|g| g == "main"),
                (None, Some(category)) => category == "dev",
                (None, None) => false,
            };
            let mut package = Package::new(PackageKind::Python, p.name, p.version);
            package.dev = dev;
            package.dependency_paths = paths.paths;
            package.dependency_paths_cut = paths.cut;
            package
        })
        .collect())
}

/// Versions of one name a dependency without a version may stand for (real locks: one).
const MAX_FORKS: usize = 16;

#[derive(Deserialize)]
struct UvLock {
    #[serde(default)]
    package: Vec<UvPackage>,
}

#[derive(Deserialize)]
struct UvPackage {
    name: String,
    /// Absent for a virtual project (a workspace root that is not itself a package).
    version: Option<String>,
    #[serde(default)]
    source: BTreeMap<String, toml::Value>,
    #[serde(default)]
    dependencies: Vec<UvDependency>,
    #[serde(default, rename = "optional-dependencies")]
    optional_dependencies: BTreeMap<String, Vec<UvDependency>>,
    #[serde(default, rename = "dev-dependencies")]
    dev_dependencies: BTreeMap<String, Vec<UvDependency>>,
}

#[derive(Deserialize)]
struct UvDependency {
    name: String,
    /// Present when the lock holds several versions of the name (resolution forks).
    version: Option<String>,
}

/// `uv.lock`: every package but the project's own (`source = { editable | virtual = "." }`), which roots
/// the paths instead; dev when only the project's dev groups reach it.
pub fn uv(bytes: &[u8]) -> Result<Vec<Package>, String> {
    let lock: UvLock = parse_toml(bytes)?;
    let index = name_index(lock.package.iter().map(|p| p.name.as_str()));
    let resolve = |deps: &[UvDependency]| -> Vec<usize> {
        deps.iter()
            .flat_map(|d| {
                let same_name = index.get(&normalize(&d.name)).map(Vec::as_slice).unwrap_or_default();
                // uv names the version whenever a name has several; without it, a crafted lock of
                // thousands of same-named packages would make every dependency an edge to each.
                same_name
                    .iter()
                    .copied()
                    .filter(|&i| d.version.is_none() || lock.package[i].version == d.version)
                    .take(MAX_FORKS)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let is_project = |p: &UvPackage| p.source.contains_key("editable") || p.source.contains_key("virtual");
    let prod_edges: Vec<Vec<usize>> = lock
        .package
        .iter()
        .map(|p| {
            let mut e = resolve(&p.dependencies);
            p.optional_dependencies.values().for_each(|d| e.extend(resolve(d)));
            e
        })
        .collect();
    let all_edges: Vec<Vec<usize>> = lock
        .package
        .iter()
        .zip(&prod_edges)
        .map(|(p, prod)| {
            let mut e = prod.clone();
            p.dev_dependencies.values().for_each(|d| e.extend(resolve(d)));
            e
        })
        .collect();
    let mut roots: Vec<usize> = (0..lock.package.len()).filter(|&i| is_project(&lock.package[i])).collect();
    if roots.is_empty() {
        roots = roots_without_parents(lock.package.len(), &all_edges);
    }
    let production = reachable(&prod_edges, &roots);
    let labels: Vec<String> = lock
        .package
        .iter()
        .map(|p| p.version.as_ref().map_or_else(|| p.name.clone(), |v| format!("{}@{v}", p.name)))
        .collect();
    let paths = dependency_paths(&labels, &all_edges, &roots);
    let mut out = Vec::new();
    for ((i, p), paths) in lock.package.into_iter().enumerate().zip(paths) {
        if is_project(&p) {
            continue;
        }
        let Some(version) = p.version else { continue };
        let mut package = Package::new(PackageKind::Python, p.name, version);
        package.dev = !production.contains(&i);
        package.dependency_paths = paths.paths;
        package.dependency_paths_cut = paths.cut;
        out.push(package);
    }
    Ok(out)
}

#[derive(Deserialize)]
struct PipfileLock {
    #[serde(default)]
    default: BTreeMap<String, PipfileEntry>,
    #[serde(default)]
    develop: BTreeMap<String, PipfileEntry>,
}

#[derive(Deserialize)]
struct PipfileEntry {
    /// `==2.19.1`; absent for VCS and path entries, which have no release version.
    version: Option<String>,
}

/// `Pipfile.lock`: `default` packages, and `develop` ones marked dev unless `default` has them too. The
/// lock records no dependency graph.
pub fn pipfile(bytes: &[u8]) -> Result<Vec<Package>, String> {
    let lock: PipfileLock = serde_json::from_slice(bytes).map_err(|e| format!("not a Pipfile.lock: {e}"))?;
    let pinned = |e: &PipfileEntry| e.version.as_deref().and_then(|v| v.strip_prefix("==")).map(str::to_string);
    let mut out = Vec::new();
    for (name, entry) in &lock.default {
        out.extend(pinned(entry).map(|v| Package::new(PackageKind::Python, name, v)));
    }
    for (name, entry) in &lock.develop {
        if lock.default.contains_key(name) {
            continue;
        }
        if let Some(v) = pinned(entry) {
            let mut p = Package::new(PackageKind::Python, name, v);
            p.dev = true;
            out.push(p);
        }
    }
    Ok(out)
}

/// Pinned `requirements*.txt`: `name==version` requirements (extras and markers allowed); everything
/// else (ranges, URLs, `-r`/`-c` includes, options, editable installs) pins nothing and is skipped.
pub fn requirements(bytes: &[u8]) -> Result<Vec<Package>, String> {
    if bytes.contains(&0) {
        return Err("binary content, not a requirements file".into());
    }
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    // pip joins backslash-continued lines before anything else (hash lists use them).
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    for line in joined.lines() {
        let line = line.split(" #").next().unwrap_or_default().trim();
        if line.is_empty() || line.starts_with(['#', '-']) {
            continue;
        }
        let requirement = line.split(';').next().unwrap_or_default();
        let requirement = requirement.split(" --").next().unwrap_or_default().trim();
        let Some((name, version)) = requirement.split_once("==") else { continue };
        let name = name.split('[').next().unwrap_or_default().trim();
        let version = version.trim();
        let valid_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        // `===` (arbitrary equality) and `==1.*` (a prefix match) pin no single release.
        if !valid_name || version.is_empty() || version.starts_with('=') || version.contains(['*', ',', ' ']) {
            continue;
        }
        out.push(Package::new(PackageKind::Python, name, version));
    }
    Ok(out)
}

fn parse_toml<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    toml::from_str(text).map_err(|e| format!("not a valid lockfile: {}", e.message()))
}

/// Indices of the packages per normalised name (a lock may hold several versions of one name).
fn name_index<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, Vec<usize>> {
    let mut index: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, name) in names.enumerate() {
        index.entry(normalize(name)).or_default().push(i);
    }
    index
}

pub(super) fn roots_without_parents(n: usize, edges: &[Vec<usize>]) -> Vec<usize> {
    let mut has_parent = vec![false; n];
    for (u, targets) in edges.iter().enumerate() {
        for &v in targets.iter().filter(|&&v| v != u) {
            has_parent[v] = true;
        }
    }
    (0..n).filter(|&i| !has_parent[i]).collect()
}

fn reachable(edges: &[Vec<usize>], roots: &[usize]) -> BTreeSet<usize> {
    let mut seen: BTreeSet<usize> = roots.iter().copied().collect();
    let mut stack = roots.to_vec();
    while let Some(u) = stack.pop() {
        for &v in &edges[u] {
            if seen.insert(v) {
                stack.push(v);
            }
        }
    }
    seen
}
