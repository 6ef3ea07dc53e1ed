//! Harbor's pluggable scanner adapter API v1.2 (the OpenAPI document is kept in
//! `coordinator/tests/specs/harbor-scanner-adapter-openapi-v1.2.yaml`), served on the coordinator's HTTP
//! listener under `/api/v1` and backed by the fleet: a scan request is a fleet scan (its id is the scan
//! request id), a report is the scan's report in Harbor's shape.
//!
//! - [`model`]: the spec's objects and MIME types;
//! - [`report`]: a Strata report as a `HarborVulnerabilityReport` or `HarborSbomReport` (pure);
//! - [`api`]: the three operations.
//!
//! Harbor's `registry.authorization` is used only to resolve the manifest, in memory, and is never
//! logged, stored in Redis or put in a layer job: workers pull blobs with their own credentials, so a
//! Harbor deployment gives the workers a robot account with pull access (docs/continuous.md).

pub mod api;
pub mod model;
pub mod report;
