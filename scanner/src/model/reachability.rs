//! Whether a Go finding's vulnerable code is in the program: Go advisories name the vulnerable symbols
//! (OSV `affected[].ecosystem_specific.imports[].symbols`) and a Go binary's function table (pclntab)
//! lists the functions the linker kept, so a vulnerable package whose named symbols were all dropped as
//! dead code cannot be reached.

use serde::{Deserialize, Serialize};

/// Serialized as `"reachable"`, `"unreachable"` or `"unknown"`; only Go findings carry one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reachability {
    /// A symbol the advisory names is in the binary's function table.
    Reachable,
    /// The advisory names symbols and none of them is in the table: OpenVEX
    /// `not_affected` / `vulnerable_code_not_present`.
    Unreachable,
    /// The advisory names no symbols, or the table could not be read: treat as reachable.
    Unknown,
}

impl Reachability {
    pub fn as_str(self) -> &'static str {
        match self {
            Reachability::Reachable => "reachable",
            Reachability::Unreachable => "unreachable",
            Reachability::Unknown => "unknown",
        }
    }
}
