//! What one analysed file yields, and how the layer walk records it.
//!
//! An analyser can finish a file only in part: a cap was reached (packages per file, the bytes a jar may
//! inflate, a database's blob length). It then returns what it found *and* why that is not everything, so
//! the report says "incomplete" instead of looking clean. Errors keep their old meaning: a broken OS
//! package database fails the scan, a broken language manifest is a per-file warning.

use crate::analyze::{FileContent, FileKind};
use crate::budget::Budget;
use crate::error::{Error, ErrorKind, Result};
use crate::layer::LayerInventory;

/// The result of analysing one file that could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// What the file contributes; `None` when it holds nothing of interest (a non-Go executable).
    pub content: Option<FileContent>,
    /// Why `content` is not all the file holds (the cap that was reached), when it is not.
    pub incomplete: Option<String>,
}

impl Analysis {
    /// Found `content`, possibly cut short for `reason`.
    pub fn partial(content: FileContent, reason: Option<String>) -> Analysis {
        Analysis { content: Some(content), incomplete: reason }
    }

    /// The packages this analysis found, if any (tests and tools).
    pub fn packages(&self) -> &[crate::package::Package] {
        match &self.content {
            Some(FileContent::Packages { packages, .. }) => packages,
            _ => &[],
        }
    }
}

impl From<FileContent> for Analysis {
    fn from(content: FileContent) -> Analysis {
        Analysis { content: Some(content), incomplete: None }
    }
}

/// Applies the per-file package cap: a lockfile or database listing more packages than
/// [`Budget::packages_per_file`] keeps the first ones and says so.
pub(crate) fn cap_packages(mut analysis: Analysis, budget: &Budget) -> Analysis {
    if let Some(FileContent::Packages { packages, .. }) = &mut analysis.content
        && packages.len() > budget.packages_per_file
    {
        let found = packages.len();
        packages.truncate(budget.packages_per_file);
        let why = format!(
            "lists {found} packages, over the {} package cap (budget `packages_per_file`); the rest were not \
             analysed",
            budget.packages_per_file
        );
        analysis.incomplete = Some(match analysis.incomplete.take() {
            Some(earlier) => format!("{earlier}; {why}"),
            None => why,
        });
    }
    analysis
}

/// Records a file too large for its analyser. Skipping a package database or a lockfile hides packages,
/// so the layer is marked incomplete (fail closed); an executable over the cap is a warning, since most
/// large executables are not Go or Rust programs and the cap is far above real ones.
pub(crate) fn record_oversized(inventory: &mut LayerInventory, path: &str, kind: FileKind, size: u64) {
    let why = format!("{size} bytes is over the {} byte cap for this kind of file; not analysed", kind.size_cap());
    if kind.is_streamed() {
        inventory.warn(path, why);
    } else {
        inventory.mark_incomplete(Some(path), format!("`/{path}`: {why}"));
    }
}

/// Records what analysing the file at `path` (normalised) gave: its content, the reason it is partial, or
/// its error — fatal for an OS package database (the image's ground truth), else a warning.
pub(crate) fn record(
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
