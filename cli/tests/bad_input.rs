//! Acceptance: bad input ends with exit code 2 and an error that names the image, the layer and the file;
//! never a panic.

mod common;

use std::io::Write;
use std::path::Path;

use common::*;
use strata_testkit::image::{BuiltImage, Compression, ImageBuilder, LayerContent, blob_path};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

const STATUS: &[u8] =
    b"Package: libssl1.1\nStatus: install ok installed\nSource: openssl\nVersion: 1.1.1k-1+deb11u1\n\n";

fn layout_with(dir: &Path, blob: Vec<u8>) -> BuiltImage {
    ImageBuilder::new()
        .layer(
            LayerContent::Bytes(TarBuilder::new().file("etc/debian_version", b"11.11\n").build()),
            Compression::Gzip,
            "ADD base /",
        )
        .layer(LayerContent::Bytes(blob), Compression::None, "RUN something")
        .write_layout(dir, "bad")
}

/// Scans `--input DIR:bad` and returns stderr after checking the exit code and that it did not panic.
fn scan_fails(dir: &Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let mut cmd = strata();
    cmd.args(["image", "--input", &format!("{}:bad", dir.display()), "--db"]).arg(&db);
    let out = run(&mut cmd);
    assert_eq!(out.code, 2, "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("oci:{}:bad", dir.display())), "the image is named: {}", out.stderr);
    out.stderr
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A tar whose single entry has a name `tar::Builder` would refuse, as a hostile tool writes it.
fn raw_tar(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, data).unwrap();
    builder.into_inner().unwrap()
}

#[test]
fn corrupt_gzip_names_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let mut blob = gzip(&TarBuilder::new().file("var/lib/dpkg/status", STATUS).file("big", &[1u8; 50_000]).build());
    let n = blob.len();
    blob[n / 2..n / 2 + 16].fill(0xAA);
    let built = layout_with(tmp.path(), blob);
    let err = scan_fails(tmp.path());
    assert!(err.contains(&built.layer_digests[1]) && err.contains("layer #1"), "{err}");
    assert!(err.contains("corrupt"), "{err}");
}

#[test]
fn truncated_blob_names_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let blob = gzip(&TarBuilder::new().file("var/lib/dpkg/status", STATUS).file("big", &[1u8; 50_000]).build());
    let built = layout_with(tmp.path(), blob[..blob.len() / 3].to_vec());
    let err = scan_fails(tmp.path());
    assert!(err.contains(&built.layer_digests[1]), "{err}");
}

#[test]
fn digest_mismatch_names_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let built = layout_with(tmp.path(), TarBuilder::new().file("var/lib/dpkg/status", STATUS).build());
    // Same size, other bytes: what a bit flip on disk or a tampering mirror gives.
    let path = blob_path(tmp.path(), &built.layer_digests[1]);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = scan_fails(tmp.path());
    assert!(err.contains("digest mismatch") && err.contains(&built.layer_digests[1]), "{err}");
}

#[test]
fn parent_and_absolute_paths_are_refused() {
    for name in ["../../etc/cron.d/evil", "/etc/passwd"] {
        let tmp = tempfile::tempdir().unwrap();
        let built = layout_with(tmp.path(), raw_tar(name, b"x"));
        let err = scan_fails(tmp.path());
        assert!(err.contains(name) && err.contains(&built.layer_digests[1]), "{err}");
    }
}

#[test]
fn garbage_and_non_utf8_status_files_name_the_file() {
    let cases: [(&[u8], &str); 2] = [
        (b"Package: libssl1.1\nStatus: install ok installed\n\x00\x01garbage without a colon\n", "line 3"),
        (b"Package: libssl\xff1.1\nStatus: install ok installed\nVersion: 1\n", "not valid UTF-8"),
    ];
    for (status, why) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let built = layout_with(tmp.path(), TarBuilder::new().file("var/lib/dpkg/status", status).build());
        let err = scan_fails(tmp.path());
        assert!(
            err.contains("/var/lib/dpkg/status") && err.contains(why) && err.contains(&built.layer_digests[1]),
            "{err}"
        );
    }
}

#[test]
fn registry_errors_name_the_image() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let scan = |reference: &str| {
        let mut cmd = strata();
        cmd.args(["image", reference, "--db"]).arg(&db);
        run(&mut cmd)
    };
    let unknown = format!("{}/nothing/here:1.0", registry.host());
    let out = scan(&unknown);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains(&unknown) && out.stderr.to_lowercase().contains("not found"), "{}", out.stderr);

    // A Helm chart: same manifest shape, another config media type.
    let config = registry.upload_blob("charts/app", br#"{"name":"app","version":"1.0.0","apiVersion":"v2"}"#);
    let chart = registry.upload_blob("charts/app", &gzip(b"chart"));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"{config}","size":51}},"layers":[{{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"{chart}","size":25}}]}}"#
    );
    let put = registry.http(
        "PUT",
        "/v2/charts/app/manifests/1.0.0",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        manifest.as_bytes(),
    );
    assert_eq!(put.status, 201, "{}", put.text());
    let helm = format!("{}/charts/app:1.0.0", registry.host());
    let out = scan(&helm);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains(&helm) && out.stderr.contains("helm"), "{}", out.stderr);

    let refused = scan("127.0.0.1:1/nothing:1");
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("127.0.0.1:1/nothing:1"), "{}", refused.stderr);
}

#[test]
fn missing_input_and_db_are_clear() {
    let out = run(strata().args(["image", "--input", "/nonexistent/layout"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("/nonexistent/layout"), "{}", out.stderr);
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("l");
    layout_with(&layout, TarBuilder::new().build());
    let out = run(strata()
        .args(["image", "--input", &format!("{}:bad", layout.display())])
        .env("STRATA_CACHE_DIR", tmp.path()));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("strata db update"), "{}", out.stderr);
}
