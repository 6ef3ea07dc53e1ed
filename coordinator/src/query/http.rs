//! `GET /v1/query` and `GET /v1/rollup` on the coordinator's HTTP listener: the answers as JSON, to
//! holders of the coordinator's token only (no token configured: refused, never served anonymously).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::{QueryRequest, RollupRequest, answer};
use crate::auth::{self, Bearer};
use crate::error::CoordinatorError;
use crate::store::ScanStore;

pub struct FleetApi {
    pub store: ScanStore,
    pub token: Option<String>,
}

impl FleetApi {
    fn unauthorized(&self, headers: &HeaderMap) -> Option<Response> {
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let valid = self.token.as_deref().is_some_and(|expected| auth::check(given, expected) == Bearer::Valid);
        (!valid).then(|| error(StatusCode::UNAUTHORIZED, "missing or invalid bearer token"))
    }
}

fn respond(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_string(body) {
        Ok(json) => (status, [(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    respond(status, &json!({ "error": message }))
}

fn failed(e: &CoordinatorError) -> Response {
    match e {
        CoordinatorError::Invalid(why) => error(StatusCode::BAD_REQUEST, why),
        _ => {
            tracing::warn!(error = %e, "answering a fleet query");
            error(StatusCode::SERVICE_UNAVAILABLE, "the fleet index could not be read")
        }
    }
}

/// The request's parameters, read only once the caller is known to hold the token.
fn parameters<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T, String> {
    Query::<T>::try_from_uri(uri).map(|Query(t)| t).map_err(|e| e.body_text())
}

pub async fn query(State(api): State<Arc<FleetApi>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(refused) = api.unauthorized(&headers) {
        return refused;
    }
    let request: QueryRequest = match parameters(&uri) {
        Ok(r) => r,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    match answer::query(&api.store, &request).await {
        Ok(answer) => respond(StatusCode::OK, &answer),
        Err(e) => failed(&e),
    }
}

pub async fn rollup(State(api): State<Arc<FleetApi>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(refused) = api.unauthorized(&headers) {
        return refused;
    }
    let request: RollupRequest = match parameters(&uri) {
        Ok(r) => r,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    match answer::rollup(&api.store, &request).await {
        Ok(answer) => respond(StatusCode::OK, &answer),
        Err(e) => failed(&e),
    }
}
