//! Acceptance: `strata db build | info | update` on real OSV data, `update` from a local HTTP server that
//! serves osv.dev-shaped `{ecosystem}/all.zip` files.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread;

use common::*;

/// The committed real Debian records, as osv.dev's all.zip: one `<id>.json` per record.
fn debian_all_zip() -> (Vec<u8>, usize) {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(minbase_osv()).unwrap()).read_to_string(&mut text).unwrap();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut count = 0;
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        zip.start_file(format!("{}.json", record["id"].as_str().unwrap()), options).unwrap();
        zip.write_all(line.as_bytes()).unwrap();
        count += 1;
    }
    (zip.finish().unwrap().into_inner(), count)
}

/// Serves `GET /Debian/all.zip`; anything else is 404. Stops after `requests` requests.
fn serve(body: Vec<u8>, requests: usize) -> (u16, thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or_default().to_string();
            let (status, payload): (&str, &[u8]) =
                if path == "/Debian/all.zip" { ("200 OK", &body) } else { ("404 Not Found", b"no") };
            let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", payload.len());
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(payload).unwrap();
            seen.push(path);
        }
        seen
    });
    (port, handle)
}

#[test]
fn update_downloads_all_zip_and_builds_the_db() {
    let (zip, records) = debian_all_zip();
    let (port, server) = serve(zip, 1);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("db/strata.db");
    let mut cmd = strata();
    cmd.args(["db", "update", "--base-url", &format!("http://127.0.0.1:{port}"), "--ecosystems", "Debian", "--out"])
        .arg(&out);
    let o = run(&mut cmd);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(server.join().unwrap(), ["/Debian/all.zip"]);
    let info = run(strata().args(["db", "info"]).arg(&out));
    assert_eq!(info.code, 0, "{}", info.stderr);
    assert!(info.stdout.contains(&format!("({records} records)")), "{}", info.stdout);
    assert!(info.stdout.contains("Debian:11"), "{}", info.stdout);
}

#[test]
fn update_fails_clearly_when_offline_or_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("strata.db");
    // Nothing listens on port 1.
    let offline = run(strata()
        .args(["db", "update", "--base-url", "http://127.0.0.1:1", "--ecosystems", "Debian", "--out"])
        .arg(&out));
    assert_eq!(offline.code, 2);
    assert!(offline.stderr.contains("unreachable") && offline.stderr.contains("strata db build"), "{}", offline.stderr);
    let (port, server) = serve(Vec::new(), 1);
    let missing = run(strata()
        .args(["db", "update", "--base-url", &format!("http://127.0.0.1:{port}"), "--ecosystems", "Nope", "--out"])
        .arg(&out));
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("404") && missing.stderr.contains("/Nope/all.zip"), "{}", missing.stderr);
    server.join().unwrap();
    assert!(!out.exists(), "a failed update must not leave a DB behind");
}

#[test]
fn build_and_info_agree_and_corrupt_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let info = run(strata().args(["db", "info"]).arg(&db));
    assert_eq!(info.code, 0);
    for field in ["format version:", "content digest:", "built at:", "debian-bullseye-minbase.jsonl.gz (16 records)"] {
        assert!(info.stdout.contains(field), "{field}: {}", info.stdout);
    }
    let mut bytes = std::fs::read(&db).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&db, bytes).unwrap();
    let corrupt = run(strata().args(["db", "info"]).arg(&db));
    assert_eq!(corrupt.code, 2);
    assert!(corrupt.stderr.contains(db.to_str().unwrap()), "{}", corrupt.stderr);
}
