//! An HTTP/1.1 proxy in front of a real server (a registry) that can misbehave on purpose: answer the first
//! few requests for a path with a canned status (`429` with `Retry-After`), or drop a response header. It
//! records every request it sees and what it did with it, so a test can check the client's timing.
//!
//! One request per connection: the proxy forwards the request with `Connection: close` and streams the
//! response back, so the client reconnects for its next request and each request is seen here.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request the proxy saw: `answered` is the canned status it sent, or 0 when it forwarded the request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub at: Instant,
    pub answered: u16,
}

struct Canned {
    path_prefix: String,
    remaining: usize,
    status: u16,
    headers: Vec<(String, String)>,
}

#[derive(Default)]
struct Rules {
    canned: Vec<Canned>,
    strip: Vec<String>,
}

pub struct HttpProxy {
    pub port: u16,
    rules: Arc<Mutex<Rules>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl HttpProxy {
    /// Proxies 127.0.0.1:`port` to 127.0.0.1:`target`.
    pub fn start(target: u16) -> HttpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let (rules, seen, stop) = (Arc::default(), Arc::default(), Arc::new(AtomicBool::new(false)));
        let (r, s, st) = (Arc::clone(&rules), Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (r, s) = (Arc::clone(&r), Arc::clone(&s));
                        std::thread::spawn(move || {
                            let _ = handle(client, target, &r, &s);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HttpProxy { port, rules, seen, stop }
    }

    /// `127.0.0.1:PORT`, the registry part of references through the proxy.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Answers the next `times` requests whose path starts with `path_prefix` with `status` and `headers`
    /// (and a distribution-style error body) instead of forwarding them.
    pub fn answer(&self, path_prefix: &str, times: usize, status: u16, headers: &[(&str, &str)]) {
        self.rules.lock().unwrap().canned.push(Canned {
            path_prefix: path_prefix.into(),
            remaining: times,
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        });
    }

    /// Removes the header `name` from every forwarded response.
    pub fn strip_response_header(&self, name: &str) {
        self.rules.lock().unwrap().strip.push(name.to_ascii_lowercase());
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads up to the end of the head; returns the head and whatever body bytes came with it.
fn read_head(stream: &mut TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = raw.split_off(end + 4);
            return Ok((String::from_utf8_lossy(&raw).into_owned(), rest));
        }
        let n = stream.read(&mut buf)?;
        if n == 0 || raw.len() > 1 << 20 {
            return Err(std::io::Error::other("no complete HTTP head"));
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// The head with `Connection: close` and without the `drop` headers.
fn rewrite(head: &str, drop: &[String]) -> String {
    let mut lines = head.trim_end_matches("\r\n").split("\r\n");
    let mut out = format!("{}\r\n", lines.next().unwrap_or_default());
    for line in lines {
        let name = line.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
        if name != "connection" && name != "keep-alive" && !drop.contains(&name) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

fn handle(mut client: TcpStream, target: u16, rules: &Mutex<Rules>, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (head, body_start) = read_head(&mut client)?;
    let mut request_line = head.split("\r\n").next().unwrap_or_default().split(' ');
    let (method, path) =
        (request_line.next().unwrap_or_default().to_string(), request_line.next().unwrap_or_default().to_string());
    let canned = {
        let mut rules = rules.lock().unwrap();
        rules.canned.iter_mut().find(|c| c.remaining > 0 && path.starts_with(&c.path_prefix)).map(|c| {
            c.remaining -= 1;
            (c.status, c.headers.clone())
        })
    };
    seen.lock().unwrap().push(Seen {
        method,
        path,
        at: Instant::now(),
        answered: canned.as_ref().map_or(0, |(status, _)| *status),
    });
    if let Some((status, headers)) = canned {
        let body = br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down (test proxy)"}]}"#;
        let mut response =
            format!("HTTP/1.1 {status} Canned\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            response.push_str(&format!("{k}: {v}\r\n"));
        }
        response.push_str("Connection: close\r\n\r\n");
        client.write_all(response.as_bytes())?;
        client.write_all(body)?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    let mut upstream = TcpStream::connect(("127.0.0.1", target))?;
    upstream.write_all(rewrite(&head, &[]).as_bytes())?;
    upstream.write_all(&body_start)?;
    // The rest of the request body, whatever its framing, as it comes.
    let (mut from_client, mut to_upstream) = (client.try_clone()?, upstream.try_clone()?);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_upstream);
    });
    let (response_head, response_start) = read_head(&mut upstream)?;
    let strip = rules.lock().unwrap().strip.clone();
    client.write_all(rewrite(&response_head, &strip).as_bytes())?;
    client.write_all(&response_start)?;
    std::io::copy(&mut upstream, &mut client)?;
    let _ = client.shutdown(Shutdown::Both);
    let _ = upstream.shutdown(Shutdown::Both);
    Ok(())
}
