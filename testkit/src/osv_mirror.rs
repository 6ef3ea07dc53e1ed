//! A test-owned OSV mirror: an HTTP server on 127.0.0.1 serving osv.dev-shaped `{ecosystem}/all.zip`
//! files, whose contents a test replaces while it runs (a new export, a cut-short one), for `strata db
//! update` and the coordinator's scheduled refresh.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

type Files = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

pub struct OsvMirror {
    port: u16,
    files: Files,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl OsvMirror {
    pub fn start() -> OsvMirror {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the OSV mirror");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let port = listener.local_addr().expect("address").port();
        let files: Files = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (served, seen, stopped) = (Arc::clone(&files), Arc::clone(&requests), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => answer(stream, &served, &seen),
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        OsvMirror { port, files, requests, stop, thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT`: the base URL (`STRATA_OSV_BASE_URL`, `STRATA_DB_SOURCE`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Serves `zip` as `/{ecosystem}/all.zip` from now on.
    pub fn set(&self, ecosystem: &str, zip: Vec<u8>) {
        self.files.lock().expect("mirror files").insert(format!("/{ecosystem}/all.zip"), zip);
    }

    /// The paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("mirror requests").clone()
    }
}

fn answer(mut stream: std::net::TcpStream, files: &Files, seen: &Mutex<Vec<String>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut line = String::new();
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // The rest of the request head, up to the blank line.
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_string();
    seen.lock().expect("mirror requests").push(path.clone());
    let body = files.lock().expect("mirror files").get(&path).cloned();
    let (status, payload) = match body {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", b"no such file".to_vec()),
    };
    let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", payload.len());
    let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&payload));
}

impl Drop for OsvMirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// OSV records (JSON Lines, `.jsonl.gz` as the fixtures are committed) as osv.dev's all.zip: one
/// `<id>.json` per record.
pub fn all_zip(records: &[serde_json::Value]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for record in records {
        let id = record["id"].as_str().expect("an OSV record has an id");
        zip.start_file(format!("{id}.json"), options).expect("zip entry");
        zip.write_all(record.to_string().as_bytes()).expect("zip entry");
    }
    zip.finish().expect("zip").into_inner()
}

/// The records of a committed `.jsonl.gz` fixture.
pub fn records(jsonl_gz: &Path) -> Vec<serde_json::Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(jsonl_gz).expect("fixture"))
        .read_to_string(&mut text)
        .expect("gzip fixture");
    text.lines().map(|l| serde_json::from_str(l).expect("an OSV record")).collect()
}
