//! DefectDojo API v2: `POST /api/v2/reimport-scan/` (multipart, `Authorization: Token …`) and a
//! reachability/permission check. Errors say whether a retry can help; the token never appears in one.

use std::time::Duration;

use serde_json::Value;
use strata_proto::v1::{DeliveryDelta, SeverityCounts};

/// DefectDojo's answer bodies can be whole HTML error pages; keep enough to diagnose, not megabytes.
const BODY_LIMIT: usize = 4000;

/// The API key. `Debug` and `Display` never print it.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    pub fn new(token: String) -> Token {
        Token(token.trim().to_string())
    }

    /// From `STRATA_DEFECTDOJO_TOKEN_FILE` (preferred) or `STRATA_DEFECTDOJO_TOKEN`.
    pub fn from_env() -> Result<Token, DefectDojoError> {
        if let Some(path) = std::env::var_os("STRATA_DEFECTDOJO_TOKEN_FILE").filter(|p| !p.is_empty()) {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                DefectDojoError::Config(format!("reading STRATA_DEFECTDOJO_TOKEN_FILE {}: {e}", path.to_string_lossy()))
            })?;
            return Ok(Token::new(text));
        }
        match std::env::var("STRATA_DEFECTDOJO_TOKEN") {
            Ok(t) if !t.trim().is_empty() => Ok(Token::new(t)),
            _ => Err(DefectDojoError::Config(
                "no DefectDojo API key: set STRATA_DEFECTDOJO_TOKEN_FILE or STRATA_DEFECTDOJO_TOKEN".into(),
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DefectDojoError {
    /// Connection refused or reset, DNS, TLS, timeout: retryable.
    #[error("DefectDojo at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// 5xx or 429: retryable, after `retry_after` when DefectDojo said so.
    #[error("DefectDojo answered {status}: {body}")]
    Unavailable { status: u16, body: String, retry_after: Option<Duration> },
    /// A 400 "Product with this Name already exists.": a concurrent upload created the product (type) a
    /// moment after this one looked for it (DefectDojo checks, then creates). Retryable: it exists now.
    #[error("DefectDojo lost a race with a concurrent upload (400): {body}")]
    Raced { body: String },
    /// Any other non-2xx: retrying the same upload cannot help. `body` is DefectDojo's explanation.
    #[error("DefectDojo refused the upload ({status}): {body}")]
    Rejected { status: u16, body: String },
    /// Strata refused to send: DefectDojo would silently drop findings or fail the import.
    #[error("the report is not importable into DefectDojo: {0}")]
    InvalidReport(String),
    #[error("DefectDojo configuration: {0}")]
    Config(String),
    /// A name DefectDojo cannot store (it would answer 500 and keep half of it): never retried.
    #[error("DefectDojo cannot take this upload: {0}")]
    TooLong(String),
}

impl DefectDojoError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            DefectDojoError::Unreachable { .. } | DefectDojoError::Unavailable { .. } | DefectDojoError::Raced { .. }
        )
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DefectDojoError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// One `reimport-scan` request: the form fields besides `file`, which travels separately (the outbox
/// stores it apart from the metadata).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Upload {
    pub names: super::Names,
    /// `YYYY-MM-DD`, the day the scan finished.
    pub scan_date: String,
    pub minimum_severity: String,
    /// `version` and `build_id`: the image's manifest digest.
    pub image_digest: String,
    pub tags: Vec<String>,
    pub dedup_sync: bool,
    /// The test title before a split (`test_title` then adds ` | <target>`), and every title this scan
    /// delivers to: DefectDojo tests under `base_title` that are not among them are orphans to close.
    #[serde(default)]
    pub base_title: String,
    #[serde(default)]
    pub titles: Vec<String>,
}

impl Upload {
    /// The form fields, in a fixed order (also what the "unchanged upload" hash covers, minus `scan_date`).
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("scan_type", "Trivy Scan".to_string()),
            ("auto_create_context", "true".to_string()),
            ("product_type_name", self.names.product_type.clone()),
            ("product_name", self.names.product.clone()),
            ("engagement_name", self.names.engagement.clone()),
            ("test_title", self.names.test_title.clone()),
            ("close_old_findings", "true".to_string()),
            ("minimum_severity", self.minimum_severity.clone()),
            ("version", self.image_digest.clone()),
            ("build_id", self.image_digest.clone()),
        ];
        if let Some(date) = sendable_scan_date(&self.scan_date, chrono::Utc::now().date_naive()) {
            fields.push(("scan_date", date));
        }
        // DefectDojo reads `tags` as a list: one field per tag.
        fields.extend(self.tags.iter().map(|t| ("tags", t.clone())));
        if let Some(service) = &self.names.service {
            fields.push(("service", service.clone()));
        }
        if self.dedup_sync {
            fields.push(("deduplication_execution_mode", "sync".to_string()));
        }
        fields
    }
}

/// The `scan_date` to send, if any. DefectDojo refuses a date after its own *local* date (its
/// `TIME_ZONE`), which is behind UTC west of Greenwich. Its local date is never before yesterday's UTC
/// date (no time zone is more than a day behind UTC), so a scan of yesterday or earlier — a delivery held
/// up by an outage — keeps its date; a scan of today is sent without one and DefectDojo dates it today in
/// its own time zone.
pub fn sendable_scan_date(scan_date: &str, today_utc: chrono::NaiveDate) -> Option<String> {
    let date = chrono::NaiveDate::parse_from_str(scan_date, "%Y-%m-%d").ok()?;
    (date < today_utc).then(|| scan_date.to_string())
}

/// What a 201 says.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportResult {
    pub test_id: i64,
    pub engagement_id: i64,
    pub product_id: i64,
    pub product_type_id: i64,
    pub delta: Delta,
    /// The upload found no test and created one (DefectDojo ran it as an import).
    #[serde(default)]
    pub created_test: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delta {
    pub created: Counts,
    pub closed: Counts,
    pub reactivated: Counts,
    pub untouched: Counts,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
    pub info: u32,
    pub total: u32,
}

impl Counts {
    /// DefectDojo gives, per severity, either a number or an object of counts with a `total`.
    fn parse(v: Option<&Value>) -> Counts {
        let get = |key: &str| -> u32 {
            let Some(x) = v.and_then(|v| v.get(key)) else { return 0 };
            x.as_u64().or_else(|| x.get("total").and_then(Value::as_u64)).unwrap_or(0) as u32
        };
        Counts {
            critical: get("critical"),
            high: get("high"),
            medium: get("medium"),
            low: get("low"),
            info: get("info"),
            total: get("total"),
        }
    }

    pub fn to_proto(self) -> SeverityCounts {
        SeverityCounts {
            critical: self.critical,
            high: self.high,
            medium: self.medium,
            low: self.low,
            info: self.info,
            total: self.total,
        }
    }
}

impl Delta {
    pub fn to_proto(&self) -> DeliveryDelta {
        DeliveryDelta {
            created: Some(self.created.to_proto()),
            closed: Some(self.closed.to_proto()),
            reactivated: Some(self.reactivated.to_proto()),
            untouched: Some(self.untouched.to_proto()),
        }
    }
}

impl ImportResult {
    /// Lenient: the import happened once DefectDojo said 201, whatever the body holds.
    pub fn parse(body: &Value) -> ImportResult {
        let id = |k: &str| body.get(k).and_then(Value::as_i64).unwrap_or(0);
        let statistics = body.get("statistics");
        let delta = statistics.and_then(|s| s.get("delta"));
        // The first upload of a test is an import: no delta, and everything in `after` was created.
        let created = match delta {
            Some(d) => d.get("created"),
            None => statistics.and_then(|s| s.get("after")),
        };
        ImportResult {
            test_id: id("test_id").max(id("test")),
            engagement_id: id("engagement_id"),
            product_id: id("product_id"),
            product_type_id: id("product_type_id"),
            // A reimport into an existing test always reports `before`; an import never does.
            created_test: statistics.is_some_and(|s| s.get("before").is_none() && s.get("delta").is_none()),
            delta: Delta {
                created: Counts::parse(created),
                closed: Counts::parse(delta.and_then(|d| d.get("closed"))),
                reactivated: Counts::parse(delta.and_then(|d| d.get("reactivated"))),
                untouched: Counts::parse(delta.and_then(|d| d.get("untouched"))),
            },
        }
    }
}

/// What `check` found.
#[derive(Debug)]
pub struct CheckOutcome {
    pub products_visible: u64,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Token,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).field("token", &self.token).finish()
    }
}

impl Client {
    pub fn new(base: &str, token: Token, timeout: Duration) -> Result<Client, DefectDojoError> {
        // reqwest is built without a default crypto provider so that only ring is linked.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| DefectDojoError::Config(format!("HTTP client: {e}")))?;
        Ok(Client { http, base: base.trim_end_matches('/').to_string(), token })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn auth(&self) -> String {
        format!("Token {}", self.token.0)
    }

    /// `request` with the key, asking for JSON; a transport failure is `Unreachable`.
    async fn call(&self, request: reqwest::RequestBuilder, url: &str) -> Result<reqwest::Response, DefectDojoError> {
        let request = request.header("Authorization", self.auth()).header("Accept", "application/json");
        request.send().await.map_err(|e| self.unreachable(url, &e))
    }

    /// Belt and braces: no error text may carry the key, whatever a lower layer put in it.
    fn redact(&self, text: &str) -> String {
        if self.token.0.is_empty() { text.to_string() } else { text.replace(&self.token.0, "<redacted>") }
    }

    /// Validates `file` as DefectDojo's Trivy importer reads it, then uploads it into the test DefectDojo
    /// picks by the names (its newest test of that title), creating it when there is none.
    pub async fn reimport(&self, upload: &Upload, file: &[u8]) -> Result<ImportResult, DefectDojoError> {
        self.reimport_into(None, upload, file).await
    }

    /// As [`Client::reimport`], into the test `test_id` when given (it must belong to the named
    /// engagement: DefectDojo refuses inconsistent identifiers).
    pub async fn reimport_into(
        &self,
        test_id: Option<i64>,
        upload: &Upload,
        file: &[u8],
    ) -> Result<ImportResult, DefectDojoError> {
        validate(file)?;
        let url = format!("{}/api/v2/reimport-scan/", self.base);
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in upload.fields() {
            form = form.text(name, value);
        }
        if let Some(id) = test_id {
            form = form.text("test", id.to_string());
        }
        let part = reqwest::multipart::Part::bytes(file.to_vec())
            .file_name("strata-trivy.json")
            .mime_str("application/json")
            .map_err(|e| DefectDojoError::Config(e.to_string()))?;
        form = form.part("file", part);
        let response = self.call(self.http.post(&url).multipart(form), &url).await?;
        let (_, body) = self.read(response, &url).await.map_err(|e| match e {
            DefectDojoError::Rejected { status: 400, body } if body.contains("with this Name already exists") => {
                DefectDojoError::Raced { body }
            }
            other => other,
        })?;
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        Ok(ImportResult::parse(&json))
    }

    /// Reachability, the key and read permission: `GET /api/v2/products/?limit=1`.
    pub async fn check(&self) -> Result<CheckOutcome, DefectDojoError> {
        let url = format!("{}/api/v2/products/?limit=1", self.base);
        let response = self.call(self.http.get(&url), &url).await?;
        let (_, body) = self.read(response, &url).await?;
        let json: Value = serde_json::from_str(&body).map_err(|_| DefectDojoError::Rejected {
            status: 200,
            body: format!("{url} did not answer JSON: is this DefectDojo's API v2? {}", truncate(&body)),
        })?;
        Ok(CheckOutcome { products_visible: json.get("count").and_then(Value::as_u64).unwrap_or(0) })
    }

    /// `GET {base}{path}` with `query`: the JSON body of a 2xx, `None` for a 404.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Option<Value>, DefectDojoError> {
        let url = format!("{}{path}", self.base);
        let response = self.call(self.http.get(&url).query(query), &url).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let (_, body) = self.read(response, &url).await?;
        serde_json::from_str(&body).map(Some).map_err(|_| DefectDojoError::Rejected {
            status: 200,
            body: format!("{url} did not answer JSON: {}", truncate(&body)),
        })
    }

    /// Every item of a paginated list (`limit`/`offset`), at most `max_items`: more is an error, never a
    /// silently partial answer.
    pub async fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
        max_items: usize,
    ) -> Result<Vec<Value>, DefectDojoError> {
        const PAGE: usize = 250;
        let mut out: Vec<Value> = Vec::new();
        loop {
            let mut q = query.to_vec();
            q.push(("limit", PAGE.to_string()));
            q.push(("offset", out.len().to_string()));
            let page = self.get(path, &q).await?.unwrap_or(Value::Null);
            let results = page["results"].as_array().cloned().unwrap_or_default();
            let done = results.is_empty() || page["next"].is_null();
            out.extend(results);
            if out.len() > max_items {
                return Err(DefectDojoError::Rejected {
                    status: 200,
                    body: format!("{path} lists more than {max_items} items; refusing to read further"),
                });
            }
            if done {
                return Ok(out);
            }
        }
    }

    /// `POST` or `PATCH {base}{path}` with a JSON body: the JSON answer of a 2xx (`Null` when it is not JSON).
    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Result<Value, DefectDojoError> {
        let url = format!("{}{path}", self.base);
        let response = self.call(self.http.request(method, &url).json(body), &url).await?;
        let (_, body) = self.read(response, &url).await?;
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// `DELETE {base}{path}`: `false` when it was already gone (404).
    pub async fn delete(&self, path: &str) -> Result<bool, DefectDojoError> {
        let url = format!("{}{path}", self.base);
        let response = self.call(self.http.delete(&url), &url).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        self.read(response, &url).await?;
        Ok(true)
    }

    /// Whether DefectDojo still has the test (someone may have deleted it since the last delivery).
    pub async fn test_exists(&self, test_id: i64) -> Result<bool, DefectDojoError> {
        Ok(self.get(&format!("/api/v2/tests/{test_id}/"), &[]).await?.is_some())
    }

    fn unreachable(&self, url: &str, e: &reqwest::Error) -> DefectDojoError {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        if e.is_timeout() {
            reason = format!("timed out ({reason})");
        }
        DefectDojoError::Unreachable { url: url.to_string(), reason: self.redact(&reason) }
    }

    /// The body of a 2xx, else the classified error.
    async fn read(
        &self,
        response: reqwest::Response,
        url: &str,
    ) -> Result<(reqwest::StatusCode, String), DefectDojoError> {
        let status = response.status();
        let retry_after =
            response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let body = response.text().await.map_err(|e| self.unreachable(url, &e))?;
        let body = self.redact(&body);
        if status.is_success() {
            return Ok((status, body));
        }
        let code = status.as_u16();
        if status.is_server_error() || code == 429 {
            return Err(DefectDojoError::Unavailable { status: code, body: truncate(&body), retry_after });
        }
        Err(DefectDojoError::Rejected { status: code, body: truncate(&body) })
    }
}

fn truncate(body: &str) -> String {
    let body = body.trim();
    if body.len() <= BODY_LIMIT {
        return body.to_string();
    }
    let mut end = BODY_LIMIT;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &body[..end], body.len())
}

/// `Retry-After: <seconds>` or an HTTP date (the registry client's parser: one for the project).
fn parse_retry_after(value: &str) -> Option<Duration> {
    strata_registry::retry_after(value)
}

/// The rules DefectDojo's Trivy importer applies silently, checked on the exact bytes that are sent.
pub fn validate(file: &[u8]) -> Result<(), DefectDojoError> {
    let value: Value =
        serde_json::from_slice(file).map_err(|e| DefectDojoError::InvalidReport(format!("not JSON: {e}")))?;
    strata_scanner::report::trivy::validate(&value).map_err(|errors| {
        let shown: Vec<&str> = errors.iter().take(20).map(String::as_str).collect();
        DefectDojoError::InvalidReport(format!("{} problem(s): {}", errors.len(), shown.join("; ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let client =
            Client::new("http://127.0.0.1:1", Token::new("s3cr3t-key".into()), Duration::from_secs(1)).unwrap();
        assert!(!format!("{client:?}").contains("s3cr3t-key"));
        assert_eq!(client.redact("Token s3cr3t-key"), "Token <redacted>");
    }

    #[test]
    fn scan_date_is_sent_only_when_no_time_zone_can_be_before_it() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        assert_eq!(sendable_scan_date("2026-12-04", today), None, "today: DefectDojo dates it");
        assert_eq!(sendable_scan_date("2026-12-03", today).as_deref(), Some("2026-12-03"));
        assert_eq!(sendable_scan_date("garbage", today), None);
    }

    #[test]
    fn statistics_and_retry_after() {
        let body = serde_json::json!({"test_id": 7, "engagement_id": 3, "statistics": {"delta": {
            "created": {"high": {"active": 2, "total": 2}, "total": {"total": 2}},
            "closed": {"low": 1, "total": 1}}}});
        let r = ImportResult::parse(&body);
        assert_eq!((r.test_id, r.delta.created.high, r.delta.created.total, r.delta.closed.low), (7, 2, 2, 1));
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
