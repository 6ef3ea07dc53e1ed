//! Hard links as the runtime makes them: the link is the target's file, so a package database stored as a
//! link to another path must be analysed with the target's content.
//!
//! A tar link always points at a path unpacked before it: earlier in this layer, or in a lower layer (the
//! runtime links to the file already on disk). The layer is read once, so a target earlier in this layer
//! is only available if it was analysed as the same kind of file; otherwise the link is recorded as
//! incomplete, naming both paths. A target not in this layer is left to the merge
//! ([`super::LayerInventory::hardlinks`]).

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use super::LayerInventory;
use super::path::{self, EntryPath};
use crate::analyze;

/// Which paths this layer has unpacked so far, as hashes: a collision can only mark a link incomplete
/// that was in fact resolvable at merge, never hide one.
#[derive(Default)]
pub(super) struct Links {
    seen: HashSet<u64>,
    hasher: RandomState,
}

impl Links {
    pub fn saw_file(&mut self, path: &str) {
        self.seen.insert(self.hasher.hash_one(path));
    }

    pub fn link(&mut self, path: &str, target: Option<&[u8]>, inventory: &mut LayerInventory) {
        self.saw_file(path);
        let Some(kind) = analyze::classify(path) else {
            // Only files of interest by name matter here: any other target was read, and analysed as
            // what it is, under its own path.
            return;
        };
        let target = match target.map(path::classify) {
            Some(Ok(path::Classified { path: EntryPath::Normal(t), not_utf8: false })) => t,
            _ => {
                let reason = "a hard link whose target is not a valid path; not analysed";
                inventory.mark_incomplete(Some(path), reason);
                return;
            }
        };
        if analyze::classify(&target) == Some(kind)
            && let Some(content) = inventory.files.get(&target)
        {
            let content = content.clone();
            inventory.files.insert(path.to_string(), content);
        } else if let Some(root) = inventory.hardlinks.get(&target) {
            let root = root.clone();
            inventory.files.remove(path);
            inventory.hardlinks.insert(path.to_string(), root);
        } else if self.seen.contains(&self.hasher.hash_one(target.as_str())) {
            inventory.mark_incomplete(
                Some(path),
                format!(
                    "a hard link to /{target}, whose content was not kept (the layer is read once, and /{target} \
                     was not read as this kind of file); not analysed"
                ),
            );
        } else {
            // The link replaces whatever this layer had at its path before.
            inventory.files.remove(path);
            inventory.hardlinks.insert(path.to_string(), target);
        }
    }
}
