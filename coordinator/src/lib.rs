//! Strata's coordinator: the gRPC `ScanService`, and the scan logic behind it — resolve each image's
//! manifest, fan its layers out as jobs (single-flight across replicas through the layer cache), merge
//! the results with the engine, match the DB, keep the inventory and the report. Scan state lives in
//! Redis, so replicas share it and a restarted coordinator resumes what was in flight.
//!
//! [`layers::LayerFanout`] and [`assemble`] are also what `strata image` runs in local mode, over an
//! in-process queue and cache, so there is one pipeline, not two.
//!
//! [`sweep`] lists a registry and scans or re-matches everything in it, on request or on the [`schedule`].

pub mod assemble;
pub mod db;
pub mod defectdojo;
pub mod error;
pub mod layers;
pub mod runner;
pub mod schedule;
pub mod server;
pub mod service;
pub mod store;
pub mod sweep;
