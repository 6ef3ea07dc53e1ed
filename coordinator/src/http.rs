//! The coordinator's HTTP listener (`STRATA_HTTP_LISTEN`, off when unset): the registry notification
//! endpoint ([`crate::notify`], only when its secret is configured) and Harbor's scanner adapter API
//! ([`crate::harbor`]), and the fleet query API ([`crate::query::http`]). gRPC stays on its own port; `/metrics` and the probes stay on the ops port.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::harbor::api::{self as harbor, Adapter};
use crate::notify::endpoint::{self, Endpoint};
use crate::query::http::FleetApi;

/// A Harbor scan request is a few hundred bytes and a notification envelope a few KiB per event: nothing
/// larger is read.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The routes; `notify` is `None` when scan on push is not configured (its path then answers 404).
pub fn router(adapter: Arc<Adapter>, notify: Option<Arc<Endpoint>>, fleet: Arc<FleetApi>) -> Router {
    let mut router = Router::new()
        .route("/api/v1/metadata", get(harbor::metadata))
        .route("/api/v1/scan", post(harbor::accept_scan))
        .route("/api/v1/scan/{scan_request_id}/report", get(harbor::report))
        .with_state(adapter)
        .merge(
            Router::new()
                .route("/v1/query", get(crate::query::http::query))
                .route("/v1/rollup", get(crate::query::http::rollup))
                .with_state(fleet),
        );
    if let Some(notify) = notify {
        router = router.merge(Router::new().route("/v1/registry/events", post(endpoint::receive)).with_state(notify));
    }
    router.layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()> + Send + 'static) {
    if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
        tracing::warn!(error = %e, "HTTP listener stopped");
    }
}
