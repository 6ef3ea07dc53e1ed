//! A strict stand-in for DefectDojo's API v2, as observed on a real DefectDojo 3.2.0 (issue 6): the
//! `reimport-scan` endpoint with `auto_create_context`, Trivy parsing as DefectDojo does it (dropping what
//! it cannot read), test selection by product / engagement / test title, `close_old_findings`, and the
//! finding hash that decides what is created, closed, reactivated or untouched. It records every accepted
//! import, and can misbehave on request: error statuses, 429 with `Retry-After`, being down, being slow.
//!
//! Plain `std::net` and threads: one thread per connection, `Connection: close` on every answer.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::Digest as _;

/// Which fields make a finding's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashMode {
    /// DefectDojo's default for `Trivy Scan`: title, severity, vulnerability ids, cwe, description.
    Default,
    /// `DD_HASHCODE_FIELDS_PER_SCANNER` = vulnerability_ids, component_name, component_version, file_path.
    Recommended,
}

/// What the next reimport requests get instead of being processed (in order, one each).
#[derive(Debug, Clone)]
pub enum Fault {
    Status(u16),
    TooManyRequests { retry_after_secs: u64 },
}

/// One accepted upload.
#[derive(Debug, Clone)]
pub struct Import {
    pub at: Instant,
    pub fields: BTreeMap<String, Vec<String>>,
    pub file: Vec<u8>,
    pub test_id: i64,
    /// `false` for the first upload of a test (DefectDojo runs it as an import).
    pub reimport: bool,
    /// `statistics.delta` as answered (`Null` for an import).
    pub delta: Value,
}

impl Import {
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).and_then(|v| v.first()).map_or("", String::as_str)
    }
}

/// Every request to `reimport-scan`, accepted or not.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: Instant,
    pub status: u16,
    pub product: String,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub id: i64,
    pub title: String,
    pub severity: String,
    pub active: bool,
}

#[derive(Debug, Default)]
struct Test {
    id: i64,
    /// Product, engagement, title: several tests may share them (concurrent first uploads).
    key: (String, String, String),
    engagement_id: i64,
    product_id: i64,
    product_type_id: i64,
    /// In creation order, with their hashes.
    findings: Vec<(String, Finding)>,
}

struct State {
    token: String,
    mode: HashMode,
    /// By product name (`""`: any request).
    faults: BTreeMap<String, VecDeque<Fault>>,
    delay: Duration,
    down: bool,
    next_id: i64,
    product_types: BTreeMap<String, i64>,
    products: BTreeMap<String, i64>,
    engagements: BTreeMap<(String, String), i64>,
    /// By id.
    tests: BTreeMap<i64, Test>,
    /// How long an upload works between reading the test's findings and writing its own (see
    /// [`MockDefectDojo::set_race_window`]).
    race_window: Duration,
    imports: Vec<Import>,
    attempts: Vec<Attempt>,
    in_flight: usize,
}

pub struct MockDefectDojo {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl MockDefectDojo {
    pub fn start(token: &str, mode: HashMode) -> MockDefectDojo {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock DefectDojo");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            token: token.to_string(),
            mode,
            faults: BTreeMap::new(),
            delay: Duration::ZERO,
            down: false,
            next_id: 1,
            product_types: BTreeMap::new(),
            products: BTreeMap::new(),
            engagements: BTreeMap::new(),
            tests: BTreeMap::new(),
            race_window: Duration::ZERO,
            imports: Vec::new(),
            attempts: Vec::new(),
            in_flight: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        std::thread::spawn(move || accept_loop(Some(listener), port, s, st));
        MockDefectDojo { port, state, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Faults for uploads to `product` (`""`: to any product).
    pub fn push_faults(&self, product: &str, faults: impl IntoIterator<Item = Fault>) {
        self.lock().faults.entry(product.to_string()).or_default().extend(faults);
    }

    /// Every request waits this long before it is processed; one whose client hung up in the meantime is
    /// dropped unprocessed (a request still queued in front of the application when the client leaves).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Down: the port refuses connections. Up again: it listens on the same port.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    pub fn imports(&self) -> Vec<Import> {
        self.lock().imports.clone()
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        self.lock().attempts.clone()
    }

    /// Reimport requests being processed now (in the delay).
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// The findings of the tests of that title, in creation order, with their hashes.
    pub fn findings(&self, product: &str, engagement: &str, title: &str) -> Vec<(String, Finding)> {
        let key = (product.to_string(), engagement.to_string(), title.to_string());
        self.lock().tests.values().filter(|t| t.key == key).flat_map(|t| t.findings.clone()).collect()
    }

    /// As DefectDojo, which serialises no part of a reimport: an upload finds its test and reads the
    /// test's findings, works for `window` without the lock, then creates its test if it found none and
    /// the findings it did not find. Uploads overlapping in the window create a test or a finding twice.
    pub fn set_race_window(&self, window: Duration) {
        self.lock().race_window = window;
    }
}

impl Drop for MockDefectDojo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn accept_loop(mut listener: Option<TcpListener>, port: u16, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let down = state.lock().map(|s| s.down).unwrap_or(false);
        match (&listener, down) {
            (Some(_), true) => listener = None,
            (None, false) => {
                listener = TcpListener::bind(("127.0.0.1", port)).ok();
                if let Some(l) = &listener {
                    let _ = l.set_nonblocking(true);
                }
            }
            _ => {}
        }
        if let Some(l) = &listener {
            let _ = l.set_nonblocking(true);
            if let Ok((stream, _)) = l.accept() {
                let state = state.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_nonblocking(false);
                    handle(stream, &state);
                });
                continue;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buf[head_end + 4..].to_vec();
    if let Some(len) = headers.get("content-length").and_then(|l| l.parse::<usize>().ok()) {
        while body.len() < len {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        body.truncate(len);
    } else if headers.get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        body = read_chunked(stream, body)?;
    }
    Some(Request { method, path, headers, body })
}

fn read_chunked(stream: &mut TcpStream, mut raw: Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 65536];
    loop {
        if let Some(body) = dechunk(&raw) {
            return Some(body);
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&chunk[..n]);
    }
}

/// The body when `raw` holds every chunk up to the terminating zero-length one.
pub(crate) fn dechunk(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let line_end = raw[at..].windows(2).position(|w| w == b"\r\n")? + at;
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[at..line_end]).trim(), 16).ok()?;
        let start = line_end + 2;
        if size == 0 {
            return Some(out);
        }
        if raw.len() < start + size + 2 {
            return None;
        }
        out.extend_from_slice(&raw[start..start + size]);
        at = start + size + 2;
    }
}

fn respond(stream: &mut TcpStream, status: u16, extra: &[(&str, String)], body: &Value) {
    let text = body.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        text.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}

fn handle(mut stream: TcpStream, state: &Arc<Mutex<State>>) {
    let Some(request) = read_request(&mut stream) else { return };
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let token = lock().token.clone();
    // DefectDojo answers 403, not 401, for a missing or wrong key.
    match request.headers.get("authorization").map(String::as_str) {
        None => {
            return respond(&mut stream, 403, &[], &json!({"detail": "Authentication credentials were not provided."}));
        }
        Some(h) if h != format!("Token {token}") => {
            return respond(&mut stream, 403, &[], &json!({"detail": "Invalid token."}));
        }
        _ => {}
    }
    match (request.method.as_str(), request.path.split('?').next().unwrap_or_default()) {
        ("POST", "/api/v2/reimport-scan/") => reimport(stream, state, request),
        (method @ ("GET" | "DELETE"), _) => {
            let (status, body) = read_api(&mut lock(), method, &request.path);
            respond(&mut stream, status, &[], &body)
        }
        (method @ ("POST" | "PATCH"), path) => {
            let (status, body) = edit_api(&mut lock(), method, path, &request.body);
            respond(&mut stream, status, &[], &body)
        }
        _ => respond(&mut stream, 404, &[], &json!({"detail": "Not found."})),
    }
}

/// The few reads (and the test deletion) a client makes besides importing, answered from the state.
fn read_api(s: &mut State, method: &str, path: &str) -> (u16, Value) {
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |k: &str| -> Option<String> {
        query.split('&').filter_map(|p| p.split_once('=')).find(|(key, _)| *key == k).map(|(_, v)| percent_decode(v))
    };
    let list = |items: Vec<Value>| (200, json!({"count": items.len(), "next": null, "results": items}));
    let test_json =
        |t: &Test| json!({"id": t.id, "title": t.key.2, "engagement": t.engagement_id, "scan_type": "Trivy Scan"});
    let not_found = (404, json!({"detail": "No Test matches the given query."}));
    match route {
        "/api/v2/products/" => list(
            s.products
                .iter()
                .filter(|(name, _)| param("name_exact").is_none_or(|n| n.eq_ignore_ascii_case(name)))
                .map(|(name, id)| json!({"id": id, "name": name}))
                .collect(),
        ),
        "/api/v2/engagements/" => list(
            s.engagements
                .iter()
                .filter(|((product, _), _)| {
                    param("product").is_none_or(|p| s.products.get(product).map(i64::to_string) == Some(p))
                })
                .map(|((_, name), id)| json!({"id": id, "name": name}))
                .collect(),
        ),
        "/api/v2/tests/" => list(
            s.tests
                .iter()
                .filter(|(_, t)| param("engagement").is_none_or(|e| e == t.engagement_id.to_string()))
                .filter(|(_, t)| param("title").is_none_or(|title| title == t.key.2))
                .map(|(_, t)| test_json(t))
                .collect(),
        ),
        "/api/v2/findings/" => {
            let test = param("test");
            let active_only = param("active").as_deref() == Some("true");
            list(
                s.tests
                    .values()
                    .filter(|t| test.as_ref().is_none_or(|id| *id == t.id.to_string()))
                    .flat_map(|t| t.findings.iter().map(move |(h, f)| (t.id, h, f)))
                    .filter(|(_, _, f)| !active_only || f.active)
                    .map(|(test, h, f)| json!({"id": f.id, "test": test, "hash_code": h, "title": f.title, "severity": f.severity, "active": f.active}))
                    .collect(),
            )
        }
        _ => {
            let Some(id) =
                route.strip_prefix("/api/v2/tests/").and_then(|r| r.trim_end_matches('/').parse::<i64>().ok())
            else {
                return (404, json!({"detail": "Not found."}));
            };
            if method == "DELETE" {
                return match s.tests.remove(&id) {
                    Some(_) => (204, Value::Null),
                    None => not_found,
                };
            }
            match s.tests.get(&id) {
                Some(t) => (200, test_json(t)),
                None => not_found,
            }
        }
    }
}

/// Closing a finding (`POST /api/v2/findings/{id}/close/`) and renaming a test (`PATCH /api/v2/tests/{id}/`).
fn edit_api(s: &mut State, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let not_found = (404, json!({"detail": "Not found."}));
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let id_in = |prefix: &str, suffix: &str| -> Option<i64> {
        path.strip_prefix(prefix)?.strip_suffix(suffix)?.trim_end_matches('/').parse().ok()
    };
    match (method, id_in("/api/v2/findings/", "close/"), id_in("/api/v2/tests/", "")) {
        ("POST", Some(id), _) => {
            let Some(f) = s.tests.values_mut().flat_map(|t| t.findings.iter_mut()).map(|(_, f)| f).find(|f| f.id == id)
            else {
                return not_found;
            };
            f.active = false;
            (200, json!({"is_mitigated": true, "duplicate": body["duplicate"].as_bool().unwrap_or(false)}))
        }
        ("PATCH", _, Some(id)) => match (s.tests.get_mut(&id), body["title"].as_str()) {
            (Some(t), Some(title)) => {
                t.key.2 = title.to_string();
                (200, json!({"id": id, "title": title}))
            }
            (Some(_), None) => (400, json!({"title": ["This mock renames only."]})),
            (None, _) => not_found,
        },
        _ => not_found,
    }
}

fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&v[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reimport(mut stream: TcpStream, state: &Arc<Mutex<State>>, request: Request) {
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let delay = {
        let mut s = lock();
        s.in_flight += 1;
        s.delay
    };
    if !delay.is_zero() {
        std::thread::sleep(delay);
        if client_gone(&stream) {
            lock().in_flight -= 1;
            return;
        }
    }
    let (status, extra, body, product) = {
        let mut s = lock();
        let (product, fault) = fault_for(&mut s, &request);
        let (status, extra, body) = match fault {
            Some(fault) => fault_answer(fault),
            None => {
                let read = prepare(&mut s, &request);
                let window = s.race_window;
                drop(s);
                match read {
                    Err(answer) => answer,
                    Ok(read) => {
                        std::thread::sleep(window);
                        apply(&mut lock(), read)
                    }
                }
            }
        };
        (status, extra, body, product)
    };
    {
        let mut s = lock();
        s.in_flight -= 1;
        s.attempts.push(Attempt { at: Instant::now(), status, product });
    }
    respond(&mut stream, status, &extra, &body);
}

fn client_gone(stream: &TcpStream) -> bool {
    let _ = stream.set_nonblocking(true);
    let mut byte = [0u8; 1];
    let gone = matches!(stream.peek(&mut byte), Ok(0))
        || matches!(stream.peek(&mut byte), Err(e) if e.kind() != std::io::ErrorKind::WouldBlock);
    let _ = stream.set_nonblocking(false);
    gone
}

type Answer = (u16, Vec<(&'static str, String)>, Value);

/// The product the request names (best effort) and the fault queued for it, if any.
fn fault_for(s: &mut State, request: &Request) -> (String, Option<Fault>) {
    let boundary = request
        .headers
        .get("content-type")
        .and_then(|c| c.split(';').find_map(|p| p.trim().strip_prefix("boundary=")))
        .map(|b| b.trim_matches('"').to_string())
        .unwrap_or_default();
    let (fields, _) = parse_multipart(&request.body, &boundary);
    let product = fields.get("product_name").and_then(|v| v.first()).cloned().unwrap_or_default();
    let fault = [product.as_str(), ""].iter().find_map(|k| s.faults.get_mut(*k).and_then(VecDeque::pop_front));
    (product, fault)
}

fn fault_answer(fault: Fault) -> Answer {
    match fault {
        Fault::Status(code) => (code, vec![], json!({"detail": "Server Error (500)"})),
        Fault::TooManyRequests { retry_after_secs } => (
            429,
            vec![("Retry-After", retry_after_secs.to_string())],
            json!({"detail": format!("Request was throttled. Expected available in {retry_after_secs} seconds.")}),
        ),
    }
}

/// The advertisement DefectDojo 3.2.0 adds to its error bodies.
const PRO: &str = "Pro comes with support. Try today for free or email us at hello@defectdojo.com";

/// What an upload read before it writes: its test (none: it creates one) and how many of the test's
/// findings it saw.
struct Seen {
    fields: BTreeMap<String, Vec<String>>,
    file: Vec<u8>,
    found: Vec<(String, Finding)>,
    key: (String, String, String),
    ids: (i64, i64, i64),
    test: Option<i64>,
    seen: usize,
}

fn prepare(s: &mut State, request: &Request) -> Result<Seen, Answer> {
    let content_type = request.headers.get("content-type").cloned().unwrap_or_default();
    let Some(boundary) = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| rest.split(';').find_map(|p| p.trim().strip_prefix("boundary=")))
        .map(|b| b.trim_matches('"').to_string())
    else {
        return Err((415, vec![], json!({"detail": format!("Unsupported media type \"{content_type}\" in request.")})));
    };
    let (fields, file) = parse_multipart(&request.body, &boundary);
    let field = |k: &str| fields.get(k).and_then(|v| v.first()).cloned().unwrap_or_default();
    let bad = |key: &str, msg: &str| (400, vec![], json!({key: [msg]}));
    match fields.get("scan_type").and_then(|v| v.first()) {
        None => return Err(bad("scan_type", "This field is required.")),
        Some(t) if t != "Trivy Scan" => return Err(bad("scan_type", &format!("\"{t}\" is not a valid choice."))),
        _ => {}
    }
    let Some(file) = file else { return Err(bad("file", "No file was submitted.")) };
    let Ok(report) = serde_json::from_slice::<Value>(&file) else {
        return Err(bad("file", "Invalid JSON: the report cannot be parsed."));
    };
    if report.get("SchemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(bad("file", "Schema version 2 is the only supported version."));
    }
    for required in ["product_name", "engagement_name", "product_type_name"] {
        if field(required).is_empty() {
            return Err(bad(required, "This field is required when auto_create_context is true."));
        }
    }
    if field("auto_create_context") != "true" {
        return Err(bad("non_field_errors", "auto_create_context is required by this mock"));
    }
    let (product_type, product, engagement) =
        (field("product_type_name"), field("product_name"), field("engagement_name"));
    let title = match field("test_title") {
        t if t.is_empty() => "Trivy Scan".to_string(),
        t => t,
    };
    // DefectDojo compares with its local date (here UTC); a later date is refused.
    let today = today_utc();
    let scan_date = field("scan_date");
    if !scan_date.is_empty() && scan_date > today {
        return Err((
            400,
            vec![],
            json!({"scan_date": ["The scan_date cannot be in the future!"], "message": "The scan_date cannot be in the future!"}),
        ));
    }
    let min = severity_rank(&field("minimum_severity"));
    let found: Vec<(String, Finding)> = parse_trivy(&report, s.mode, &field("service"))
        .into_iter()
        .filter(|(_, f)| severity_rank(&f.severity) >= min)
        .collect();

    // As DefectDojo 3.2.0 does: a product type or product name over 255 characters is a 400 naming the
    // limit; a test title over 255 (or an engagement name over 300) fails with a 500 after the product
    // type, product and engagement were created.
    for name in [&product_type, &product] {
        let n = name.chars().count();
        if n > 255 {
            let message = format!("{{'name': ['Ensure this value has at most 255 characters (it has {n}).']}}");
            return Err((400, vec![], json!({"message": message, "pro": [PRO]})));
        }
    }
    let pt_id = get_or_create(s, |s| &mut s.product_types, product_type.clone());
    if engagement.chars().count() > 300 || title.chars().count() > 255 {
        get_or_create(s, |s| &mut s.products, product.clone());
        get_or_create(s, |s| &mut s.engagements, (product.clone(), engagement.clone()));
        return Err((500, vec![], json!({"message": "Internal server error, check logs for details", "pro": [PRO]})));
    }
    let product_id = get_or_create(s, |s| &mut s.products, product.clone());
    let engagement_id = get_or_create(s, |s| &mut s.engagements, (product.clone(), engagement.clone()));
    let key = (product.clone(), engagement.clone(), title.clone());
    // DefectDojo takes the test given by id, else the newest of that title in the engagement.
    let given = field("test")
        .parse::<i64>()
        .ok()
        .filter(|id| s.tests.get(id).is_some_and(|t| t.engagement_id == engagement_id));
    let test = given.or_else(|| s.tests.values().filter(|t| t.key == key).map(|t| t.id).max());
    let seen = test.and_then(|id| s.tests.get(&id)).map_or(0, |t| t.findings.len());
    Ok(Seen { fields, file, found, key, ids: (pt_id, product_id, engagement_id), test, seen })
}

/// Writes what `read` found missing: its test, when it found none, and the findings it did not see.
fn apply(s: &mut State, read: Seen) -> Answer {
    let Seen { fields, file, found, key, ids: (pt_id, product_id, engagement_id), test, seen } = read;
    let field = |k: &str| fields.get(k).and_then(|v| v.first()).cloned().unwrap_or_default();
    let reimport = test.is_some();
    let id = match test {
        Some(id) => id,
        None => {
            let id = new_id(s);
            s.tests
                .insert(id, Test { id, key, engagement_id, product_id, product_type_id: pt_id, findings: Vec::new() });
            id
        }
    };
    let mut next_id = s.next_id;
    let Some(test) = s.tests.get_mut(&id) else {
        // Deleted while this upload worked on it: DefectDojo fails on the foreign key.
        return (500, vec![], json!({"message": "Internal server error, check logs for details", "pro": [PRO]}));
    };
    let before = counts(test.findings.iter().map(|(_, f)| f).filter(|f| f.active));
    let close_old = field("close_old_findings") == "true";
    let mut delta: BTreeMap<&str, Vec<Finding>> = BTreeMap::new();
    // Each reported finding matches the first finding of the test with its hash; DefectDojo never
    // updates a matched finding (title, severity stay as first imported). Two reported findings with one
    // hash match the same one, and the test's other finding with that hash counts as gone.
    let existing = seen.min(test.findings.len());
    let mut matched = vec![false; existing];
    let mut create = |test: &mut Test, hash: &String, f: &Finding| {
        next_id += 1;
        test.findings.push((hash.clone(), Finding { id: next_id, ..f.clone() }));
    };
    for (hash, f) in &found {
        if !reimport {
            delta.entry("created").or_default().push(f.clone());
            create(test, hash, f);
            continue;
        }
        match test.findings[..existing].iter().position(|(h, _)| h == hash) {
            Some(i) => {
                matched[i] = true;
                let old = &mut test.findings[i].1;
                delta.entry(if old.active { "untouched" } else { "reactivated" }).or_default().push(old.clone());
                old.active = true;
            }
            None => {
                delta.entry("created").or_default().push(f.clone());
                create(test, hash, f);
            }
        }
    }
    for (i, (_, old)) in test.findings[..existing].iter_mut().enumerate() {
        if old.active && !matched[i] {
            if close_old {
                delta.entry("closed").or_default().push(old.clone());
                old.active = false;
            } else {
                delta.entry("untouched").or_default().push(old.clone());
            }
        }
    }
    let delta_json: Value = ["created", "closed", "reactivated", "untouched"]
        .iter()
        .map(|k| (k.to_string(), counts(delta.get(k).into_iter().flatten())))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let after = counts(test.findings.iter().map(|(_, f)| f).filter(|f| f.active));
    let (test_id, engagement_id, product_id, product_type_id) =
        (test.id, test.engagement_id, test.product_id, test.product_type_id);
    let statistics =
        if reimport { json!({"before": before, "after": after, "delta": delta_json}) } else { json!({"after": after}) };
    let _ = test;
    s.next_id = next_id;
    s.imports.push(Import {
        at: Instant::now(),
        fields: fields.clone(),
        file,
        test_id,
        reimport,
        delta: if reimport { delta_json } else { Value::Null },
    });
    (
        201,
        vec![],
        json!({"test_id": test_id, "test": test_id, "engagement_id": engagement_id, "product_id": product_id,
               "product_type_id": product_type_id, "scan_type": "Trivy Scan", "statistics": statistics}),
    )
}

fn today_utc() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    crate::token::rfc3339(now)[..10].to_string()
}

fn new_id(s: &mut State) -> i64 {
    s.next_id += 1;
    s.next_id
}

fn get_or_create<K: Ord>(s: &mut State, map: impl Fn(&mut State) -> &mut BTreeMap<K, i64>, key: K) -> i64 {
    if let Some(id) = map(s).get(&key) {
        return *id;
    }
    let id = new_id(s);
    map(s).insert(key, id);
    id
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "Critical" => 4,
        "High" => 3,
        "Medium" => 2,
        "Low" => 1,
        _ => 0,
    }
}

/// Per severity `{active, total}` and a `total`, as DefectDojo's statistics give them.
fn counts<'a>(findings: impl Iterator<Item = &'a Finding>) -> Value {
    let mut by: BTreeMap<&str, u64> = ["critical", "high", "medium", "low", "info"].iter().map(|k| (*k, 0)).collect();
    let mut total = 0;
    for f in findings {
        *by.entry(match f.severity.as_str() {
            "Critical" => "critical",
            "High" => "high",
            "Medium" => "medium",
            "Low" => "low",
            _ => "info",
        })
        .or_default() += 1;
        total += 1;
    }
    let mut out = serde_json::Map::new();
    for (k, n) in by {
        out.insert(k.to_string(), json!({"active": n, "total": n}));
    }
    out.insert("total".into(), json!({"active": total, "total": total}));
    out.into()
}

fn parse_multipart(body: &[u8], boundary: &str) -> (BTreeMap<String, Vec<String>>, Option<Vec<u8>>) {
    let delimiter = format!("--{boundary}");
    let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut file = None;
    let positions: Vec<usize> =
        body.windows(delimiter.len()).enumerate().filter(|(_, w)| *w == delimiter.as_bytes()).map(|(i, _)| i).collect();
    for pair in positions.windows(2) {
        let part = &body[pair[0] + delimiter.len()..pair[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let Some(split) = part.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&part[..split]).to_ascii_lowercase();
        let content = &part[split + 4..];
        let name = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name=").map(|n| n.trim_matches('"').to_string()))
            .unwrap_or_default();
        if head.contains("filename=") && name == "file" {
            file = Some(content.to_vec());
        } else {
            fields.entry(name).or_default().push(String::from_utf8_lossy(content).into_owned());
        }
    }
    (fields, file)
}

/// The findings DefectDojo 3.2.0's Trivy parser (`dojo/tools/trivy/parser.py`) makes of a report, in
/// report order, each with its hash under `mode`: vulnerabilities, misconfigurations and secrets. What the
/// parser cannot read it drops silently: a vulnerability without `PkgName`, a `Severity` outside the five,
/// a result without `Target`.
pub fn parse_trivy(report: &Value, mode: HashMode, service: &str) -> Vec<(String, Finding)> {
    let mut out = Vec::new();
    let severity_of = |s: &str| -> Option<&'static str> {
        Some(match s {
            "CRITICAL" => "Critical",
            "HIGH" => "High",
            "MEDIUM" => "Medium",
            "LOW" => "Low",
            "UNKNOWN" => "Info",
            _ => return None,
        })
    };
    for result in report.get("Results").and_then(Value::as_array).into_iter().flatten() {
        let Some(target) = result.get("Target").and_then(Value::as_str) else { continue };
        let kind = result.get("Type").and_then(Value::as_str).unwrap_or_default();
        let class = result.get("Class").and_then(Value::as_str).unwrap_or_default();
        for v in result.get("Vulnerabilities").and_then(Value::as_array).into_iter().flatten() {
            let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let Some(pkg) = v.get("PkgName").and_then(Value::as_str) else { continue };
            let Some(severity) = severity_of(&text("Severity")) else { continue };
            let (id, version) = (text("VulnerabilityID"), text("InstalledVersion"));
            let file_path = match class {
                "os-pkgs" | "lang-pkgs" => v.get("PkgPath").and_then(Value::as_str).unwrap_or(target).to_string(),
                "config" => target.to_string(),
                _ => String::new(),
            };
            let description = format!(
                "{}\n**Target:** {target}\n**Type:** {kind}\n**Fixed version:** {}\n\n{}\n",
                text("Title"),
                text("FixedVersion"),
                text("Description")
            );
            let fields = Fields {
                title: format!("{id} {pkg} {version}"),
                severity,
                vulnerability_id: id.clone(),
                description,
                component_name: pkg.to_string(),
                component_version: version,
                file_path,
                line: String::new(),
            };
            out.push(fields.finding(mode, service));
        }
        for m in result.get("Misconfigurations").and_then(Value::as_array).into_iter().flatten() {
            let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let id = text("ID");
            let avd = m.get("AVDID").and_then(Value::as_str).map_or(id.clone(), str::to_string);
            let title = m.get("Title").and_then(Value::as_str).unwrap_or("Unknown Misconfiguration");
            let severity = severity_of(m.get("Severity").and_then(Value::as_str).unwrap_or("LOW")).unwrap_or("Info");
            let fields = Fields {
                title: format!("{id} - {title}"),
                severity,
                vulnerability_id: avd,
                description: format!(
                    "**Target:** {target}\n**Type:** {}\n\n{}\n{}\n",
                    text("Type"),
                    text("Description"),
                    text("Message")
                ),
                component_name: String::new(),
                component_version: String::new(),
                file_path: target.to_string(),
                line: String::new(),
            };
            out.push(fields.finding(mode, service));
        }
        for secret in result.get("Secrets").and_then(Value::as_array).into_iter().flatten() {
            let text = |k: &str| secret.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            // DefectDojo fails the whole import on a secret severity outside the five; Strata never sends one.
            let Some(severity) = severity_of(&text("Severity")) else { continue };
            let fields = Fields {
                title: format!("Secret detected in {target} - {}", text("Title")),
                severity,
                vulnerability_id: String::new(),
                description: format!(
                    "{}\n**Category:** {}\n**Match:** {}\n",
                    text("Title"),
                    text("Category"),
                    text("Match")
                ),
                component_name: String::new(),
                component_version: String::new(),
                file_path: target.to_string(),
                line: secret.get("StartLine").and_then(Value::as_u64).map(|l| l.to_string()).unwrap_or_default(),
            };
            out.push(fields.finding(mode, service));
        }
    }
    out
}

/// The finding fields DefectDojo can hash.
struct Fields {
    title: String,
    severity: &'static str,
    vulnerability_id: String,
    description: String,
    component_name: String,
    component_version: String,
    file_path: String,
    line: String,
}

impl Fields {
    fn finding(self, mode: HashMode, service: &str) -> (String, Finding) {
        let parts: Vec<&str> = match mode {
            HashMode::Default => {
                vec![&self.title, self.severity, &self.vulnerability_id, "", &self.description]
            }
            HashMode::Recommended => vec![
                &self.title,
                &self.vulnerability_id,
                &self.component_name,
                &self.component_version,
                &self.file_path,
                &self.line,
            ],
        };
        let mut h = sha2::Sha256::new();
        for p in parts.iter().chain([&service]) {
            h.update(p.as_bytes());
            h.update([0u8]);
        }
        let finding = Finding { id: 0, title: self.title, severity: self.severity.to_string(), active: true };
        (hex::encode(h.finalize()), finding)
    }
}

/// The hashes a report's findings get under `mode`.
pub fn finding_hashes(file: &[u8], mode: HashMode) -> BTreeSet<String> {
    serde_json::from_slice::<Value>(file)
        .map(|r| parse_trivy(&r, mode, "").into_iter().map(|(h, _)| h).collect())
        .unwrap_or_default()
}
