//! Strata's coordinator: the gRPC `ScanService`, and the scan logic behind it — resolve each image's
//! manifest, fan its layers out as jobs (single-flight across replicas through the layer cache), merge
//! the results with the engine, match the DB, keep the inventory and the report. Scan state lives in
//! Redis, so replicas share it and a restarted coordinator resumes what was in flight.
//!
//! An optional HTTP listener ([`http`]) takes the registry's push notifications ([`notify`]) and serves
//! Harbor's pluggable scanner API ([`harbor`]).
//!
//! Fan-out, assembly and the finishing steps are `strata-pipeline`, which `strata image` runs too: one
//! pipeline, not two. What it is not: the engine (`strata-scanner`) nor a layer worker (`strata-worker`).
//!
//! [`retention`] prunes old scans from Redis and checks that Redis cannot evict them.
//!
//! [`sweep`] lists a registry and scans or re-matches everything in it, on request or on the [`schedule`].

pub mod auth;
pub mod db;
pub mod defectdojo;
pub mod error;
pub mod events;
pub mod harbor;
pub mod http;
pub mod notify;
pub mod policy;
pub mod query;
pub mod retention;
pub mod runner;
pub mod schedule;
pub mod server;
pub mod service;
pub mod store;
pub mod sweep;
pub mod tasks;
