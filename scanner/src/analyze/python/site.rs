//! Dependency paths between the distributions installed in one `site-packages` directory, from their
//! `Requires-Dist` lines. No single METADATA file can tell them: the graph needs every distribution of the
//! directory as the merged image shows it, so this runs after the merge.

use std::collections::BTreeMap;

use super::installed::REQUIRES_MARK;
use super::lockfiles::roots_without_parents;
use super::normalize;
use crate::analyze::graph::dependency_paths;
use crate::model::InstalledPackage;
use crate::package::PackageKind;

/// Replaces the `Requires-Dist` targets that analysis left in each installed distribution's
/// `dependency_paths` by its paths from the directory's top-level distributions (those nothing else in
/// the directory requires), `root@1.0 › … › pkg@2.0`.
pub fn post_merge(packages: &mut [InstalledPackage]) {
    // Installed distributions per site-packages directory (lockfile packages have target == path).
    let mut dirs: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in packages.iter().enumerate() {
        if p.package.kind == PackageKind::Python && p.target != p.path {
            dirs.entry(p.target.clone()).or_default().push(i);
        }
    }
    for members in dirs.values() {
        let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (node, &i) in members.iter().enumerate() {
            by_name.entry(normalize(&packages[i].package.name)).or_default().push(node);
        }
        let edges: Vec<Vec<usize>> = members
            .iter()
            .map(|&i| {
                let package = &packages[i].package;
                let targets = package.dependency_paths.iter().filter_map(|r| r.strip_prefix(REQUIRES_MARK));
                targets.flat_map(|t| by_name.get(t).into_iter().flatten().copied()).collect()
            })
            .collect();
        let labels: Vec<String> = members
            .iter()
            .map(|&i| {
                let p = &packages[i].package;
                format!("{}@{}", p.name, p.version)
            })
            .collect();
        let roots = roots_without_parents(members.len(), &edges);
        let paths = dependency_paths(&labels, &edges, &roots);
        for (&i, paths) in members.iter().zip(paths) {
            let package = &mut packages[i].package;
            package.dependency_paths = paths.paths;
            package.dependency_paths_cut = paths.cut;
        }
    }
}
