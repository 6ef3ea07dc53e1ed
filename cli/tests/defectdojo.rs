//! Acceptance: the one-off DefectDojo paths of the CLI — `strata defectdojo check` and
//! `strata image … --defectdojo URL` — against the strict mock DefectDojo of the test kit.

mod common;

use common::*;
use strata_testkit::defectdojo::{HashMode, MockDefectDojo};
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
    let layout = tmp.path().join("layout");
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
