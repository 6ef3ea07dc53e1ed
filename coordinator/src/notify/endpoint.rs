//! `POST /v1/registry/events`: checks the shared secret, decides each event, persists the accepted ones
//! and answers. No scan work happens here, so the registry's notification queue never waits on a scan.
//!
//! Answers: 200 once every event is decided and the accepted ones are in Redis; 401 without the secret;
//! 400 for a body that is not an envelope; 503 when Redis fails (the registry retries, and events this
//! request already persisted are then recognised as duplicates, not lost or scanned twice).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;
use tracing::{debug, warn};

use super::Settings;
use super::event::{Envelope, classify};
use super::inbox::{Admission, Inbox};
use crate::auth::{self, Bearer};
use crate::runner::now_ms;

pub struct Endpoint {
    pub settings: Settings,
    pub inbox: Inbox,
    /// Wakes this replica's drainer when an event is queued.
    pub wake: Arc<Notify>,
}

pub async fn receive(State(endpoint): State<Arc<Endpoint>>, headers: HeaderMap, body: Bytes) -> Response {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if auth::check(given, &endpoint.settings.token) != Bearer::Valid {
        metrics::counter!("strata_registry_requests_rejected_total", "status" => "401").increment(1);
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "missing or invalid bearer token\n")
            .into_response();
    }
    let envelope: Envelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            metrics::counter!("strata_registry_requests_rejected_total", "status" => "400").increment(1);
            return (StatusCode::BAD_REQUEST, format!("not a registry event envelope: {e}\n")).into_response();
        }
    };
    let settings = &endpoint.settings;
    let (mut queued, mut duplicates, mut ignored) = (0u32, 0u32, 0u32);
    for event in &envelope.events {
        metrics::counter!("strata_registry_events_received_total").increment(1);
        match classify(event, &settings.registry, &settings.filter, now_ms()) {
            Ok(pushed) => match endpoint.inbox.admit(&pushed, settings.dedup_window).await {
                Ok(Admission::Queued) => {
                    metrics::counter!("strata_registry_events_accepted_total").increment(1);
                    debug!(reference = %pushed.reference, tag = %pushed.tag, event = %pushed.event_id, "push event queued");
                    queued += 1;
                }
                Ok(Admission::Duplicate) => {
                    metrics::counter!("strata_registry_events_deduplicated_total").increment(1);
                    debug!(reference = %pushed.reference, tag = %pushed.tag, "push event deduplicated");
                    duplicates += 1;
                }
                Err(e) => {
                    warn!(error = %e, "push events: Redis refused an event; the registry will retry");
                    metrics::counter!("strata_registry_requests_rejected_total", "status" => "503").increment(1);
                    if queued > 0 {
                        endpoint.wake.notify_one();
                    }
                    return (StatusCode::SERVICE_UNAVAILABLE, "cannot persist the event now; retry\n").into_response();
                }
            },
            Err(why) => {
                metrics::counter!("strata_registry_events_ignored_total", "reason" => why.as_str()).increment(1);
                debug!(action = %event.action, media_type = %event.target.media_type, reason = why.as_str(), "registry event ignored");
                ignored += 1;
            }
        }
    }
    if queued > 0 {
        endpoint.wake.notify_one();
    }
    let summary = serde_json::json!({"queued": queued, "duplicates": duplicates, "ignored": ignored});
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], summary.to_string()).into_response()
}
