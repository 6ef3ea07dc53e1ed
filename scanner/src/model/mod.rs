//! Types that several layers of the engine share, kept below all of them so that each layer depends only on
//! those beneath it: model → analysers → layer walk → merge → match → report (`tests/layering.rs` checks it).

mod advisory;
mod installed;
mod reachability;

pub use advisory::{Affected, Event, GoImport, Range, RangeKind};
pub use installed::{InstalledPackage, LayerOrigin};
pub use reachability::Reachability;
