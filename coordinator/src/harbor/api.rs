//! The three operations: `GET /api/v1/metadata`, `POST /api/v1/scan` (202 and the scan's id) and
//! `GET /api/v1/scan/{scan_request_id}/report` (302 with `Refresh-After` while the scan runs, the report
//! in the negotiated type once done, 404 for ids no scan has). Errors are the spec's `ErrorResponse`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use strata_proto::v1::{Scan, ScanOptions, ScanStatus};
use strata_scanner::report::Report;

use super::model::*;
use super::report::{sbom_report, vulnerability_report};
use crate::auth::{self, Bearer};
use crate::error::{CoordinatorError, Result};
use crate::runner::{RegistryCredential, Runner};

/// Seconds Harbor should wait before polling a running scan again.
const REFRESH_AFTER_SECS: u32 = 5;
/// Scan labels that keep Harbor's artifact, so the report can echo it.
const LABELS: [&str; 4] = ["harbor.repository", "harbor.digest", "harbor.tag", "harbor.mime_type"];

pub struct Adapter {
    pub runner: Arc<Runner>,
    /// The coordinator's client token, which Harbor must send (`Authorization: Bearer …`). Without one
    /// the adapter is off: every request is refused, never served anonymously.
    pub token: Option<String>,
}

fn respond(status: StatusCode, mime: &str, body: &Value) -> Response {
    let mime = HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/json"));
    (status, [(header::CONTENT_TYPE, mime)], body.to_string()).into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    respond(status, ERROR_MIME, &json!(ErrorResponse::new(message)))
}

impl Adapter {
    fn unauthorized(&self, headers: &HeaderMap) -> Option<Response> {
        let Some(expected) = self.token.as_deref() else {
            return Some(error(
                StatusCode::UNAUTHORIZED,
                "the Harbor adapter is off: the coordinator has no token (STRATA_TOKEN_FILE)",
            ));
        };
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        (auth::check(given, expected) != Bearer::Valid)
            .then(|| error(StatusCode::UNAUTHORIZED, "missing or invalid bearer token"))
    }
}

pub async fn metadata(State(adapter): State<Arc<Adapter>>, headers: HeaderMap) -> Response {
    if let Some(refused) = adapter.unauthorized(&headers) {
        return refused;
    }
    // Without a DB (a coordinator for secret and misconfig scans only) the DB properties are empty.
    let db = adapter.runner.db().cloned();
    let header = tokio::task::spawn_blocking(move || db.map(|db| db.current().map(|d| d.header().clone())).transpose());
    let (built_at, digest) = match header.await {
        Ok(Ok(h)) => h.map(|h| (h.built_at, h.content_digest)).unwrap_or_default(),
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let body = json!({
        "scanner": Scanner::strata(),
        "capabilities": [
            {"type": "vulnerability", "consumes_mime_types": CONSUMES,
             "produces_mime_types": [VULN_REPORT_MIME, HARBOR_VULN_REPORT_MIME]},
            {"type": "sbom", "consumes_mime_types": CONSUMES, "produces_mime_types": [SBOM_REPORT_MIME],
             "additional_attributes": {"sbom_media_types": [SPDX_MIME, CYCLONEDX_MIME]}},
        ],
        "properties": {
            "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
            "harbor.scanner-adapter/vulnerability-database-updated-at": built_at,
            "strata/vulnerability-database-digest": digest,
        },
    });
    respond(StatusCode::OK, METADATA_MIME, &body)
}

pub async fn accept_scan(State(adapter): State<Arc<Adapter>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = adapter.unauthorized(&headers) {
        return refused;
    }
    let request: ScanRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a scan request: {e}")),
    };
    let registry = request.registry.unwrap_or_default();
    let artifact = request.artifact.unwrap_or_default();
    let host = match registry_host(&registry.url) {
        Ok(h) => h,
        Err(why) => return error(StatusCode::UNPROCESSABLE_ENTITY, why),
    };
    if !strata_registry::is_repository_name(&artifact.repository) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "artifact.repository is not a repository name (lower-case components of [a-z0-9._-] separated by /)",
        );
    }
    if !artifact.digest.split_once(':').is_some_and(|(a, h)| !a.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("artifact.digest {:?} is not a digest", artifact.digest),
        );
    }
    if !artifact.mime_type.is_empty() && !CONSUMES.contains(&artifact.mime_type.as_str()) {
        return error(StatusCode::NOT_IMPLEMENTED, format!("Strata does not scan {} artifacts", artifact.mime_type));
    }
    let mut options = ScanOptions::default();
    options.labels.insert("trigger".into(), "harbor".into());
    for (key, value) in LABELS.iter().zip([&artifact.repository, &artifact.digest, &artifact.tag, &artifact.mime_type])
    {
        if !value.is_empty() {
            options.labels.insert(key.to_string(), value.clone());
        }
    }
    let reference = format!("{host}/{}@{}", artifact.repository, artifact.digest);
    let credential = registry.authorization.as_deref().and_then(basic_credential);
    match adapter.runner.submit_with(reference, options, credential, None).await {
        Ok(id) => respond(StatusCode::ACCEPTED, SCAN_RESPONSE_MIME, &json!({"id": id})),
        Err(CoordinatorError::Invalid(why)) => error(StatusCode::UNPROCESSABLE_ENTITY, why),
        // Not an allowed registry, or not a valid reference: nothing was stored or contacted.
        Err(CoordinatorError::Registry(e)) if e.kind() == strata_scanner::ErrorKind::Invalid => {
            metrics::counter!("strata_registry_refused_total", "source" => "harbor").increment(1);
            error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

pub async fn report(
    State(adapter): State<Arc<Adapter>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = adapter.unauthorized(&headers) {
        return refused;
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let wanted = match negotiate(accept, query.get("sbom_media_type").map(String::as_str)) {
        Ok(w) => w,
        Err(Unwanted::BadRequest(why)) => return error(StatusCode::BAD_REQUEST, why),
        Err(Unwanted::NotProduced(why)) => return error(StatusCode::NOT_IMPLEMENTED, why),
    };
    let scan = match adapter.runner.store.get(&id).await {
        Ok(s) => s,
        Err(CoordinatorError::NotFound(_)) => {
            return error(StatusCode::NOT_FOUND, format!("no scan request {id}"));
        }
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    match ScanStatus::try_from(scan.status) {
        Ok(ScanStatus::Done | ScanStatus::Partial) => {}
        Ok(ScanStatus::Failed | ScanStatus::Cancelled) | Err(_) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, format!("scan {id} did not complete: {}", scan.error));
        }
        Ok(_) => {
            return (StatusCode::FOUND, [("Refresh-After", REFRESH_AFTER_SECS.to_string())]).into_response();
        }
    }
    let artifact = artifact_of(&scan);
    let generated_at = chrono::DateTime::from_timestamp_millis(scan.updated_unix_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let built = match wanted {
        Wanted::Vulnerabilities { mime } => stored_report(&adapter.runner, &id)
            .await
            .map(|r| (mime, vulnerability_report(&r, &artifact, &generated_at))),
        Wanted::Sbom { format } => stored_report(&adapter.runner, &id)
            .await
            .map(|r| (SBOM_REPORT_MIME, sbom_report(&r, &artifact, format, &generated_at))),
    };
    match built {
        Ok((mime, body)) => respond(StatusCode::OK, mime, &body),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn stored_report(runner: &Runner, id: &str) -> Result<Report> {
    let json = runner.store.get_report(id).await?;
    serde_json::from_slice(&json).map_err(|e| CoordinatorError::Internal(format!("report of scan {id}: {e}")))
}

/// Harbor's artifact as its scan request gave it; for scans Harbor did not request, what the scan knows.
fn artifact_of(scan: &Scan) -> Artifact {
    let label = |key: &str| scan.labels.get(key).cloned().unwrap_or_default();
    let from_reference = || {
        let repository = crate::runner::repository_of(&scan.reference);
        repository.split_once('/').map(|(_, r)| r.to_string()).unwrap_or_else(|| repository.to_string())
    };
    let repository = Some(label(LABELS[0])).filter(|r| !r.is_empty()).unwrap_or_else(from_reference);
    let digest = Some(label(LABELS[1])).filter(|d| !d.is_empty()).unwrap_or_else(|| scan.image_digest.clone());
    Artifact { repository, digest, tag: label(LABELS[2]), mime_type: label(LABELS[3]) }
}

/// `https://core.harbor.domain` → `core.harbor.domain`; `http://10.0.0.5:5000/` → `10.0.0.5:5000`.
fn registry_host(url: &str) -> Result<String, String> {
    let rest = url.trim().strip_prefix("https://").or_else(|| url.trim().strip_prefix("http://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or_default()).unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('@') {
        return Err(format!("registry.url {url:?} is not an http(s) URL of a registry"));
    }
    Ok(host.to_string())
}

/// `Basic base64(user:password)` → the credential; other schemes (a bearer token) are not used.
fn basic_credential(authorization: &str) -> Option<RegistryCredential> {
    let encoded = authorization.trim().strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (username, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(RegistryCredential { username: username.to_string(), password: password.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_urls_and_credentials() {
        assert_eq!(registry_host("https://core.harbor.domain").unwrap(), "core.harbor.domain");
        assert_eq!(registry_host("http://127.0.0.1:5000/").unwrap(), "127.0.0.1:5000");
        assert!(registry_host("core.harbor.domain").is_err());
        assert!(registry_host("https://user:pw@host").is_err());
        assert!(registry_host("").is_err());
        let c = basic_credential("Basic cm9ib3QkeDpzM2NyZXQ=").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("robot$x", "s3cret"));
        assert!(basic_credential("Bearer abc").is_none());
        assert!(basic_credential("Basic !!!").is_none());
        assert_eq!(format!("{c:?}"), "RegistryCredential(<redacted>)");
    }
}
