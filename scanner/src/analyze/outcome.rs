//! What one analysed file yields (the layer walk records it: see `layer::record`).
//!
//! An analyser can finish a file only in part: a cap was reached (packages per file, the bytes a jar may
//! inflate, a database's blob length). It then returns what it found *and* why that is not everything, so
//! the report says "incomplete" instead of looking clean. Errors keep their old meaning: a broken OS
//! package database fails the scan, a broken language manifest is a per-file warning.

use crate::analyze::FileContent;
use crate::budget::Budget;

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
