//! The coordinator's side of DefectDojo: the durable [`outbox`] in Redis and the [`delivery`] loop. The
//! client, the document and the name templates are the `strata-defectdojo` crate, which the CLI shares.

pub mod delivery;
pub mod outbox;

pub use strata_defectdojo::*;
