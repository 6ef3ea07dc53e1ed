//! `yarn.lock`: yarn 1's own format and berry's (yarn 2+) YAML, both read with `yarn-lock-parser`.
//!
//! Entries are keyed by the descriptors (`name@range`) that resolve to them, and dependencies name such
//! descriptors, so the graph links each dependency to the entry listing its descriptor. Berry records the
//! application as a `workspace:` entry, which roots the paths; yarn 1 does not record the application at
//! all, so its entries that nothing depends on stand for the application's direct dependencies. Neither
//! format says which dependencies are for development.

use std::collections::HashMap;

use yarn_lock_parser::{Entry, parse_str};

use super::app_graph;
use super::{dir_label, packages_from_graph};
use crate::analyze::graph::label;
use crate::package::Package;

pub fn parse(bytes: &[u8], dir: &str) -> Result<Vec<Package>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("yarn.lock is not UTF-8: {e}"))?;
    // The parser expects a final newline; editors and `git` sometimes leave it out.
    let text = if text.ends_with('\n') { std::borrow::Cow::Borrowed(text) } else { format!("{text}\n").into() };
    let lock = parse_str(&text).map_err(|e| format!("not a valid yarn.lock: {e}"))?;
    let is_workspace = |e: &Entry| e.descriptors.iter().any(|(_, range)| range.starts_with("workspace:"));
    let root =
        lock.entries.iter().position(|e| is_workspace(e) && e.descriptors.iter().any(|(_, r)| *r == "workspace:."));
    let root_label = match root.map(|i| &lock.entries[i]) {
        Some(e) => e.name.to_string(),
        None => dir_label(dir),
    };
    let mut graph = app_graph(root_label);
    let mut by_descriptor: HashMap<(&str, &str), usize> = HashMap::new();
    let mut node_of = Vec::with_capacity(lock.entries.len());
    for (i, entry) in lock.entries.iter().enumerate() {
        let node = if Some(i) == root { 0 } else { graph.add_node(label(entry.name, Some(entry.version))) };
        node_of.push(node);
        for &(name, range) in &entry.descriptors {
            by_descriptor.insert((name, range), node);
        }
    }
    let mut depended_on = vec![false; lock.entries.len() + 1];
    for (i, entry) in lock.entries.iter().enumerate() {
        let deps = entry.dependencies.iter().chain(&entry.optional_dependencies).chain(&entry.peer_dependencies);
        for &(name, range) in deps {
            if let Some(&to) = by_descriptor.get(&(name, range)) {
                graph.add_edge(node_of[i], to, false);
                depended_on[to] = true;
            }
        }
    }
    if root.is_none() {
        for &node in &node_of {
            if !depended_on[node] {
                graph.add_edge(0, node, false);
            }
        }
    }
    let nodes: Vec<_> = lock
        .entries
        .iter()
        .zip(&node_of)
        .filter(|(e, node)| **node != 0 && !is_workspace(e))
        .map(|(e, &node)| (node, e.name.to_string(), e.version.to_string(), Some(false)))
        .collect();
    Ok(packages_from_graph(&graph, &nodes))
}
