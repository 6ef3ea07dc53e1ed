//! Strata's wire contract, generated from `strata/v1/scan.proto`: the `ScanService` the coordinator serves
//! and the CLI calls, and the `LayerJob` / `LayerResult` messages that travel over RabbitMQ and sit in the
//! Redis layer cache. No logic lives here.

#![allow(clippy::all)]

pub mod v1 {
    tonic::include_proto!("strata.v1");
}
