//! The scan pipeline every front end runs, so that a report is the same whichever one produced it:
//! `strata image` (over an in-process queue and cache), the coordinator's scan runner and rescans, the
//! Harbor adapter and DefectDojo delivery.
//!
//! - [`fanout`]: one image's layers as jobs — served from the layer cache, queued once (single-flight),
//!   waited for. The only async part; it talks to a [`strata_fleet`] queue and cache, never to a network
//!   of its own.
//! - [`assemble`]: layer results to an inventory (the engine's merge) and to a matched report.
//! - [`finish`]: the report every front end shows — match, advice, image-config checks, policy, summary.
//! - [`policy`]: ignore files and VEX documents as they are handed over, and the policy they make.
//!
//! What it is not: the engine (analysers, merge, match and formats are `strata-scanner`, pure and
//! synchronous), nor a service — where images come from, where reports are stored and who is told about
//! them stay in the front ends.

pub mod assemble;
pub mod fanout;
pub mod finish;
pub mod policy;
