//! Acceptance: compression variants, multi-platform indexes, authenticated registries and exit codes,
//! on images built from real content and served by a real registry.

mod common;

use common::*;
use strata_testkit::image::{Compression, ImageBuilder, LayerContent, write_multiarch_layout};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

/// A real Alpine 3.17 os-release and an apk database stanza as apk-tools writes it.
const ALPINE_OS_RELEASE: &[u8] =
    b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.17.2\nPRETTY_NAME=\"Alpine Linux v3.17\"\nHOME_URL=\"https://alpinelinux.org/\"\n";

fn small_debian(status: &str) -> Vec<u8> {
    let rootfs = Rootfs::bullseye();
    let _ = &rootfs;
    TarBuilder::new()
        .file("usr/lib/os-release", b"PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"11\"\nVERSION=\"11 (bullseye)\"\nVERSION_CODENAME=bullseye\nID=debian\n")
        .file("etc/debian_version", b"11.11\n")
        .file("var/lib/dpkg/status", status.as_bytes())
        .build()
}

/// The real status file, with openssl back at the version DSA-4963-1 shipped (vulnerable to later DSAs).
fn vulnerable_status() -> String {
    with_source_version(&Rootfs::bullseye().status, "openssl", "1.1.1k-1+deb11u1")
}

#[test]
fn zstd_uncompressed_and_gzip_layers_give_the_same_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let status = vulnerable_status();
    let layout = tmp.path().join("layout");
    for (tag, compression) in [("gzip", Compression::Gzip), ("zstd", Compression::Zstd), ("plain", Compression::None)] {
        ImageBuilder::new()
            .layer(LayerContent::Bytes(small_debian(&status)), compression, "ADD rootfs /")
            .write_layout(&layout, tag);
    }
    let registry = TestRegistry::start();
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let mut seen = Vec::new();
    for tag in ["gzip", "zstd", "plain"] {
        registry.push(&layout, tag, &format!("strata/compressed:{tag}"), &[]);
        let mut cmd = strata();
        cmd.args(["image", &format!("{}/strata/compressed:{tag}", registry.host()), "--format", "json", "--db"])
            .arg(&db);
        let out = run(&mut cmd);
        assert_eq!(out.code, 0, "{tag}: {}", out.stderr);
        seen.push(findings(&out.json()));
    }
    assert_eq!(seen[0], dpkg_oracle(&status, &[minbase_osv()], "Debian:11"));
    assert!(!seen[0].is_empty());
    assert_eq!(seen[0], seen[1], "zstd");
    assert_eq!(seen[0], seen[2], "uncompressed");
}

#[test]
fn platform_selects_the_image_from_an_index() {
    let tmp = tempfile::tempdir().unwrap();
    let debian = ImageBuilder::new().layer(
        LayerContent::Bytes(small_debian(&vulnerable_status())),
        Compression::Gzip,
        "ADD debian /",
    );
    let alpine = ImageBuilder::new().architecture("arm64").layer(
        LayerContent::Bytes(
            TarBuilder::new().file("etc/os-release", ALPINE_OS_RELEASE).file("etc/alpine-release", b"3.17.2\n").build(),
        ),
        Compression::Gzip,
        "ADD alpine /",
    );
    let layout = tmp.path().join("layout");
    write_multiarch_layout(&layout, "multi", &[(&debian, "linux/amd64"), (&alpine, "linux/arm64")]);
    let registry = TestRegistry::start();
    registry.push(&layout, "multi", "strata/multi:1", &["--all"]);
    let reference = format!("{}/strata/multi:1", registry.host());
    let db = build_db(tmp.path(), &[minbase_osv()]);

    let scan = |platform: &str| {
        let mut cmd = strata();
        cmd.args(["image", &reference, "--format", "json", "--platform", platform, "--db"]).arg(&db);
        run(&mut cmd)
    };
    let amd64 = scan("linux/amd64");
    assert_eq!(amd64.code, 0, "{}", amd64.stderr);
    assert_eq!(amd64.json()["artifact"]["os"]["family"], "debian");
    let arm64 = scan("linux/arm64");
    assert_eq!(arm64.code, 0, "{}", arm64.stderr);
    let report = arm64.json();
    assert_eq!(report["artifact"]["platform"], "linux/arm64");
    assert_eq!(report["results"][0]["ecosystem"], "Alpine:v3.17");
    assert!(report["results"][0]["notice"].as_str().unwrap().contains("no advisories for Alpine:v3.17"));
    let missing = scan("linux/s390x");
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("linux/s390x") && missing.stderr.contains("linux/arm64"), "{}", missing.stderr);
}

#[test]
fn authenticated_registry_needs_credentials_and_never_prints_them() {
    let tmp = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", std::process::id());
    let registry = TestRegistry::start_with_auth("scanner", &password);
    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(LayerContent::Bytes(small_debian(&vulnerable_status())), Compression::Gzip, "ADD / /")
        .write_layout(&layout, "1");
    registry.push(&layout, "1", "private/app:1", &["--dest-creds", &format!("scanner:{password}")]);
    let reference = format!("{}/private/app:1", registry.host());
    let db = build_db(tmp.path(), &[minbase_osv()]);

    let mut anonymous = strata();
    anonymous.args(["image", &reference, "--db"]).arg(&db);
    let out = run(&mut anonymous);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&reference) && out.stderr.to_lowercase().contains("unauthorized")
            || out.stderr.contains("denied"),
        "{}",
        out.stderr
    );

    let mut wrong = strata();
    wrong
        .args(["image", &reference, "--db"])
        .arg(&db)
        .env("STRATA_REGISTRY_USERNAME", "scanner")
        .env("STRATA_REGISTRY_PASSWORD", "not-the-password");
    let out = run(&mut wrong);
    assert_eq!(out.code, 2);
    assert!(!out.stderr.contains("not-the-password"), "{}", out.stderr);

    let mut good = strata();
    good.args(["image", &reference, "--format", "json", "--db"])
        .arg(&db)
        .env("STRATA_REGISTRY_USERNAME", "scanner")
        .env("STRATA_REGISTRY_PASSWORD", &password)
        .env("RUST_LOG", "trace");
    let out = run(&mut good);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains(&password) && !out.stdout.contains(&password), "the password leaked into output");
    assert!(!findings(&out.json()).is_empty());

    // The same credentials from a docker config file's `auths`.
    let config_dir = tmp.path().join("docker");
    std::fs::create_dir_all(&config_dir).unwrap();
    let auth = base64_encode(format!("scanner:{password}").as_bytes());
    std::fs::write(
        config_dir.join("config.json"),
        format!("{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}", registry.host()),
    )
    .unwrap();
    let mut from_config = strata();
    from_config.args(["image", &reference, "--db"]).arg(&db).env("DOCKER_CONFIG", &config_dir);
    let out = run(&mut from_config);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn exit_code_and_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(LayerContent::Bytes(small_debian(&vulnerable_status())), Compression::Gzip, "ADD / /")
        .write_layout(&layout, "1");
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let input = format!("{}:1", layout.display());
    let scan = |extra: &[&str]| {
        let mut cmd = strata();
        cmd.args(["image", "--input", &input, "--db"]).arg(&db).args(extra);
        run(&mut cmd)
    };
    // Debian advisories carry no severity: they are UNKNOWN, so filtering to HIGH leaves none.
    assert_eq!(scan(&["--exit-code", "5"]).code, 5);
    let table = scan(&[]);
    assert_eq!(table.code, 0);
    assert!(table.stdout.contains("DSA-5343-1") && table.stdout.contains("Total:"), "{}", table.stdout);
    assert_eq!(scan(&["--exit-code", "5", "--severity", "CRITICAL,HIGH"]).code, 0);
    assert_eq!(scan(&["--severity", "SEVERE"]).code, 2);
    let out = tmp.path().join("report.json");
    assert_eq!(scan(&["--format", "json", "--output", out.to_str().unwrap()]).code, 0);
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(written["summary"]["total"].as_u64().unwrap() >= 4);
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
