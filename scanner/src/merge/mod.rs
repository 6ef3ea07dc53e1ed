//! Merging layer inventories in order into the image's view, as the container runtime's overlay would:
//! the top-most copy of a path wins, `.wh.` whiteouts and `.wh..wh..opq` opaque directories hide lower
//! content, and every package is attributed to the layer that introduced it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::analyze::{self, FileContent, OsInfo};
use crate::image::LayerRef;
use crate::layer::{LayerInventory, path::self_and_ancestors};
use crate::package::Package;
use crate::secret::SecretFinding;

pub use crate::model::{InstalledPackage, LayerOrigin};

impl From<&LayerRef> for LayerOrigin {
    fn from(layer: &LayerRef) -> Self {
        // Build arguments land in history verbatim (`|1 NPM_TOKEN=…`); a report must not repeat them.
        let created_by = layer.created_by.as_deref().map(crate::misconfig::sensitive::mask_assignments);
        LayerOrigin { index: layer.index, diff_id: layer.diff_id.clone(), created_by }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageWarning {
    pub layer: LayerOrigin,
    pub path: String,
    pub message: String,
}

/// Analysis of one layer that was skipped or cut short (see [`crate::layer::Incomplete`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageIncomplete {
    pub layer: LayerOrigin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub reason: String,
}

/// The image as a whole: what a scan matches and reports on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInventory {
    pub os: Option<OsInfo>,
    pub packages: Vec<InstalledPackage>,
    pub warnings: Vec<ImageWarning>,
    /// What went unanalysed in any layer: a non-empty list makes the report incomplete.
    #[serde(default)]
    pub incomplete: Vec<ImageIncomplete>,
    /// Secrets in every layer, deleted files included: a later layer's whiteout hides a file from the
    /// container, not from anyone who pulls the image's blobs.
    #[serde(default)]
    pub secrets: Vec<SecretFinding>,
    /// Per-layer facts (setuid files, caches left behind, …) for the image-config checks, in layer order.
    #[serde(default)]
    pub layer_facts: Vec<crate::misconfig::LayerFacts>,
}

/// Merges `inventories[i]` (the analysis of `layers[i]`) bottom to top.
///
/// Work is O((files + whiteouts) · log n): a whiteout or opaque directory removes the range of paths below
/// it from a sorted map rather than testing every visible path against every whiteout.
///
/// # Panics
/// If the two slices differ in length: that is a programming error, not bad input.
pub fn merge(layers: &[LayerRef], inventories: &[LayerInventory]) -> ImageInventory {
    assert_eq!(layers.len(), inventories.len(), "one inventory per layer");
    // A layer whose hard links point into lower layers gets the targets' content: a copy of that layer only.
    let mut inventories: Vec<Cow<'_, LayerInventory>> = inventories.iter().map(Cow::Borrowed).collect();
    // For each visible path, the layers holding a copy since it was last deleted, bottom to top.
    let mut visible: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut incomplete = Vec::new();
    for i in 0..inventories.len() {
        for (link, reason) in resolve_links(i, &mut inventories, &visible) {
            incomplete.push(ImageIncomplete { layer: LayerOrigin::from(&layers[i]), path: Some(link), reason });
        }
        let inventory = &inventories[i];
        for dir in &inventory.opaque_dirs {
            hide(&mut visible, dir);
        }
        // An empty whiteout name is invalid (the walk no longer records one; an old cached inventory might).
        for gone in inventory.whiteouts.iter().filter(|w| !w.is_empty()) {
            hide(&mut visible, gone);
        }
        for path in inventory.files.keys() {
            visible.entry(path.clone()).or_default().push(i);
        }
        warnings.extend(inventory.warnings.iter().map(|w| ImageWarning {
            layer: LayerOrigin::from(&layers[i]),
            path: w.path.clone(),
            message: w.message.clone(),
        }));
        incomplete.extend(inventory.incomplete.iter().map(|gap| ImageIncomplete {
            layer: LayerOrigin::from(&layers[i]),
            path: gap.path.clone(),
            reason: gap.reason.clone(),
        }));
    }
    let inventories: Vec<&LayerInventory> = inventories.iter().map(|c| c.as_ref()).collect();

    let top = |path: &str| visible.get(path).and_then(|copies| copies.last()).map(|&i| &inventories[i].files[path]);
    let release = ["etc/os-release", "usr/lib/os-release"].iter().find_map(|p| match top(p) {
        Some(FileContent::OsRelease(r)) => Some(r),
        _ => None,
    });
    let debian_version = match top("etc/debian_version") {
        Some(FileContent::DebianVersion { version }) => Some(version.as_str()),
        _ => None,
    };
    let alpine_release = match top("etc/alpine-release") {
        Some(FileContent::AlpineRelease { version }) => Some(version.as_str()),
        _ => None,
    };
    let os = OsInfo::detect(release, debian_version, alpine_release);

    let mut packages = Vec::new();
    for (path, copies) in &visible {
        let Some(&top_layer) = copies.last() else { continue };
        let FileContent::Packages { packages: listed, group } = &inventories[top_layer].files[path] else { continue };
        for package in listed {
            let introduced = introducing_layer(package, path, copies, &inventories);
            packages.push(InstalledPackage {
                package: package.clone(),
                path: format!("/{path}"),
                target: group.clone().unwrap_or_else(|| format!("/{path}")),
                layer: LayerOrigin::from(&layers[introduced]),
            });
        }
    }
    packages
        .sort_by(|a, b| (&a.package.name, &a.package.arch, &a.path).cmp(&(&b.package.name, &b.package.arch, &b.path)));
    let secrets = secrets(layers, &inventories);
    let layer_facts = inventories.iter().map(|i| i.facts.clone()).collect();
    let mut inventory = ImageInventory { os, packages, warnings, incomplete, secrets, layer_facts };
    // What no single file can tell (npm trees through nested node_modules, Python Requires-Dist graphs).
    crate::analyze::post_merge(&mut inventory.packages);
    inventory
}

/// Every layer's secrets with their layer, each marked with the first later layer that deletes its file
/// (a whiteout of the file or a directory above it, or an opaque directory above it).
fn secrets(layers: &[LayerRef], inventories: &[&LayerInventory]) -> Vec<SecretFinding> {
    let mut out = Vec::new();
    for (i, inventory) in inventories.iter().enumerate() {
        for found in &inventory.secrets {
            let path = found.path.trim_start_matches('/');
            let deleted_in = inventories.iter().enumerate().skip(i + 1).find_map(|(j, later)| {
                let gone = self_and_ancestors(path)
                    .any(|p| (!p.is_empty() && later.whiteouts.contains(p)) || later.opaque_dirs.contains(p));
                gone.then(|| LayerOrigin::from(&layers[j]))
            });
            out.push(SecretFinding::new(found, LayerOrigin::from(&layers[i]), deleted_in));
        }
    }
    out.sort_by(|a, b| (&a.path, a.layer.index, a.line, &a.rule_id).cmp(&(&b.path, b.layer.index, b.line, &b.rule_id)));
    out
}

/// Removes `dir` and every path below it: the range `dir/` ..< `dir0` (`0` sorts right after `/`).
fn hide(visible: &mut BTreeMap<String, Vec<usize>>, dir: &str) {
    if dir.is_empty() {
        visible.clear();
        return;
    }
    visible.remove(dir);
    let (low, high) = (format!("{dir}/"), format!("{dir}0"));
    let below: Vec<String> = visible
        .range::<str, _>((Bound::Included(low.as_str()), Bound::Excluded(high.as_str())))
        .map(|(path, _)| path.clone())
        .collect();
    for path in below {
        visible.remove(&path);
    }
}

/// Gives layer `i`'s hard links into lower layers their target's content, as the runtime links to the file
/// already unpacked. Returns the links that cannot be resolved (the target is not visible, or was not
/// analysed as the same kind of file), with why.
fn resolve_links(
    i: usize,
    inventories: &mut [Cow<'_, LayerInventory>],
    visible: &BTreeMap<String, Vec<usize>>,
) -> Vec<(String, String)> {
    let mut unresolved = Vec::new();
    if inventories[i].hardlinks.is_empty() {
        return unresolved;
    }
    let links = inventories[i].hardlinks.clone();
    for (link, target) in links {
        let below = visible.get(&target).and_then(|copies| copies.last()).map(|&j| &inventories[j].files[&target]);
        match below {
            Some(content) if analyze::classify(&link) == analyze::classify(&target) => {
                let content = content.clone();
                inventories[i].to_mut().files.insert(link, content);
            }
            _ => unresolved.push((
                format!("/{link}"),
                format!(
                    "a hard link to /{target}, which no lower layer holds as a file analysed as this kind \
                     (the runtime links to whatever is there); not analysed"
                ),
            )),
        }
    }
    unresolved
}

/// The lowest layer of the unbroken run of copies, from the top down, that list the package at this
/// version: an upgrade in layer 3 is attributed to layer 3, not to the base that had an older version.
fn introducing_layer(package: &Package, path: &str, copies: &[usize], inventories: &[&LayerInventory]) -> usize {
    let lists = |i: usize| match &inventories[i].files[path] {
        FileContent::Packages { packages, .. } => {
            packages.iter().any(|p| p.name == package.name && p.arch == package.arch && p.version == package.version)
        }
        _ => false,
    };
    let mut introduced = *copies.last().expect("caller passes a visible path");
    for &i in copies.iter().rev().skip(1) {
        if !lists(i) {
            break;
        }
        introduced = i;
    }
    introduced
}

#[cfg(test)]
mod tests;
