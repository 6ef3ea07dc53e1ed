//! Acceptance: `strata db build | info | update` on real OSV data, `update` from a test-owned OSV mirror
//! (strata-testkit's) serving osv.dev-shaped `{ecosystem}/all.zip` files.

mod common;

use common::*;
use strata_testkit::osv_mirror::{OsvMirror, all_zip, records};

#[test]
fn update_downloads_all_zip_and_builds_the_db() {
    let debian = records(&minbase_osv());
    let mirror = OsvMirror::start();
    mirror.set("Debian", all_zip(&debian));
    let records = debian.len();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("db/strata.db");
    let mut cmd = strata();
    cmd.args(["db", "update", "--base-url", &mirror.url(), "--ecosystems", "Debian", "--out"]).arg(&out);
    let o = run(&mut cmd);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(mirror.requests(), ["/Debian/all.zip"]);
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
    let mirror = OsvMirror::start();
    let missing =
        run(strata().args(["db", "update", "--base-url", &mirror.url(), "--ecosystems", "Nope", "--out"]).arg(&out));
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("404") && missing.stderr.contains("/Nope/all.zip"), "{}", missing.stderr);
    assert_eq!(mirror.requests(), ["/Nope/all.zip"]);
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
    // The file digest: what a published artifact's file descriptor names (`strata db push`).
    let mut bytes = std::fs::read(&db).unwrap();
    let file_digest = format!("file digest:    sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
    assert!(info.stdout.contains(&file_digest), "{}", info.stdout);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&db, bytes).unwrap();
    let corrupt = run(strata().args(["db", "info"]).arg(&db));
    assert_eq!(corrupt.code, 2);
    assert!(corrupt.stderr.contains(db.to_str().unwrap()), "{}", corrupt.stderr);
}
