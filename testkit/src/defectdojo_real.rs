//! The real DefectDojo 3.2.0 instances `scripts/defectdojo.sh` runs (from `../shared/defectdojo`), for the
//! contract tests: where to find them, and the few API reads a test needs to check what DefectDojo holds.
//!
//! The script writes `/var/tmp/strata-defectdojo.env` (or `$STRATA_TEST_DEFECTDOJO_ENV`). Without it the
//! tests fail and say why; `STRATA_TEST_DEFECTDOJO=skip` (never set by `scripts/test.sh`) skips them on
//! purpose, loudly, for a clone without `../shared`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::defectdojo::HashMode;

pub struct RealDefectDojo {
    pub mode: HashMode,
    url: String,
    token: String,
    dir: PathBuf,
    runner: PathBuf,
}

fn env_file() -> PathBuf {
    std::env::var_os("STRATA_TEST_DEFECTDOJO_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/strata-defectdojo.env"))
}

impl RealDefectDojo {
    /// The instance with `mode`'s hash settings. `None` only when skipping was asked for; otherwise a
    /// missing instance fails the calling test with what to do.
    pub fn get(mode: HashMode) -> Option<RealDefectDojo> {
        if std::env::var("STRATA_TEST_DEFECTDOJO").as_deref() == Ok("skip") {
            eprintln!("SKIPPED on request (STRATA_TEST_DEFECTDOJO=skip): this test needs a real DefectDojo");
            return None;
        }
        let path = env_file();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "no real DefectDojo: {} ({e}). Run scripts/defectdojo.sh start (it needs ../shared/defectdojo, \
                 see docs/defectdojo.md), or set STRATA_TEST_DEFECTDOJO=skip to skip these tests on purpose",
                path.display()
            )
        });
        let vars: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let name = match mode {
            HashMode::Default => "DEFAULT",
            HashMode::Recommended => "RECOMMENDED",
        };
        let var = |k: &str| -> String {
            let key = format!("STRATA_TEST_DD_{name}_{k}");
            vars.get(key.as_str()).map(|v| v.to_string()).unwrap_or_else(|| panic!("{}: no {key}", path.display()))
        };
        let token_file = var("TOKEN_FILE");
        let token = std::fs::read_to_string(&token_file)
            .unwrap_or_else(|e| panic!("DefectDojo token {token_file}: {e}; run scripts/defectdojo.sh start"))
            .trim()
            .to_string();
        let runner = vars.get("STRATA_TEST_DD_RUNNER").map(PathBuf::from).unwrap_or_default();
        let dojo = RealDefectDojo { mode, url: var("URL"), token, dir: PathBuf::from(var("DIR")), runner };
        let (status, body) = dojo.request("GET", "/api/v2/users/?limit=1");
        assert_eq!(status, 200, "DefectDojo at {} does not answer: run scripts/defectdojo.sh start ({body})", dojo.url);
        Some(dojo)
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn token(&self) -> String {
        self.token.clone()
    }

    /// A `GET` that must answer 200 with JSON.
    pub fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.request("GET", path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Every item of a paginated list (`limit`/`offset`).
    pub fn list(&self, path: &str) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        loop {
            let page = self.get_json(&format!("{path}{sep}limit=250&offset={}", out.len()));
            let results = page["results"].as_array().cloned().unwrap_or_default();
            let done = results.is_empty() || page["next"].is_null();
            out.extend(results);
            if done {
                return out;
            }
        }
    }

    /// The findings of a test; `active` only when `active_only`.
    pub fn findings(&self, test_id: i64, active_only: bool) -> Vec<Value> {
        let filter = if active_only { "&active=true" } else { "" };
        self.list(&format!("/api/v2/findings/?test={test_id}{filter}"))
    }

    /// The tests of an engagement.
    pub fn tests(&self, engagement_id: i64) -> Vec<Value> {
        self.list(&format!("/api/v2/tests/?engagement={engagement_id}"))
    }

    /// Products with this exact name.
    pub fn products_named(&self, name: &str) -> Vec<Value> {
        self.list("/api/v2/products/").into_iter().filter(|p| p["name"].as_str() == Some(name)).collect()
    }

    pub fn delete(&self, path: &str) -> u16 {
        self.request("DELETE", path).0
    }

    /// `manage.py ARGS` with the instance's settings (e.g. `dedupe --parser "Trivy Scan" --hash_code_only`).
    pub fn manage(&self, args: &[&str]) -> String {
        let out = Command::new(&self.runner)
            .arg("manage")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", self.runner.display()));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "manage.py {args:?}: {text}");
        text
    }

    /// `(status, body)` of a request with the API key.
    pub fn request(&self, method: &str, path: &str) -> (u16, String) {
        request(&self.url, &self.token, method, path)
    }
}

/// `(status, body)` of a bodiless request to a DefectDojo API (real or mock) with `token`, over plain
/// HTTP/1.1 (`Connection: close`).
pub fn request(url: &str, token: &str, method: &str, path: &str) -> (u16, String) {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("DefectDojo at {host}: {e}"));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Token {token}\r\nAccept: application/json\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("send to DefectDojo");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read DefectDojo's answer");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut body = raw.get(split + 4..).unwrap_or_default().to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = crate::defectdojo::dechunk(&body).unwrap_or(body);
    }
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A name no earlier run used: the instances live across runs.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}
