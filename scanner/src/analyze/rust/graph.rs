//! From a crate graph to `npm ls`-style dependency paths, shared by `Cargo.lock` and `cargo auditable`.

use crate::analyze::graph;
use crate::package::{Package, PackageKind};

/// Distinct paths kept per package; the rest are counted.
pub use graph::MAX_PATHS;

/// One crate of a graph.
pub struct Node {
    pub name: String,
    pub version: String,
    /// False for local crates (the program, workspace members, path dependencies): they are not on
    /// crates.io, and matching crates.io advisories against a same-named local crate would be wrong.
    pub reported: bool,
    pub deps: Vec<usize>,
}

impl Node {
    fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// A package per reported node, with up to [`MAX_PATHS`] paths from `roots`, counted in full (saturating).
/// Edges that close a cycle (possible in `Cargo.lock` through dev-dependencies) are ignored.
pub fn packages(nodes: &[Node], roots: &[usize]) -> Vec<Package> {
    let labels: Vec<String> = nodes.iter().map(Node::label).collect();
    let edges: Vec<Vec<usize>> = nodes.iter().map(|n| n.deps.clone()).collect();
    let mut paths = graph::dependency_paths(&labels, &edges, roots);
    nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.reported)
        .map(|(i, n)| {
            let found = std::mem::take(&mut paths[i]);
            Package {
                dependency_paths: found.paths,
                dependency_paths_cut: found.cut,
                ..Package::new(PackageKind::Cargo, n.name.clone(), n.version.clone())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, deps: &[usize]) -> Node {
        Node { name: name.into(), version: "1.0.0".into(), reported: name != "app", deps: deps.to_vec() }
    }

    #[test]
    fn diamond_cycle_and_cap() {
        // app → a → c, app → b → c, c → a (a cycle through a dev-dependency), d unreachable.
        let nodes = vec![node("app", &[1, 2]), node("a", &[3]), node("b", &[3]), node("c", &[1]), node("d", &[])];
        let got = packages(&nodes, &[0]);
        let paths = |name: &str| got.iter().find(|p| p.name == name).unwrap().dependency_paths.clone();
        assert!(got.iter().all(|p| p.name != "app"));
        assert_eq!(paths("a"), ["app@1.0.0 › a@1.0.0"]);
        assert_eq!(paths("c"), ["app@1.0.0 › a@1.0.0 › c@1.0.0", "app@1.0.0 › b@1.0.0 › c@1.0.0"]);
        assert!(paths("d").is_empty());

        // A ladder of 12 diamonds has 2^12 paths to its last rung: 10 kept, the rest counted.
        let mut nodes = vec![node("app", &[1, 2])];
        for i in 0..12 {
            let next = if i == 11 { vec![25] } else { vec![2 * i + 3, 2 * i + 4] };
            nodes.push(node(&format!("l{i}"), &next));
            nodes.push(node(&format!("r{i}"), &next));
        }
        nodes.push(node("end", &[]));
        let end = packages(&nodes, &[0]).into_iter().find(|p| p.name == "end").unwrap();
        assert_eq!(end.dependency_paths.len(), MAX_PATHS);
        assert_eq!(end.dependency_paths_cut, 4096 - MAX_PATHS as u32);
    }
}
