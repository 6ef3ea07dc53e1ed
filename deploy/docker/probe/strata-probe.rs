//! `strata-probe URL`: exits 0 when an HTTP GET of URL answers 2xx within 3 s, 1 otherwise.
//!
//! Why this exists: the runtime images are distroless (no shell, no curl/wget), so a Docker `HEALTHCHECK`
//! or a Compose `healthcheck` has nothing to run against the services' `/healthz` and `/readyz`. This is
//! std-only (built with plain `rustc` in the build stage, no crate, no workspace change) and only speaks
//! plain HTTP/1.0 to a literal `host:port`: it probes the container's own loopback port, nothing else.
//! Kubernetes does not need it (its `httpGet` probes run in the kubelet).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

fn probe(url: &str) -> Result<u16, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs are probed")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    // HTTP/1.0 so the server closes the connection after the response and no chunked decoding is needed.
    // One write: the request arrives as one segment, which minimal servers expect.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: strata-probe\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| format!("{addr}: {e}"))?;
    let mut head = [0u8; 64];
    let mut len = 0;
    // The status line is all that matters; read until it is complete or the peer closes.
    while len < head.len() {
        let n = stream.read(&mut head[len..]).map_err(|e| format!("{addr}: {e}"))?;
        if n == 0 || head[..len + n].contains(&b'\n') {
            len += n;
            break;
        }
        len += n;
    }
    let line = String::from_utf8_lossy(&head[..len]);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().and_then(|c| c.parse::<u16>().ok())) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => Ok(code),
        _ => Err(format!("{addr}: not an HTTP response: {line:?}")),
    }
}

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: strata-probe http://HOST:PORT/PATH");
        return ExitCode::from(2);
    };
    match probe(&url) {
        Ok(code) if (200..300).contains(&code) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("{url}: HTTP {code}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
