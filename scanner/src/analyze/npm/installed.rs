//! Installed packages: `node_modules/**/package.json`, and the application's own `package.json`.
//!
//! One manifest is one node of a tree spread over many files, so analysing it yields its package with the
//! dependency names it declares, carried in `dependency_paths` (after a marker) as `"<field> <name>"` until
//! [`post_merge`] has the whole merged image: it then groups the manifests per application (the directory holding the
//! top-most `node_modules`), resolves each declared dependency as Node does (the nearest
//! `node_modules/<name>` walking up from the dependent), replaces the declared names with `npm ls`-style
//! paths, drops what a lockfile of the same application already reports, and drops the applications'
//! own manifests, which are roots, not dependencies.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

use super::app_graph;
use super::resolve::Resolver;
use super::{Kind, classify, dir_label, npm_package};
use crate::analyze::FileContent;
use crate::analyze::graph::label;
use crate::model::InstalledPackage;
use crate::package::PackageKind;

/// Leads the declared dependencies until [`post_merge`] replaces them, so that a second pass over an
/// already resolved inventory changes nothing.
const UNRESOLVED: &str = "\u{1}unresolved";

/// The manifest fields whose entries `npm ls` follows; `devDependencies` only for the application.
const FIELDS: [&str; 4] = ["dependencies", "optionalDependencies", "peerDependencies", "devDependencies"];

/// Only the fields read are parsed into values (the rest is skipped unparsed: READMEs embedded in old
/// manifests are large). Any JSON type is accepted where old packages wrote odd ones (`"dependencies": []`).
#[derive(Deserialize)]
struct Manifest {
    name: Option<Value>,
    version: Option<Value>,
    dependencies: Option<Value>,
    #[serde(rename = "optionalDependencies")]
    optional_dependencies: Option<Value>,
    #[serde(rename = "peerDependencies")]
    peer_dependencies: Option<Value>,
    #[serde(rename = "devDependencies")]
    dev_dependencies: Option<Value>,
}

pub fn analyze(kind: Kind, path: &str, bytes: &[u8]) -> Result<FileContent, String> {
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| format!("not a valid package.json: {e}"))?;
    let text = |v: Option<Value>| match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let (name, version) = (text(manifest.name), text(manifest.version));
    let declared =
        [manifest.dependencies, manifest.optional_dependencies, manifest.peer_dependencies, manifest.dev_dependencies];
    let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let (group, fields, name, version) = match kind {
        Kind::Installed => {
            // npm refuses to install a package without a version; such a manifest is not a package.
            let (Some(name), Some(version)) = (name, version) else { return Ok(FileContent::packages(Vec::new())) };
            let top = dir.find("node_modules").map_or(dir, |i| &dir[..i + "node_modules".len()]);
            (format!("/{top}"), &FIELDS[..3], name, version)
        }
        _ => (
            format!("/{}", join(dir, "node_modules")),
            &FIELDS[..],
            name.unwrap_or_default(),
            version.unwrap_or_default(),
        ),
    };
    let mut package = npm_package(&name, &version);
    package.dependency_paths.push(UNRESOLVED.to_string());
    for (field, deps) in fields.iter().zip(&declared) {
        if let Some(Value::Object(deps)) = deps {
            package.dependency_paths.extend(deps.keys().map(|dep| format!("{field} {dep}")));
        }
    }
    Ok(FileContent::Packages { packages: vec![package], group: Some(group) })
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

#[derive(Default)]
struct App {
    manifest: Option<usize>,
    installed: Vec<usize>,
    locked: HashSet<(String, String)>,
}

/// See the module documentation. Runs once per scan, after [`crate::merge::merge`].
pub fn post_merge(packages: &mut Vec<InstalledPackage>) {
    let mut apps: BTreeMap<String, App> = BTreeMap::new();
    for (i, installed) in packages.iter().enumerate() {
        if installed.package.kind != PackageKind::Npm {
            continue;
        }
        let unresolved = installed.package.dependency_paths.first().is_some_and(|d| d == UNRESOLVED);
        let path = installed.path.trim_start_matches('/');
        let dir = installed.path.rsplit_once('/').map_or("", |(dir, _)| dir);
        match classify(path) {
            Some(Kind::Installed | Kind::Manifest) if !unresolved => {}
            Some(Kind::Installed) => {
                let app = dir.find("/node_modules/").map_or(dir, |at| &dir[..at]);
                apps.entry(app.to_string()).or_default().installed.push(i);
            }
            Some(Kind::Manifest) => apps.entry(dir.to_string()).or_default().manifest = Some(i),
            Some(_) => {
                let p = &installed.package;
                apps.entry(dir.to_string()).or_default().locked.insert((p.name.clone(), p.version.clone()));
            }
            None => {}
        }
    }
    let mut drop = HashSet::new();
    for (dir, app) in &apps {
        drop.extend(app.manifest);
        if app.installed.is_empty() {
            continue;
        }
        resolve_app(packages, dir, app);
        drop.extend(app.installed.iter().filter(|&&i| {
            let p = &packages[i].package;
            app.locked.contains(&(p.name.clone(), p.version.clone()))
        }));
    }
    let mut i = 0;
    packages.retain(|_| {
        i += 1;
        !drop.contains(&(i - 1))
    });
}

/// Rebuilds one application's tree from its installed manifests and writes each package's paths.
fn resolve_app(packages: &mut [InstalledPackage], dir: &str, app: &App) {
    let declared = |i: usize| -> Vec<(String, String)> {
        let p = &packages[i].package;
        p.dependency_paths
            .iter()
            .filter_map(|d| d.split_once(' '))
            .map(|(f, n)| (f.to_string(), n.to_string()))
            .collect()
    };
    let root_label = match app.manifest.map(|i| &packages[i].package) {
        Some(p) if p.name.is_empty() => dir_label(dir),
        Some(p) => label(&p.name, Some(&p.version)),
        // Global installs have no application: their paths start at the installed packages.
        None => String::new(),
    };
    let mut graph = app_graph(root_label);
    let location_of = |i: usize| packages[i].path.rsplit_once('/').map_or("", |(d, _)| d).to_string();
    let locations: Vec<String> = app.installed.iter().map(|&i| location_of(i)).collect();
    let mut resolver = Resolver::new();
    let mut node_of = Vec::with_capacity(app.installed.len());
    for (&i, location) in app.installed.iter().zip(&locations) {
        let installed = &packages[i];
        let node = graph.add_node(label(&installed.package.name, Some(&installed.package.version)));
        resolver.provide(location, node);
        node_of.push(node);
    }
    resolver.finish();
    if let Some(m) = app.manifest {
        for (field, name) in declared(m) {
            if let Some(to) = resolver.resolve(dir, &name, Some) {
                graph.add_edge(0, to, field == "devDependencies");
            }
        }
    }
    for (k, &i) in app.installed.iter().enumerate() {
        let start = resolver.start(&locations[k]);
        for (_, name) in declared(i) {
            if let Some(to) = resolver.resolve_from(start, &name, Some) {
                graph.add_edge(node_of[k], to, false);
            }
        }
    }
    let mut walk = super::walk(&graph);
    // What nothing requires but sits at the top of node_modules is still listed by `npm ls` (as extraneous).
    let top = format!("{dir}/node_modules/");
    let mut extraneous = false;
    for (k, &i) in app.installed.iter().enumerate() {
        let path = &packages[i].path;
        let depth = path.strip_prefix(&top).map(|rest| rest.matches("/node_modules/").count());
        if walk.counts[node_of[k]] == 0 && depth == Some(0) {
            graph.add_edge(0, node_of[k], false);
            extraneous = true;
        }
    }
    if extraneous {
        walk = super::walk(&graph);
    }
    for (k, &i) in app.installed.iter().enumerate() {
        let node = node_of[k];
        let package = &mut packages[i].package;
        package.dependency_paths = walk.paths[node].clone();
        package.dependency_paths_cut = walk.cut(node);
        package.dev = walk.counts[node] > 0 && !walk.prod[node];
    }
}
