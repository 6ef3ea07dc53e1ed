//! `pnpm-lock.yaml` (lockfile formats 5.x, 6.0 and 9.0), read with `serde_norway`.
//!
//! The application's dependencies are under `importers` (workspaces, and every 9.0 lockfile) or at the top
//! level (single projects before 9.0); each package's dependencies are under `packages` (before 9.0) or
//! `snapshots` (9.0), keyed by an id whose spelling changed with each format (`/name/1.0.0`,
//! `/name@1.0.0`, `name@1.0.0`, each optionally with a peer suffix). A dependency's reference is either a
//! version, to be combined with its name, or an id of its own (aliases), so both spellings are tried.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::app_graph;
use super::{dir_label, packages_from_graph, split_name_version};
use crate::analyze::graph::label;
use crate::package::Package;

#[derive(Deserialize)]
struct PnpmLock {
    #[serde(rename = "lockfileVersion", default)]
    lockfile_version: Option<serde_norway::Value>,
    #[serde(default)]
    importers: BTreeMap<String, Importer>,
    #[serde(flatten)]
    single: Importer,
    #[serde(default)]
    packages: BTreeMap<String, Snapshot>,
    #[serde(default)]
    snapshots: BTreeMap<String, Snapshot>,
}

#[derive(Deserialize, Default)]
struct Importer {
    #[serde(default)]
    dependencies: BTreeMap<String, Reference>,
    #[serde(rename = "optionalDependencies", default)]
    optional_dependencies: BTreeMap<String, Reference>,
    #[serde(rename = "devDependencies", default)]
    dev_dependencies: BTreeMap<String, Reference>,
}

/// `express: 4.2.0` (5.x) or `express: {specifier: ^4.2.0, version: 4.2.0}` (6.0 and later).
#[derive(Deserialize)]
#[serde(untagged)]
enum Reference {
    Plain(String),
    Full { version: String },
}

impl Reference {
    fn version(&self) -> &str {
        match self {
            Reference::Plain(v) | Reference::Full { version: v } => v,
        }
    }
}

#[derive(Deserialize, Default)]
struct Snapshot {
    name: Option<String>,
    version: Option<String>,
    dev: Option<bool>,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(rename = "optionalDependencies", default)]
    optional_dependencies: BTreeMap<String, String>,
}

pub fn parse(bytes: &[u8], dir: &str) -> Result<Vec<Package>, String> {
    let lock: PnpmLock = serde_norway::from_slice(bytes).map_err(|e| format!("not a valid pnpm-lock.yaml: {e}"))?;
    let format = match &lock.lockfile_version {
        Some(serde_norway::Value::String(s)) => s.parse::<f64>().unwrap_or(0.0),
        Some(serde_norway::Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        _ => return Err("not a pnpm-lock.yaml: no lockfileVersion".into()),
    };
    let graph_entries = if lock.snapshots.is_empty() { &lock.packages } else { &lock.snapshots };
    let mut graph = app_graph(dir_label(dir));
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut nodes = Vec::new();
    for (id, snapshot) in graph_entries {
        // 9.0 keeps name and version overrides (tarball and git packages) in `packages`, not `snapshots`.
        let meta = lock.packages.get(strip_peers(id, format)).unwrap_or(snapshot);
        let Some((name, version)) = name_version(id, meta, format) else { continue };
        let node = graph.add_node(label(&name, Some(&version)));
        index.insert(id, node);
        nodes.push((node, name, version, snapshot.dev.or(meta.dev)));
    }
    let find = |name: &str, reference: &str| -> Option<usize> {
        if reference.starts_with("link:") || reference.starts_with("file:") {
            return None;
        }
        [
            reference.to_string(),
            format!("/{name}@{reference}"),
            format!("{name}@{reference}"),
            format!("/{name}/{reference}"),
        ]
        .iter()
        .find_map(|id| index.get(id.as_str()).copied())
    };
    let mut importers: Vec<(&str, &Importer)> = lock.importers.iter().map(|(k, v)| (k.as_str(), v)).collect();
    if importers.is_empty() {
        importers.push((".", &lock.single));
    }
    for (path, importer) in importers {
        // Workspace members hang below the application as `npm ls` shows them.
        let from = if path == "." { 0 } else { graph.add_node(path.to_string()) };
        if from != 0 {
            graph.add_edge(0, from, false);
        }
        let prod = importer.dependencies.iter().chain(&importer.optional_dependencies).map(|d| (d, false));
        for ((name, reference), dev) in prod.chain(importer.dev_dependencies.iter().map(|d| (d, true))) {
            if let Some(to) = find(name, reference.version()) {
                graph.add_edge(from, to, dev);
            }
        }
    }
    for (id, snapshot) in graph_entries {
        let Some(&from) = index.get(id.as_str()) else { continue };
        for (name, reference) in snapshot.dependencies.iter().chain(&snapshot.optional_dependencies) {
            if let Some(to) = find(name, reference) {
                graph.add_edge(from, to, false);
            }
        }
    }
    Ok(packages_from_graph(&graph, &nodes))
}

/// `name@1.0.0(peer@2.0.0)` → `name@1.0.0`; 5.x's `/name/1.0.0_peer@2.0.0` → `/name/1.0.0`.
fn strip_peers(id: &str, format: f64) -> &str {
    let id = id.split_once('(').map_or(id, |(head, _)| head);
    match id.rsplit_once('/') {
        Some((head, version)) if format < 6.0 => {
            version.split_once('_').map_or(id, |(v, _)| &id[..head.len() + 1 + v.len()])
        }
        _ => id,
    }
}

fn name_version(id: &str, meta: &Snapshot, format: f64) -> Option<(String, String)> {
    let bare = strip_peers(id, format).trim_start_matches('/');
    let (name, version) = if format < 6.0 { bare.rsplit_once('/')? } else { split_name_version(bare)? };
    let name = meta.name.clone().unwrap_or_else(|| name.to_string());
    let version = meta.version.clone().unwrap_or_else(|| version.to_string());
    Some((name, version))
}
