//! Acceptance: `strata image` options that change how the local pipeline runs — a shared Redis layer
//! cache, and the user's secret rules — on real images.

mod common;

use std::process::Command;

use common::*;
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::tarball::TarBuilder;

fn redis(args: &[&str]) -> String {
    String::from_utf8_lossy(&Command::new("redis-cli").args(args).output().expect("redis-cli").stdout).into_owned()
}

#[test]
fn redis_cache_is_shared_between_local_scans() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let rootfs = Rootfs::bullseye();
    ImageBuilder::new()
        .layer(LayerContent::TarFile(rootfs.tar.clone()), Compression::Gzip, "ADD bullseye-minbase /")
        .layer(
            LayerContent::Bytes(TarBuilder::new().file("srv/app.txt", b"app\n").build()),
            Compression::Gzip,
            "COPY app /srv/",
        )
        .write_layout(&layout, "1");
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let prefix = format!("strata-test:local-{}", std::process::id());
    let scan = || {
        let mut cmd = strata();
        cmd.args([
            "image",
            "--input",
            &format!("{}:1", layout.display()),
            "--format",
            "json",
            "--cache",
            "redis://127.0.0.1:6379",
            "--db",
        ])
        .arg(&db)
        .env("STRATA_KEY_PREFIX", &prefix);
        run(&mut cmd)
    };
    let first = scan();
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = scan();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(first.json(), second.json(), "a cached result gives the same report");
    let keys = redis(&["--scan", "--pattern", &format!("{prefix}:analyses:*")]);
    let counts: Vec<String> =
        keys.lines().filter(|k| !k.is_empty()).map(|k| redis(&["get", k]).trim().to_string()).collect();
    assert_eq!(counts, ["1", "1"], "two layers, each analysed once across the two scans");
    for key in redis(&["--scan", "--pattern", &format!("{prefix}:*")]).lines().filter(|k| !k.is_empty()) {
        redis(&["del", key]);
    }
}

#[test]
fn secret_config_adds_rules_and_masks_them() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    // A credential format no built-in rule knows, with random material made now.
    let key: String =
        (0..32).map(|i| char::from(b"0123456789abcdef"[(std::process::id() as usize * 7 + i * 13) % 16])).collect();
    let env_file = format!("ACME_ENDPOINT=https://api.acme.example\nACME_CREDENTIAL=acme_{key}\n");
    ImageBuilder::new()
        .layer(
            LayerContent::Bytes(TarBuilder::new().file("srv/app/settings.conf", env_file.as_bytes()).build()),
            Compression::Gzip,
            "COPY settings /srv/app/",
        )
        .write_layout(&layout, "1");
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let config = tmp.path().join("secrets.yaml");
    std::fs::write(
        &config,
        "rules:\n  - id: acme-api-key\n    title: ACME API key\n    severity: HIGH\n    keywords: [acme_]\n    regex: 'acme_(?P<secret>[a-f0-9]{32})'\n",
    )
    .unwrap();
    let scan = |extra: &[&str]| {
        let mut cmd = strata();
        cmd.args(["image", "--input", &format!("{}:1", layout.display()), "--format", "json", "--db"])
            .arg(&db)
            .args(extra);
        run(&mut cmd)
    };
    let secrets = |out: &Outcome| -> Vec<String> {
        out.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["secrets"].as_array().cloned().unwrap_or_default())
            .map(|s| s["rule_id"].as_str().unwrap().to_string())
            .collect()
    };
    let without = scan(&[]);
    assert_eq!(without.code, 0, "{}", without.stderr);
    assert!(secrets(&without).is_empty(), "no built-in rule knows this format");
    let with = scan(&["--secret-config", config.to_str().unwrap()]);
    assert_eq!(with.code, 0, "{}", with.stderr);
    assert_eq!(secrets(&with), ["acme-api-key"]);
    assert!(!with.stdout.contains(&key) && !with.stderr.contains(&key), "the secret must be masked");
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "rules:\n  - id: x\n    regex: '('\n").unwrap();
    let refused = scan(&["--secret-config", bad.to_str().unwrap()]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("bad.yaml"), "{}", refused.stderr);
}

#[test]
fn dockerfile_context_is_where_the_dockerignore_is() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(
            LayerContent::Bytes(TarBuilder::new().file("srv/app.txt", b"app\n").build()),
            Compression::Gzip,
            "COPY . /srv/",
        )
        .write_layout(&layout, "1");
    let db = build_db(tmp.path(), &[minbase_osv()]);
    // A real-shaped project: the Dockerfile in a subdirectory, the .dockerignore at the context root.
    let good = strata_testkit::fixtures::repo_root().join("scanner/tests/fixtures/dockerfiles/good/go-distroless");
    let context = tmp.path().join("ctx");
    std::fs::create_dir_all(context.join("build")).unwrap();
    std::fs::copy(good.join("Dockerfile"), context.join("build/Dockerfile")).unwrap();
    std::fs::copy(good.join(".dockerignore"), context.join(".dockerignore")).unwrap();
    let ids = |extra: &[&str]| -> Vec<String> {
        let mut cmd = strata();
        cmd.args(["image", "--input", &format!("{}:1", layout.display()), "--format", "json", "--dockerfile"])
            .arg(context.join("build/Dockerfile"))
            .args(extra)
            .arg("--db")
            .arg(&db);
        let out = run(&mut cmd);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["target"].as_str().is_some_and(|t| t.ends_with("Dockerfile")))
            .flat_map(|r| r["misconfigurations"].as_array().cloned().unwrap_or_default())
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(ids(&[]).contains(&"DS004".to_string()), "no .dockerignore next to the Dockerfile");
    let with_context = ids(&["--dockerfile-context", context.to_str().unwrap()]);
    assert!(!with_context.contains(&"DS004".to_string()), "{with_context:?}");
}

#[test]
fn a_layer_budget_setting_is_applied_and_a_budget_run_out_fails_the_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let app = TarBuilder::new().file("srv/a.txt", b"a\n").file("srv/b.txt", b"b\n").file("srv/c.txt", b"c\n").build();
    ImageBuilder::new().layer(LayerContent::Bytes(app), Compression::Gzip, "COPY app /srv/").write_layout(&layout, "1");
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let scan = |budget: &str| {
        let mut cmd = strata();
        cmd.args(["image", "--input", &format!("{}:1", layout.display()), "--format", "json", "--exit-code", "1"])
            .args(["--layer-budget", budget, "--db"])
            .arg(&db);
        run(&mut cmd)
    };
    let roomy = scan("wall = 60");
    assert_eq!(roomy.code, 0, "a complete scan with no findings passes: {}", roomy.stderr);
    let tight = scan("entries = 2");
    assert_eq!(tight.code, 1, "an incomplete report trips --exit-code: {}", tight.stderr);
    let gaps = tight.json()["incomplete"].to_string();
    assert!(gaps.contains("budget `entries`"), "the reason names the budget: {gaps}");
    let typo = scan("entrys = 2");
    assert_eq!(typo.code, 2);
    assert!(typo.stderr.contains("entrys"), "a bad setting is refused by name: {}", typo.stderr);
}
