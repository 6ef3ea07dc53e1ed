//! Bearer-token auth as distribution implements it: a registry configured with `auth: token:` that answers
//! 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, and a small token server (ours, run by
//! the test) that issues the RS256 JWTs the registry verifies against a certificate bundle.
//!
//! The key and the self-signed certificate are made with the `openssl` CLI at test time; the JWTs follow
//! distribution's token spec (`docs/spec/auth/jwt.md`): header `typ`, `alg`, `x5c` (the signing
//! certificate, base64 DER), claims `iss`, `sub`, `aud` (the service), `exp`, `nbf`, `iat`, `jti` and
//! `access` (`[{type, name, actions}]`).

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

use crate::registry::TestRegistry;

/// The `service` of the registry's challenge and the `aud` of the tokens.
pub const SERVICE: &str = "strata-test";
/// The `iss` of the tokens, which the registry is configured to trust.
pub const ISSUER: &str = "strata-test-issuer";
/// Tokens last this long (`exp - iat` and `expires_in`).
pub const TOKEN_LIFETIME_SECS: u64 = 300;

/// Who gets a token.
#[derive(Clone)]
pub struct TokenPolicy {
    user: String,
    password: String,
    anonymous_pull: bool,
}

impl TokenPolicy {
    /// Only `user` with `password` gets tokens (for every action asked for); a request without credentials,
    /// like one with wrong credentials, is answered 401.
    pub fn require_credentials(user: &str, password: &str) -> Self {
        TokenPolicy { user: user.into(), password: password.into(), anonymous_pull: false }
    }

    /// As [`Self::require_credentials`], except that a request without credentials gets a token granting
    /// only the `pull` actions it asked for (a public repository). Wrong credentials are still a 401.
    pub fn anonymous_pull(user: &str, password: &str) -> Self {
        TokenPolicy { user: user.into(), password: password.into(), anonymous_pull: true }
    }
}

impl std::fmt::Debug for TokenPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPolicy")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("anonymous_pull", &self.anonymous_pull)
            .finish()
    }
}

/// One request the token server answered. Holds no secret: the password travels in the `Authorization`
/// header, which is recorded only as "sent or not" and the username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub method: String,
    /// Path and query as received (`/token?scope=…&service=…`).
    pub path: String,
    pub service: Option<String>,
    /// Every `scope` parameter, decoded (`repository:team/app:pull`).
    pub scopes: Vec<String>,
    /// Whether an `Authorization: Basic …` header came with the request.
    pub credentials_sent: bool,
    /// The username of those credentials.
    pub user: Option<String>,
    /// 200 with a token, 401 for missing or wrong credentials, 404/405 for anything else.
    pub status: u16,
}

/// A token server on `127.0.0.1:PORT` serving `GET /token` from a background thread, until dropped.
pub struct TokenServer {
    pub port: u16,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    cert_pem: PathBuf,
    // Holds the key and certificate files.
    _dir: tempfile::TempDir,
}

impl TokenServer {
    /// Generates a key and certificate with `openssl`, and starts serving.
    pub fn start(policy: TokenPolicy) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (key_pem, cert_pem) = generate_key_and_certificate(dir.path());
        let key = RsaKeyPair::from_pkcs8(&pem_block(&key_pem, "PRIVATE KEY")).expect("openssl made an RSA PKCS#8 key");
        let x5c = STANDARD.encode(pem_block(&std::fs::read_to_string(&cert_pem).unwrap(), "CERTIFICATE"));
        let signer = Signer { key, x5c, rng: SystemRandom::new(), next_id: AtomicU64::new(0) };

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Non-blocking accept so the thread sees `stop` within a poll interval.
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            std::thread::Builder::new()
                .name(format!("token-server-{port}"))
                .spawn(move || serve(listener, policy, signer, requests, stop))
                .unwrap()
        };
        TokenServer { port, requests, stop, thread: Some(thread), cert_pem, _dir: dir }
    }

    /// `http://127.0.0.1:PORT/token`, the realm the registry sends clients to.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The certificate the tokens are signed under (the registry's `rootcertbundle`).
    pub fn cert_pem(&self) -> &Path {
        &self.cert_pem
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Asks this server for a token for `scopes`, as a registry client would (without the client under
    /// test): the HTTP status and, on 200, the JWT.
    pub fn fetch_token(&self, scopes: &[&str], credentials: Option<(&str, &str)>) -> (u16, Option<String>) {
        let mut path = format!("/token?service={SERVICE}");
        for scope in scopes {
            path.push_str(&format!("&scope={}", scope.replace(':', "%3A").replace('/', "%2F").replace(',', "%2C")));
        }
        let auth =
            credentials.map(|(user, password)| format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        let resp = crate::registry::http(self.port, "GET", &path, &headers, &[]).expect("token server answers");
        let token = (resp.status == 200).then(|| {
            let body: Value = serde_json::from_slice(&resp.body).expect("token JSON");
            body["token"].as_str().expect("token field").to_string()
        });
        (resp.status, token)
    }

    /// Forgets the requests answered so far (e.g. the push's, before the client under test runs).
    pub fn clear_requests(&self) {
        self.requests.lock().unwrap().clear();
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A `docker-registry` that accepts only bearer tokens from its own [`TokenServer`]. Derefs to the
/// [`TestRegistry`] (`host`, `push`, `http`, `log`).
pub struct TokenRegistry {
    // Declared first so it stops before the token server does.
    pub registry: TestRegistry,
    pub tokens: TokenServer,
}

impl TokenRegistry {
    pub fn start(policy: TokenPolicy) -> Self {
        let tokens = TokenServer::start(policy);
        let dir = tempfile::tempdir().unwrap();
        let auth_yaml = format!(
            "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            tokens.realm(),
            tokens.cert_pem().display()
        );
        let registry = TestRegistry::launch_with_auth_yaml(dir, &auth_yaml);
        TokenRegistry { registry, tokens }
    }
}

impl Deref for TokenRegistry {
    type Target = TestRegistry;
    fn deref(&self) -> &TestRegistry {
        &self.registry
    }
}

/// A 2048-bit RSA key (PKCS#8 PEM) and a self-signed certificate for it, made by the `openssl` CLI.
fn generate_key_and_certificate(dir: &Path) -> (String, PathBuf) {
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap_or_else(|e| {
            panic!("the openssl CLI is needed to make the token signing key ({e}): apt-get install openssl")
        });
        assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    };
    let (key_arg, cert_arg) = (key.to_str().unwrap(), cert.to_str().unwrap());
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key_arg]);
    let subject = format!("/CN={ISSUER}");
    openssl(&["req", "-x509", "-new", "-sha256", "-key", key_arg, "-subj", &subject, "-days", "2", "-out", cert_arg]);
    (std::fs::read_to_string(&key).unwrap(), cert)
}

/// The DER inside the PEM block labelled `label` of `text`.
fn pem_block(text: &str, label: &str) -> Vec<u8> {
    let (begin, end) = (format!("-----BEGIN {label}-----"), format!("-----END {label}-----"));
    let start = text.find(&begin).unwrap_or_else(|| panic!("no {begin} in openssl's output")) + begin.len();
    let stop = start + text[start..].find(&end).expect("PEM end line");
    let b64: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).expect("PEM base64")
}

struct Signer {
    key: RsaKeyPair,
    /// The certificate, base64 (standard, padded) DER, as `x5c` wants it.
    x5c: String,
    rng: SystemRandom,
    next_id: AtomicU64,
}

impl Signer {
    /// An RS256 JWT for `subject` (empty for anonymous) granting `access` on `audience`.
    fn token(&self, subject: &str, audience: &str, access: &[Value], now: u64) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]});
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let claims = json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": audience,
            "exp": now + TOKEN_LIFETIME_SECS,
            "nbf": now,
            "iat": now,
            "jti": format!("{now}-{id}-{}", std::process::id()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key.sign(&RSA_PKCS1_SHA256, &self.rng, signing_input.as_bytes(), &mut signature).expect("RS256 signing");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

fn serve(
    listener: TcpListener,
    policy: TokenPolicy,
    signer: Signer,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some(record) = handle(stream, &policy, &signer) {
                    requests.lock().unwrap().push(record);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Answers one request on `stream` and closes it. `None` when no complete request arrived.
fn handle(mut stream: TcpStream, policy: &TokenPolicy, signer: &Signer) -> Option<TokenRequest> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || raw.len() > 64 << 10 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&raw).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target) = (request_line.next()?.to_string(), request_line.next()?.to_string());
    let authorization = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_string());

    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let service = params.iter().find(|(k, _)| k == "service").map(|(_, v)| v.clone());
    let scopes: Vec<String> = params.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
    let credentials = authorization.as_deref().map(basic_credentials);
    let mut record = TokenRequest {
        method: method.clone(),
        path: target.clone(),
        service: service.clone(),
        scopes: scopes.clone(),
        credentials_sent: credentials.is_some(),
        user: credentials.as_ref().and_then(|c| c.as_ref().map(|(user, _)| user.clone())),
        status: 0,
    };

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (status, body, extra_header) = if path != "/token" {
        (404, json!({"details": "not found"}), None)
    } else if method != "GET" {
        (405, json!({"details": "only GET /token is served"}), None)
    } else {
        // `Some(subject)` when a token may be issued; anonymous is the empty subject.
        let subject = match &credentials {
            Some(Some((user, password))) if *user == policy.user && *password == policy.password => Some(user.clone()),
            Some(_) => None,
            None if policy.anonymous_pull => Some(String::new()),
            None => None,
        };
        match subject {
            None => (
                401,
                json!({"details": "authentication required: missing or wrong username or password"}),
                Some("WWW-Authenticate: Basic realm=\"strata-test-token\"\r\n"),
            ),
            Some(subject) => {
                let access: Vec<Value> = scopes
                    .iter()
                    .filter_map(|scope| {
                        // `type:name:actions`; a repository name never has a colon, a registry host can.
                        let (kind, rest) = scope.split_once(':')?;
                        let (name, actions) = rest.rsplit_once(':')?;
                        let actions: Vec<&str> = actions
                            .split(',')
                            .filter(|a| !a.is_empty() && (!subject.is_empty() || *a == "pull"))
                            .collect();
                        Some(json!({"type": kind, "name": name, "actions": actions}))
                    })
                    .collect();
                let audience = service.as_deref().unwrap_or(SERVICE);
                let token = signer.token(&subject, audience, &access, now);
                (
                    200,
                    json!({"token": token, "access_token": token, "expires_in": TOKEN_LIFETIME_SECS,
                        "issued_at": rfc3339(now)}),
                    None,
                )
            }
        }
    };
    record.status = status;
    let body = serde_json::to_vec(&body).unwrap();
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        body.len(),
        extra_header.unwrap_or("")
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body)).and_then(|_| stream.flush());
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Some(record)
}

/// `Some((user, password))` from `Basic base64(user:password)`; `None` for any other or a malformed header
/// (which counts as wrong credentials).
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `2024-01-01T00:00:00Z` for a Unix time (UTC).
pub(crate) fn rfc3339(unix: u64) -> String {
    let (days, secs) = ((unix / 86_400) as i64, unix % 86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_825_600 + 3_723), "2000-02-29T13:02:03Z");
    }

    #[test]
    fn query_and_basic_decoding() {
        assert_eq!(percent_decode("repository%3Ateam%2Fapp%3Apull%2Cpush"), "repository:team/app:pull,push");
        assert_eq!(percent_decode("a+b%2"), "a b%2");
        assert_eq!(basic_credentials("Basic dTpwOnE="), Some(("u".into(), "p:q".into())));
        assert_eq!(basic_credentials("Bearer x"), None);
    }
}
