//! Acceptance: the one-off DefectDojo paths of the CLI — `strata defectdojo check` and
//! `strata image … --defectdojo URL` — against the strict mock DefectDojo of the test kit, and against the
//! real DefectDojo of `scripts/defectdojo.sh` where the real product's behaviour is the point.

mod common;

use common::*;
use strata_testkit::defectdojo::{HashMode, MockDefectDojo};
use strata_testkit::defectdojo_real::RealDefectDojo;
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::tarball::TarBuilder;

const TOKEN: &str = "dd-api-key-for-tests";

#[test]
fn check_tells_reachability_and_key_apart() {
    let dojo = MockDefectDojo::start(TOKEN, HashMode::Recommended);
    let check = |url: &str, token: Option<&str>| {
        let mut cmd = strata();
        cmd.args(["defectdojo", "check", "--url", url]).env_remove("STRATA_DEFECTDOJO_TOKEN");
        if let Some(t) = token {
            cmd.env("STRATA_DEFECTDOJO_TOKEN", t);
        }
        run(&mut cmd)
    };
    let ok = check(&dojo.url(), Some(TOKEN));
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let wrong = check(&dojo.url(), Some("not-the-key"));
    assert_ne!(wrong.code, 0);
    assert!(wrong.stderr.contains("403") && !wrong.stderr.contains("not-the-key"), "{}", wrong.stderr);
    let missing = check(&dojo.url(), None);
    assert_ne!(missing.code, 0, "{}", missing.stdout);
    let down = check("http://127.0.0.1:1", Some(TOKEN));
    assert_ne!(down.code, 0);
    assert!(down.stderr.contains("127.0.0.1:1"), "{}", down.stderr);
}

#[test]
fn image_upload_sends_a_trivy_report_with_stable_names() {
    let dojo = MockDefectDojo::start(TOKEN, HashMode::Recommended);
    let tmp = tempfile::tempdir().unwrap();
    let layout = bullseye_layout(tmp.path());
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let upload = |token: &str| {
        let mut cmd = strata();
        cmd.args([
            "image",
            "--input",
            &format!("{}:1", layout.display()),
            "--quiet",
            "--format",
            "json",
            "--defectdojo",
        ])
        .arg(dojo.url())
        .args(["--dd-product", "team/app", "--db"])
        .arg(&db)
        .env("STRATA_DEFECTDOJO_TOKEN", token);
        run(&mut cmd)
    };
    let out = upload(TOKEN);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let local = out.json();
    let imports = dojo.imports();
    assert_eq!(imports.len(), 1);
    let import = &imports[0];
    assert_eq!(import.field("scan_type"), "Trivy Scan");
    assert_eq!(import.field("product_name"), "team/app");
    assert_eq!(import.field("close_old_findings"), "true");
    assert_eq!(import.field("auto_create_context"), "true");
    let sent: serde_json::Value = serde_json::from_slice(&import.file).unwrap();
    assert_eq!(sent["SchemaVersion"], 2);
    let vulns: usize =
        sent["Results"].as_array().unwrap().iter().map(|r| r["Vulnerabilities"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(vulns as u64, local["summary"]["total"].as_u64().unwrap(), "every finding is uploaded");
    assert!(vulns > 0);
    // A second upload of the same image changes nothing in DefectDojo (same test, same hashes).
    let again = upload(TOKEN);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let imports = dojo.imports();
    assert_eq!(imports.len(), 2);
    assert!(imports[1].reimport, "the second upload reimports into the same test");
    let delta = &imports[1].delta;
    assert_eq!(delta["created"]["total"]["total"], 0, "{delta}");
    assert_eq!(delta["closed"]["total"]["total"], 0, "{delta}");
    assert_eq!(delta["untouched"]["total"]["total"].as_u64(), Some(vulns as u64), "{delta}");
    // A refused key fails the command (exit 2) without printing the key.
    let refused = upload("wrong-key");
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(!refused.stderr.contains("wrong-key"), "{}", refused.stderr);
}

fn bullseye_layout(dir: &std::path::Path) -> std::path::PathBuf {
    let layout = dir.join("layout");
    let status = with_source_version(&Rootfs::bullseye().status, "openssl", "1.1.1k-1+deb11u1");
    ImageBuilder::new()
        .layer(
            LayerContent::Bytes(
                TarBuilder::new()
                    .file(
                        "usr/lib/os-release",
                        b"ID=debian\nVERSION_ID=\"11\"\nPRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\n",
                    )
                    .file("var/lib/dpkg/status", status.as_bytes())
                    .build(),
            ),
            Compression::Gzip,
            "ADD rootfs /",
        )
        .write_layout(&layout, "1");
    layout
}

/// A missing key is reported before the scan (here the input does not even exist: the key comes first).
#[test]
fn a_missing_key_is_reported_before_the_scan() {
    let mut cmd = strata();
    cmd.args(["image", "--input", "/nonexistent/layout:1", "--quiet", "--defectdojo", "http://127.0.0.1:1"])
        .env_remove("STRATA_DEFECTDOJO_TOKEN")
        .env_remove("STRATA_DEFECTDOJO_TOKEN_FILE");
    let out = run(&mut cmd);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("STRATA_DEFECTDOJO_TOKEN"), "{}", out.stderr);
    assert!(!out.stderr.contains("nonexistent"), "the key is checked before the image is read: {}", out.stderr);
}

/// A refused upload still writes the `-o` report file (and fails the command).
#[test]
fn a_failed_upload_still_writes_the_report_file() {
    let dojo = MockDefectDojo::start(TOKEN, HashMode::Recommended);
    let tmp = tempfile::tempdir().unwrap();
    let layout = bullseye_layout(tmp.path());
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let report = tmp.path().join("report.json");
    let mut cmd = strata();
    cmd.args(["image", "--input", &format!("{}:1", layout.display()), "--quiet", "--format", "json", "--defectdojo"])
        .arg(dojo.url())
        .arg("--db")
        .arg(&db)
        .arg("--output")
        .arg(&report)
        .env("STRATA_DEFECTDOJO_TOKEN", "wrong-key");
    let out = run(&mut cmd);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).expect("report file")).unwrap();
    assert!(written["summary"]["total"].as_u64().unwrap() > 0, "{written}");
}

/// Defect 1 on the real DefectDojo: the machine running `strata` is already on the next UTC day while
/// DefectDojo's local date is still today (a DefectDojo west of UTC shortly after UTC midnight). The
/// upload is accepted; before the fix it sent tomorrow's date and got 400 "The scan_date cannot be in the
/// future!". The clock is moved with Debian's `faketime` (libfaketime).
#[test]
fn an_upload_from_the_next_utc_day_is_accepted_by_the_real_defectdojo() {
    let Some(dojo) = RealDefectDojo::get(HashMode::Default) else { return };
    let libfaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
    assert!(std::path::Path::new(libfaketime).exists(), "{libfaketime}: apt-get install faketime");
    let tmp = tempfile::tempdir().unwrap();
    let layout = bullseye_layout(tmp.path());
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let tomorrow = chrono::Utc::now().date_naive().succ_opt().unwrap();
    let product = strata_testkit::defectdojo_real::unique("cli-next-day");
    let mut cmd = strata();
    cmd.args(["image", "--input", &format!("{}:1", layout.display()), "--quiet", "--format", "json", "--defectdojo"])
        .arg(dojo.url())
        .args(["--dd-product", &product, "--db"])
        .arg(&db)
        .env("STRATA_DEFECTDOJO_TOKEN", dojo.token())
        .env("LD_PRELOAD", libfaketime)
        .env("FAKETIME", format!("@{tomorrow} 00:30:00"))
        .env("TZ", "UTC");
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("DefectDojo: test"), "{}", out.stderr);
    let product = dojo.products_named(&product);
    assert_eq!(product.len(), 1, "{product:?}");
}
