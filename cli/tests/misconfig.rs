//! Acceptance: `strata dockerfile` on the Dockerfile corpus, and `strata image` on a real bullseye image
//! whose config runs as root, exposes ssh and carries a password: the image-config findings (password
//! masked) and the base-image advice (bullseye's LTS ended 2026-08-31; move to bookworm).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{Value, json};
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::tarball::TarBuilder;

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scanner/tests/fixtures/dockerfiles").join(kind);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs
}

fn ids(report: &Value) -> Vec<String> {
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["misconfigurations"].as_array().into_iter().flatten())
        .map(|m| m["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn dockerfile_corpus_exit_codes_and_json() {
    for dir in corpus("good") {
        let out =
            run(strata().args(["dockerfile", "--format", "json", "--exit-code", "3"]).arg(dir.join("Dockerfile")));
        assert_eq!(out.code, 0, "{}: {}\n{}", dir.display(), out.stdout, out.stderr);
        assert!(ids(&out.json()).is_empty(), "{}: {}", dir.display(), out.stdout);
    }
    for dir in corpus("bad") {
        let rule = dir.file_name().unwrap().to_string_lossy()[..5].to_string();
        let out =
            run(strata().args(["dockerfile", "--format", "json", "--exit-code", "3"]).arg(dir.join("Dockerfile")));
        assert_eq!(out.code, 3, "{}: {}", dir.display(), out.stderr);
        let report = out.json();
        assert!(ids(&report).contains(&rule), "{} should report {rule}: {:?}", dir.display(), ids(&report));
        assert_eq!(report["results"][0]["class"], "config");
        assert_eq!(report["summary"]["total"].as_u64(), Some(ids(&report).len() as u64));
    }
}

#[test]
fn dockerfile_context_severity_filter_and_errors() {
    let bad = corpus("bad").into_iter().find(|d| d.ends_with("DS004-missing")).unwrap();
    let good = corpus("good").into_iter().find(|d| d.ends_with("node-express")).unwrap();
    // The same Dockerfile with a filtered context: DS004 goes away.
    let with_context =
        run(strata().args(["dockerfile", "--format", "json", "--context"]).arg(&good).arg(bad.join("Dockerfile")));
    assert!(!ids(&with_context.json()).contains(&"DS004".to_string()), "{}", with_context.stdout);
    let only_high =
        run(strata().args(["dockerfile", "--severity", "HIGH", "--format", "json"]).arg(bad.join("Dockerfile")));
    assert!(ids(&only_high.json()).iter().all(|id| id == "DS006" || id == "DS013"), "{}", only_high.stdout);
    let table = run(strata().arg("dockerfile").arg(bad.join("Dockerfile")));
    assert!(table.stdout.contains("DS004 MEDIUM") && table.stdout.contains("fix: "), "{}", table.stdout);

    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("Dockerfile");
    std::fs::write(&broken, "FROM debian:12\nRUN <<EOF\necho never closed\n").unwrap();
    let out = run(strata().arg("dockerfile").arg(&broken));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("line 2") && out.stderr.contains("heredoc"), "{}", out.stderr);
    let missing = run(strata().arg("dockerfile").arg(tmp.path().join("nope")));
    assert_eq!(missing.code, 2);
}

#[test]
fn image_config_findings_mask_the_password_and_advise_leaving_bullseye() {
    let rootfs = Rootfs::bullseye();
    let tmp = tempfile::tempdir().unwrap();
    // Random per run, so the assertion below cannot pass by the value being some fixed string we skip.
    let password =
        format!("pw{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let app = TarBuilder::new().file("app/server.sh", b"#!/bin/sh\nexec sleep infinity\n");
    let image = ImageBuilder::new()
        .layer(
            LayerContent::TarFile(rootfs.tar.clone()),
            Compression::Gzip,
            "/bin/sh -c #(nop) ADD file:bullseye-minbase in / ",
        )
        .step("/bin/sh -c #(nop)  CMD [\"bash\"]")
        .step(&format!("ENV DB_PASSWORD={password}"))
        .layer(LayerContent::Bytes(app.build()), Compression::Gzip, "COPY app /app # buildkit")
        .step("EXPOSE map[22/tcp:{}]")
        .runtime(
            "Env",
            json!([
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                format!("DB_PASSWORD={password}")
            ]),
        )
        .runtime("ExposedPorts", json!({"22/tcp": {}, "8080/tcp": {}}))
        .runtime("Cmd", json!(["/app/server.sh"]));
    let layout = tmp.path().join("layout");
    image.write_layout(&layout, "1.0");
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let input = format!("{}:1.0", layout.display());
    let base = ["image", "--quiet", "--scanners", "vuln,misconfig", "--db", db.to_str().unwrap(), "--input", &input];

    // Without the misconfig scanner (not on by default, as in Trivy) there is no config target, but advice.
    let plain =
        run(strata().args(["image", "--quiet", "--format", "json", "--db", db.to_str().unwrap(), "--input", &input]));
    let plain = plain.json();
    assert!(ids(&plain).is_empty(), "{plain}");
    assert_eq!(plain["advice"]["end_of_life"]["upgrade_to"], "Debian 12 (bookworm)");

    let out = run(strata().args(base).args(["--format", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains(&password), "the password leaked into the JSON report");
    let report = out.json();
    let config =
        report["results"].as_array().unwrap().iter().find(|r| r["target"] == "image config").expect("image config");
    assert_eq!(config["class"], "config");
    let found: Vec<(&str, &str)> = config["misconfigurations"]
        .as_array()
        .unwrap_or_else(|| panic!("{config}"))
        .iter()
        .map(|m| (m["id"].as_str().unwrap(), m["message"].as_str().unwrap()))
        .collect();
    for id in ["IMG001", "IMG003", "IMG004"] {
        assert!(found.iter().any(|(i, _)| *i == id), "{id} missing: {found:?}");
    }
    let secrets: Vec<&str> = found.iter().filter(|(i, _)| *i == "IMG002").map(|(_, m)| *m).collect();
    assert_eq!(secrets.len(), 2, "Env and history: {secrets:?}");
    assert!(secrets.iter().all(|m| m.contains("DB_PASSWORD=********")), "{secrets:?}");
    assert!(
        !found.iter().any(|(i, _)| *i == "IMG008" || *i == "IMG009"),
        "minbase has neither sudo nor sshd: {found:?}"
    );

    let advice = &report["advice"];
    assert_eq!(advice["release"], "Debian 11 (bullseye)");
    assert_eq!(advice["base_layers"], 1);
    assert_eq!(advice["end_of_life"]["date"], "2026-08-31");
    assert_eq!(advice["end_of_life"]["ended"], true, "the test runs after bullseye's LTS ended");
    assert_eq!(advice["end_of_life"]["upgrade_to"], "Debian 12 (bookworm)");
    let fixed =
        report["results"][0]["findings"].as_array().unwrap().iter().filter(|f| f["fixed_version"].is_string()).count();
    assert_eq!(advice["fixed_by_rebuild"].as_u64(), Some(fixed as u64));

    let table = run(strata()
        .args(base)
        .args(["--dockerfile"])
        .arg(corpus("bad").iter().find(|d| d.ends_with("DS006-no-user")).unwrap().join("Dockerfile")));
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(!table.stdout.contains(&password));
    assert!(table.stdout.contains("Base image: Debian 11 (bullseye)"), "{}", table.stdout);
    assert!(
        table.stdout.contains("END OF LIFE since 2026-08-31") && table.stdout.contains("move to Debian 12 (bookworm)"),
        "{}",
        table.stdout
    );

    let with_dockerfile = run(strata()
        .args(base)
        .args(["--format", "json", "--dockerfile"])
        .arg(corpus("bad").iter().find(|d| d.ends_with("DS006-no-user")).unwrap().join("Dockerfile")));
    let report = with_dockerfile.json();
    let dockerfile =
        report["results"].as_array().unwrap().iter().find(|r| r["type"] == "dockerfile").expect("dockerfile target");
    assert!(dockerfile["misconfigurations"].as_array().unwrap().iter().any(|m| m["id"] == "DS006"));
}
