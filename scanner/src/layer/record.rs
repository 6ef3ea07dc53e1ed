//! How the layer walk records what the analysers and the secret scanner found in one file, and what they
//! could not finish, into the layer's inventory.

use super::LayerInventory;
use crate::analyze::{Analysis, FileKind};
use crate::budget::Budget;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::Scanner;

/// Records a file too large for its analyser. Skipping a package database or a lockfile hides packages,
/// so the layer is marked incomplete (fail closed); an executable over the cap is a warning, since most
/// large executables are not Go or Rust programs and the cap is far above real ones.
pub(crate) fn oversized(inventory: &mut LayerInventory, path: &str, kind: FileKind, size: u64) {
    let why = format!("{size} bytes is over the {} byte cap for this kind of file; not analysed", kind.size_cap());
    if kind.is_streamed() {
        inventory.warn(path, why);
    } else {
        inventory.mark_incomplete(Some(path), format!("`/{path}`: {why}"));
    }
}

/// Records what analysing the file at `path` (normalised) gave: its content, the reason it is partial, or
/// its error — fatal for an OS package database (the image's ground truth), else a warning.
pub(crate) fn analysis(
    inventory: &mut LayerInventory,
    path: &str,
    kind: FileKind,
    analysed: std::result::Result<Analysis, String>,
) -> Result<()> {
    match analysed {
        Ok(Analysis { content, incomplete }) => {
            if let Some(why) = incomplete {
                inventory.mark_incomplete(Some(path), format!("`/{path}`: {why}"));
            }
            if let Some(content) = content {
                inventory.files.insert(path.to_string(), content);
            }
            Ok(())
        }
        Err(why) if kind.errors_are_fatal() => Err(Error::new(ErrorKind::Parse, format!("file /{path}: {why}"))),
        Err(why) => {
            inventory.warn(path, why);
            Ok(())
        }
    }
}

/// Scans one file of a layer into its inventory, within the budget's findings per file and per layer
/// ([`Budget::secrets_per_file`], [`Budget::secrets_per_layer`]). Findings past either are dropped and the
/// layer marked incomplete: a file of a million key-like lines is an attack on memory (each finding is a
/// few hundred bytes in every report), and the findings kept already say the file must be looked at.
pub(crate) fn secrets(scanner: &Scanner, path: &str, bytes: &[u8], budget: &Budget, inventory: &mut LayerInventory) {
    let room = budget.secrets_per_layer.saturating_sub(inventory.secrets.len());
    if room == 0 && inventory.incomplete.iter().any(|i| i.reason.contains("`secrets_per_layer`")) {
        // Already said once for this layer; scanning on could not keep anything.
        return;
    }
    let limit = budget.secrets_per_file.min(room);
    let (found, more) = scanner.scan_limited(path, bytes, limit);
    inventory.secrets.extend(found);
    if !more {
        return;
    }
    let reason = if limit < budget.secrets_per_file {
        format!(
            "`/{path}`: the layer holds more than {} secret findings (budget `secrets_per_layer`); the rest of \
             the layer was not scanned for secrets",
            budget.secrets_per_layer
        )
    } else {
        format!(
            "`/{path}`: more than {} secret findings in one file (budget `secrets_per_file`); the rest of the \
             file was not scanned for secrets",
            budget.secrets_per_file
        )
    };
    inventory.mark_incomplete(Some(path), reason);
}
