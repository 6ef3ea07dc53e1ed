//! Hostile HTTP servers for security tests: a test-owned listener on 127.0.0.1 that answers each request
//! as the test says (a fake registry, a token realm on another port, an "internal service", a manifest that
//! never ends) and records what it was sent — every `Authorization` header above all — and how many
//! connections it accepted, so a test can assert that a credential never reached it, or that nothing
//! connected at all.
//!
//! One request per connection (`Connection: close`), one thread per connection; only ever 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    /// The whole head, for "did the secret appear anywhere" checks.
    pub head: String,
}

/// What to answer.
pub enum Reply {
    Bytes {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// `status` with a body of `len` bytes of `fill`, streamed in chunked encoding (no length up front)
    /// until the client hangs up.
    Endless {
        status: u16,
        content_type: String,
        len: u64,
        fill: u8,
    },
}

impl Reply {
    pub fn status(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Reply::Bytes { status, headers, body: body.to_vec() }
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

pub struct HostileServer {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    accepted: Arc<AtomicU64>,
    /// Body bytes written by `Reply::Endless` answers, across connections.
    streamed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl HostileServer {
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind hostile server");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let handler: Arc<Handler> = Arc::new(handler);
        let server = HostileServer {
            port,
            seen: Arc::default(),
            accepted: Arc::default(),
            streamed: Arc::default(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (seen, accepted, streamed, stop) =
            (server.seen.clone(), server.accepted.clone(), server.streamed.clone(), server.stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        let (handler, seen, streamed) = (handler.clone(), seen.clone(), streamed.clone());
                        std::thread::spawn(move || {
                            let _ = serve(stream, &*handler, &seen, &streamed);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        server
    }

    /// A registry whose every manifest is `len` bytes of whitespace, streamed without a length (a client
    /// that reads it whole runs out of memory); everything else is 404.
    pub fn endless_manifests(len: u64) -> HostileServer {
        HostileServer::start(move |seen: &Seen| {
            if seen.path.contains("/manifests/") {
                return Reply::Endless {
                    status: 200,
                    content_type: "application/vnd.oci.image.manifest.v1+json".into(),
                    len,
                    fill: b' ',
                };
            }
            Reply::status(404, &[], b"")
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Connections accepted so far (a refused-before-connecting client makes none).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub fn streamed_bytes(&self) -> u64 {
        self.streamed.load(Ordering::Relaxed)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    mut stream: TcpStream,
    handler: &Handler,
    seen: &Mutex<Vec<Seen>>,
    streamed: &AtomicU64,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || raw.len() > 1 << 20 {
            return Ok(());
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&raw).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (method, path) = (request_line.next().unwrap_or_default(), request_line.next().unwrap_or_default());
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_string());
    let request = Seen { method: method.into(), path: path.into(), authorization, head: head.clone() };
    seen.lock().unwrap().push(request.clone());
    match handler(&request) {
        Reply::Bytes { status, headers, body } => {
            let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            stream.write_all(out.as_bytes())?;
            if method != "HEAD" {
                stream.write_all(&body)?;
            }
        }
        Reply::Endless { status, content_type, len, fill } => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes())?;
            let chunk = vec![fill; 64 << 10];
            let mut sent = 0u64;
            while sent < len {
                let n = chunk.len().min((len - sent) as usize);
                stream.write_all(format!("{n:x}\r\n").as_bytes())?;
                stream.write_all(&chunk[..n])?;
                stream.write_all(b"\r\n")?;
                sent += n as u64;
                streamed.fetch_add(n as u64, Ordering::Relaxed);
            }
            stream.write_all(b"0\r\n\r\n")?;
        }
    }
    Ok(())
}
