//! `package-lock.json` and `npm-shrinkwrap.json`.
//!
//! v2 and v3 list every installed copy under `packages`, keyed by its location (`node_modules/a/node_modules/b`);
//! a dependency resolves as Node's `require` does, to the nearest `node_modules/<name>` walking up from the
//! dependent's location. v1 nests the same tree under `dependencies`; it is flattened to the same locations.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::app_graph;
use super::resolve::Resolver;
use super::{dir_label, packages_from_graph, split_name_version};
use crate::analyze::graph::{Graph, label};
use crate::package::Package;

type Names = BTreeMap<String, IgnoredAny>;

#[derive(Deserialize)]
struct LockFile {
    name: Option<String>,
    version: Option<String>,
    #[serde(rename = "lockfileVersion", default)]
    lockfile_version: u32,
    #[serde(default)]
    packages: BTreeMap<String, Entry>,
    #[serde(default)]
    dependencies: BTreeMap<String, V1Entry>,
}

#[derive(Deserialize, Default)]
struct Entry {
    name: Option<String>,
    version: Option<String>,
    resolved: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    link: bool,
    #[serde(default)]
    dependencies: Names,
    #[serde(rename = "devDependencies", default)]
    dev_dependencies: Names,
    #[serde(rename = "optionalDependencies", default)]
    optional_dependencies: Names,
    #[serde(rename = "peerDependencies", default)]
    peer_dependencies: Names,
}

#[derive(Deserialize)]
struct V1Entry {
    version: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    requires: Names,
    #[serde(default)]
    dependencies: BTreeMap<String, V1Entry>,
}

/// The packages, and why some dependencies may be unresolved when the resolution budget ran out.
pub fn parse(bytes: &[u8], dir: &str) -> Result<(Vec<Package>, Option<String>), String> {
    let lock: LockFile = serde_json::from_slice(bytes).map_err(|e| format!("not a valid npm lockfile: {e}"))?;
    let mut entries = if lock.lockfile_version >= 2 && !lock.packages.is_empty() {
        lock.packages
    } else {
        let mut flat = BTreeMap::new();
        flatten_v1(lock.dependencies, "", &mut flat);
        // v1 does not record the application's own dependencies: those top-level entries nothing else
        // requires stand for them (a direct dependency that is also transitive shows only its deeper path).
        let required: std::collections::HashSet<String> =
            flat.values().flat_map(|e: &Entry| e.dependencies.keys().cloned()).collect();
        let direct: Names = flat
            .keys()
            .filter_map(|loc| loc.strip_prefix("node_modules/").filter(|n| !n.contains("/node_modules/")))
            .filter(|name| !required.contains(*name))
            .map(|name| (name.to_string(), IgnoredAny))
            .collect();
        flat.insert(String::new(), Entry { dependencies: direct, ..Entry::default() });
        flat
    };
    let root = entries.remove("").unwrap_or_default();
    let root_name = root.name.clone().or(lock.name).unwrap_or_else(|| dir_label(dir));
    let mut graph = app_graph(label(&root_name, root.version.as_deref().or(lock.version.as_deref())));
    let mut index: HashMap<&str, usize> = HashMap::from([("", 0)]);
    for (location, entry) in &entries {
        index.insert(location, graph.add_node(node_label(location, entry)));
    }
    // Workspace links stand for the folder they point to.
    let resolve_link = |loc: &str| -> Option<usize> {
        let entry = entries.get(loc)?;
        let target = if entry.link { entry.resolved.as_deref()? } else { loc };
        index.get(target).copied()
    };
    let locations: Vec<&str> = entries.keys().map(String::as_str).collect();
    let mut resolver = Resolver::new();
    for (i, location) in locations.iter().enumerate() {
        resolver.provide(location, i);
    }
    resolver.finish();
    let mut add_edges = |graph: &mut Graph, from: usize, location: &str, entry: &Entry, root: bool| {
        let start = resolver.start(location);
        for (name, dev) in edges_of(entry, root) {
            if let Some(to) = resolver.resolve_from(start, name, |i| resolve_link(locations[i])) {
                graph.add_edge(from, to, dev);
            }
        }
    };
    add_edges(&mut graph, 0, "", &root, true);
    let mut nodes = Vec::new();
    for (location, entry) in &entries {
        let node = index[location.as_str()];
        if !entry.link {
            add_edges(&mut graph, node, location, entry, false);
        }
        // Workspace folders and links are the project's own code, not packages from the registry.
        let Some(name) = package_name(location, entry).filter(|_| !entry.link && location.contains("node_modules/"))
        else {
            continue;
        };
        let Some(version) = entry.version.as_deref() else { continue };
        nodes.push((node, name.to_string(), version.to_string(), Some(entry.dev)));
    }
    let unresolved = resolver.exhausted().then(|| {
        format!(
            "resolving its dependencies took more than {} steps (a crafted lockfile?); some dependency edges, \
             and so paths and development flags, are missing",
            super::resolve::MAX_STEPS
        )
    });
    Ok((packages_from_graph(&graph, &nodes), unresolved))
}

/// What `npm ls` follows: the application's dev dependencies too, but no package's.
fn edges_of(e: &Entry, root: bool) -> impl Iterator<Item = (&String, bool)> {
    let dev = e.dev_dependencies.keys().filter(move |_| root).map(|n| (n, true));
    let prod = e.dependencies.keys().chain(e.optional_dependencies.keys()).chain(e.peer_dependencies.keys());
    prod.map(|n| (n, false)).chain(dev)
}

/// The registry name: the `name` field for aliases (`"node_modules/foo": {"name": "bar"}`), else the
/// directory under the last `node_modules/`.
fn package_name<'a>(location: &'a str, entry: &'a Entry) -> Option<&'a str> {
    entry.name.as_deref().or_else(|| location.rsplit_once("node_modules/").map(|(_, name)| name))
}

fn node_label(location: &str, entry: &Entry) -> String {
    label(package_name(location, entry).unwrap_or(location), entry.version.as_deref())
}

fn flatten_v1(deps: BTreeMap<String, V1Entry>, parent: &str, out: &mut BTreeMap<String, Entry>) {
    for (name, dep) in deps {
        let location =
            if parent.is_empty() { format!("node_modules/{name}") } else { format!("{parent}/node_modules/{name}") };
        // An alias (`"foo": {"version": "npm:bar@1.0.0"}`) installs bar under foo's name.
        let (real_name, version) = match dep.version.as_deref().and_then(|v| v.strip_prefix("npm:")) {
            Some(spec) => match split_name_version(spec) {
                Some((n, v)) => (Some(n.to_string()), Some(v.to_string())),
                None => (None, dep.version),
            },
            None => (None, dep.version),
        };
        flatten_v1(dep.dependencies, &location, out);
        out.insert(
            location,
            Entry { name: real_name, version, dev: dep.dev, dependencies: dep.requires, ..Entry::default() },
        );
    }
}
