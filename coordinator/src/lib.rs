//! Strata's coordinator: the gRPC `ScanService`, and the scan logic behind it — resolve each image's
//! manifest, fan its layers out as jobs (single-flight across replicas through the layer cache), merge
//! the results with the engine, match the DB, keep the inventory and the report. Scan state lives in
//! Redis, so replicas share it and a restarted coordinator resumes what was in flight.
//!
//! An optional HTTP listener ([`http`]) takes the registry's push notifications ([`notify`]) and serves
//! Harbor's pluggable scanner API ([`harbor`]).
//!
//! [`layers::LayerFanout`] and [`assemble`] are also what `strata image` runs in local mode, over an
//! in-process queue and cache, so there is one pipeline, not two.
//!
//! [`sweep`] lists a registry and scans or re-matches everything in it, on request or on the [`schedule`].

pub mod assemble;
pub mod auth;
pub mod db;
pub mod defectdojo;
pub mod error;
pub mod harbor;
pub mod http;
pub mod layers;
pub mod notify;
pub mod runner;
pub mod schedule;
pub mod server;
pub mod service;
pub mod store;
pub mod sweep;
pub mod tasks;
