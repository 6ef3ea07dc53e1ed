//! A real registry per test (Debian's `docker-registry`, distribution v2) on its own 127.0.0.1 port and
//! storage, so clients are tested against a registry implementation that is not ours.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::sha256;

/// A free port now; the registry binds it a moment later (a clash makes `start` retry).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct TestRegistry {
    child: Child,
    pub port: u16,
    // Held so the storage and config outlive the registry process.
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// With `yaml` (top-level sections, e.g. `catalog:\n  maxentries: 50\n`) added to the config.
    pub fn start_with_config(yaml: &str) -> Self {
        Self::launch_with_auth_yaml(tempfile::tempdir().unwrap(), yaml)
    }

    /// Basic auth through an htpasswd file (bcrypt, as distribution requires).
    pub fn start_with_auth(user: &str, password: &str) -> Self {
        Self::launch(Some((user, password)))
    }

    /// A registry that posts its events to `url` (the coordinator's `/v1/registry/events`) with
    /// `Authorization: Bearer <secret>`, retrying a refused or unanswered delivery every second (the
    /// `notifications:` section docs/continuous.md shows).
    pub fn start_with_notifications(url: &str, secret: &str) -> Self {
        let yaml = format!(
            "notifications:\n  endpoints:\n    - name: strata\n      url: {url}\n      headers:\n        Authorization: [Bearer {secret}]\n      timeout: 2s\n      threshold: 1\n      backoff: 1s\n"
        );
        Self::launch_with_auth_yaml(tempfile::tempdir().unwrap(), &yaml)
    }

    fn launch(auth: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let auth_yaml = match auth {
            Some((user, password)) => {
                let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().unwrap();
                assert!(out.status.success(), "htpasswd: {}", String::from_utf8_lossy(&out.stderr));
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, &out.stdout).unwrap();
                format!("auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n", path.display())
            }
            None => String::new(),
        };
        Self::launch_with_auth_yaml(dir, &auth_yaml)
    }

    /// Starts `docker-registry` with `auth_yaml` (top-level sections such as `auth:` or `notifications:`,
    /// or empty) appended to the config. `dir` holds the storage, config and log, and lives as long as the registry.
    pub(crate) fn launch_with_auth_yaml(dir: tempfile::TempDir, auth_yaml: &str) -> Self {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_yaml}",
                    dir.path().join("storage").display()
                ),
            )
            .unwrap();
            let log_path = dir.path().join("registry.log");
            let log = std::fs::File::create(&log_path).unwrap();
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("docker-registry must be installed (Debian package docker-registry)");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if let Ok(resp) = http(port, "GET", "/v2/", &[], &[])
                    && (resp.status == 200 || resp.status == 401)
                {
                    return TestRegistry { child, port, _dir: dir };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
        }
        panic!("docker-registry did not come up: {last_log}");
    }

    /// The registry's own log (level `error`): why it refused a token, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The `docker-registry` process (tools that read `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `127.0.0.1:PORT`, the registry part of references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `skopeo copy [extra] oci:LAYOUT:TAG docker://HOST/DEST`.
    pub fn push(&self, layout: &Path, tag: &str, dest: &str, extra: &[&str]) {
        let src = format!("oci:{}:{tag}", layout.display());
        let dst = format!("docker://{}/{dest}", self.host());
        let out = Command::new("skopeo")
            .args(["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"])
            .args(extra)
            .args([src.as_str(), dst.as_str()])
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo copy {src} {dst}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn http(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        http(self.port, method, path, headers, body).unwrap()
    }

    /// Uploads a blob the two-step way every registry supports (POST, then PUT with the digest).
    pub fn upload_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let started = self.http("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[]);
        assert_eq!(started.status, 202, "{}", started.text());
        let location = started.header("location").expect("upload location");
        // The location may be absolute; we always talk to the same host.
        let path = match location.find("/v2/") {
            Some(i) => &location[i..],
            None => location,
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let done = self.http("PUT", &format!("{path}{sep}digest={digest}"), &[], bytes);
        assert_eq!(done.status, 201, "{}", done.text());
        digest
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Just enough HTTP/1.1 to drive a registry (or the coordinator's HTTP API) in tests without the client
/// under test.
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    // Generous: a registry storing a large blob on a loaded test machine can take a while to answer.
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Ok(Response { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// A plain `GET` on 127.0.0.1:`port` (ops endpoints): (status, body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let response = http(port, "GET", path, &[], &[])?;
    Ok((response.status, response.text()))
}
