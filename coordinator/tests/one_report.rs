//! One report everywhere: for a corpus of real images, `strata results ID --format F` prints what
//! `strata image --format F` prints (timestamps aside), for every format, with and without an ignore file
//! and a VEX document; `strata results --format cyclonedx` lists every package; the Harbor adapter's SBOM
//! is the local SBOM; and scans that need no DB run without one, locally and in the fleet. Real
//! coordinator and worker binaries, RabbitMQ, Redis and a real registry.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bins, run};
use serde_json::{Value, json};
use strata_testkit::debian::{Rootfs, minbase_osv, with_source_version};
use strata_testkit::fixtures::{self, files_under};
use strata_testkit::fleet::{Bins, Fleet};
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

const FORMATS: [&str; 6] = ["json", "table", "trivy-json", "sarif", "cyclonedx", "spdx"];
const SCANNERS: &str = "vuln,secret,misconfig";
const SITE: &str = "usr/local/lib/python3.9/site-packages";

fn fixture(rel: &str) -> PathBuf {
    let path = fixtures::dir().join(rel);
    assert!(path.exists(), "{} is missing: run scripts/fixtures.sh", path.display());
    path
}

/// The regular files of a gzipped tarball as a layer.
fn tarball_layer(path: &Path) -> Vec<u8> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()));
    let mut layer = TarBuilder::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().unwrap().to_string_lossy().trim_start_matches("./").to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        layer = layer.file(&path, &data);
    }
    layer.build()
}

fn random_chars(alphabet: &str, n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| uuid::Uuid::new_v4().as_bytes()[0]).collect();
    bytes.iter().map(|b| alphabet.as_bytes()[*b as usize % alphabet.len()] as char).collect()
}

/// The corpus, pushed to `registry`: (what, reference).
fn corpus(registry: &TestRegistry, tmp: &Path) -> Vec<(&'static str, String)> {
    let rootfs = Rootfs::bullseye();
    let base = || {
        ImageBuilder::new().layer(
            LayerContent::TarFile(rootfs.tar.clone()),
            Compression::Gzip,
            "ADD bullseye-minbase /",
        )
    };
    let aged = with_source_version(&rootfs.status, "openssl", "1.1.1k-1+deb11u1");
    let debian = base().layer(
        LayerContent::Bytes(TarBuilder::new().file("var/lib/dpkg/status", aged.as_bytes()).build()),
        Compression::Gzip,
        "RUN apt-get install --allow-downgrades libssl1.1=1.1.1k-1+deb11u1",
    );
    let npm = base().layer(
        LayerContent::Bytes(tarball_layer(&fixture("npm-app/node_modules.tar.gz"))),
        Compression::Gzip,
        "COPY app /app",
    );
    let mut site = TarBuilder::new();
    for (rel, bytes) in files_under(&fixture("python-site")).into_iter().filter(|(rel, _)| rel != ".done") {
        site = site.file(&format!("{SITE}/{rel}"), &bytes);
    }
    let python =
        base().layer(LayerContent::Bytes(site.build()), Compression::Gzip, "RUN pip install -r requirements.txt");
    let go = ImageBuilder::new().layer(
        LayerContent::Bytes(
            TarBuilder::new()
                .executable("usr/local/bin/goapp", &std::fs::read(fixture("binaries/goapp")).unwrap())
                .build(),
        ),
        Compression::Gzip,
        "COPY goapp /usr/local/bin/",
    );
    let key_id = format!("AKIA{}", random_chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    let secret_key = random_chars("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/", 40);
    let pem = Command::new("openssl").args(["genrsa", "2048"]).output().expect("openssl").stdout;
    let env = format!("AWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret_key}\n");
    let secrets = base()
        .layer(
            LayerContent::Bytes(
                TarBuilder::new().file("app/.env", env.as_bytes()).file("app/keys/server.key", &pem).build(),
            ),
            Compression::Gzip,
            "COPY . /app",
        )
        .layer(
            LayerContent::Bytes(TarBuilder::new().whiteout("app/keys/server.key").build()),
            Compression::Zstd,
            "RUN rm /app/keys/server.key",
        );
    let password = format!("pw-{}", random_chars("abcdefghijklmnopqrstuvwxyz0123456789", 20));
    let root_env = base()
        .step(&format!("ENV DB_PASSWORD={password}"))
        .layer(
            LayerContent::Bytes(TarBuilder::new().file("app/server.sh", b"#!/bin/sh\nexec sleep infinity\n").build()),
            Compression::Gzip,
            "COPY app /app",
        )
        .runtime(
            "Env",
            json!([
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                format!("DB_PASSWORD={password}")
            ]),
        )
        .runtime("Cmd", json!(["/app/server.sh"]));
    let images = [
        ("debian", debian),
        ("npm", npm),
        ("python", python),
        ("go", go),
        ("secrets", secrets),
        ("root-env", root_env),
    ];
    let layout = tmp.join("layout");
    images
        .into_iter()
        .map(|(what, image)| {
            image.write_layout(&layout, what);
            registry.push(&layout, what, &format!("corpus/{what}:1"), &[]);
            (what, format!("{}/corpus/{what}:1", registry.host()))
        })
        .collect()
}

fn build_db(bins: &Bins, dir: &Path) -> PathBuf {
    let subsets = fixtures::repo_root().join("scanner/tests/fixtures");
    let out = dir.join("strata.db");
    let mut cmd = Command::new(&bins.strata);
    cmd.args(["db", "build", "--out"]).arg(&out).arg("--osv").arg(minbase_osv()).args([
        subsets.join("npm/osv-npm-subset.jsonl.gz"),
        subsets.join("python/osv-pypi-subset.jsonl.gz"),
        subsets.join("binary/osv-binaries.jsonl.gz"),
    ]);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    out
}

/// `strata submit --wait` of every reference with `args`: the scan ids, in order.
fn submit(fleet: &Fleet, env: &[(&str, &str)], references: &[String], args: &[String]) -> Vec<String> {
    let mut cmd = fleet.strata();
    cmd.envs(env.iter().copied()).args(["submit", "--wait"]).args(args).args(references);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "submit: {out}\n{err}\n{}", fleet.logs());
    out.lines().map(|l| l.split('\t').next().unwrap_or_default().to_string()).collect()
}

fn results(fleet: &Fleet, env: &[(&str, &str)], id: &str, format: &str, extra: &[&str]) -> String {
    let mut cmd = fleet.strata();
    cmd.envs(env.iter().copied()).args(["results", id, "--format", format]).args(extra);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "results {id} --format {format}: {err}");
    out
}

/// `strata image` of `reference`; the layer cache on the machine's Redis under its own prefix, so the
/// corpus's layers are analysed once for all the formats (the report is made after the cache either way).
fn local(bins: &Bins, prefix: &str, reference: &str, format: &str, args: &[String]) -> String {
    let mut cmd = Command::new(&bins.strata);
    cmd.env("STRATA_KEY_PREFIX", prefix)
        .env("NO_COLOR", "1")
        .args(["image", reference, "--quiet", "--format", format, "--cache", "redis://127.0.0.1:6379"])
        .args(args);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "strata image {reference} --format {format}: {err}");
    out
}

/// A document with its creation times replaced (SPDX `created`, and any RFC 3339 instant).
fn normalised(format: &str, text: &str) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => *s = "<time>".into(),
            Value::Array(items) => items.iter_mut().for_each(walk),
            Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    if format == "table" {
        return Value::String(text.to_string());
    }
    let mut value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{format} is not JSON ({e}): {text}"));
    walk(&mut value);
    value
}

/// An ignore file and a VEX document made from what the reports found, so each suppresses something real:
/// a Debian advisory and an npm one by VEX, a secret rule and an image-config check by the ignore file.
fn policy_documents(reports: &[(&str, Value)], dir: &Path) -> (PathBuf, PathBuf) {
    let of = |what: &str| &reports.iter().find(|(w, _)| *w == what).unwrap().1;
    let first_finding = |report: &Value| {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["findings"].as_array().unwrap())
            .next()
            .unwrap_or_else(|| panic!("no finding: {report}"))
            .clone()
    };
    let (deb, npm) = (first_finding(of("debian")), first_finding(of("npm")));
    // The first `key` of the first entry of a `list` (`secrets`, `misconfigurations`) in any result.
    let first = |report: &Value, list: &str, key: &str| {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r[list].as_array().into_iter().flatten())
            .find_map(|s| s[key].as_str().map(String::from))
            .unwrap_or_else(|| panic!("no {list}: {report}"))
    };
    let secret_rule = first(of("secrets"), "secrets", "rule_id");
    let check = first(of("root-env"), "misconfigurations", "id");
    let ignore = dir.join("accepted.yaml");
    std::fs::write(
        &ignore,
        format!(
            "ignore:\n  - id: {secret_rule}\n    reason: test credentials\n  - id: {check}\n    reason: a test image\n"
        ),
    )
    .unwrap();
    let statement = |f: &Value| {
        json!({"vulnerability": {"name": f["id"]}, "products": [{"@id": f["purl"]}], "status": "not_affected",
               "justification": "vulnerable_code_not_in_execute_path"})
    };
    let vex = dir.join("app.openvex.json");
    let document = json!({"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex-1",
        "author": "test", "timestamp": "2024-01-01T00:00:00Z", "version": 1,
        "statements": [statement(&deb), statement(&npm)]});
    std::fs::write(&vex, document.to_string()).unwrap();
    (ignore, vex)
}

fn suppressed(report: &Value) -> usize {
    report["results"].as_array().unwrap().iter().map(|r| r["suppressed"].as_array().map_or(0, Vec::len)).sum()
}

#[test]
fn fleet_reports_equal_local_reports_in_every_format_with_and_without_policy() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let corpus = corpus(&registry, tmp.path());
    let references: Vec<String> = corpus.iter().map(|(_, r)| r.clone()).collect();
    let db = build_db(&bins, tmp.path());
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, "one-report-token").unwrap();
    let fleet = Fleet::start(bins.clone(), &db, 2, &[("STRATA_TOKEN_FILE", token_file.to_str().unwrap())]);
    let env = [("STRATA_TOKEN", "one-report-token")];
    let cache_prefix = format!("{}:local", fleet.prefix);
    let db_arg = vec!["--db".to_string(), db.display().to_string()];
    let scanners = vec!["--scanners".to_string(), SCANNERS.to_string()];

    let plain = submit(&fleet, &env, &references, &scanners);
    let reports: Vec<(&str, Value)> = corpus
        .iter()
        .zip(&plain)
        .map(|((what, _), id)| (*what, serde_json::from_str(&results(&fleet, &env, id, "json", &[])).unwrap()))
        .collect();
    let (ignore, vex) = policy_documents(&reports, tmp.path());
    let policy =
        vec!["--ignorefile".to_string(), ignore.display().to_string(), "--vex".to_string(), vex.display().to_string()];
    let with_policy = submit(&fleet, &env, &references, &[scanners.clone(), policy.clone()].concat());

    let mut compared = 0;
    for (ids, extra) in [(&plain, Vec::new()), (&with_policy, policy.clone())] {
        for ((what, reference), id) in corpus.iter().zip(ids) {
            for format in FORMATS {
                let local_args = [scanners.clone(), db_arg.clone(), extra.clone()].concat();
                let here = local(&bins, &cache_prefix, reference, format, &local_args);
                let there = results(&fleet, &env, id, format, &[]);
                assert_eq!(
                    normalised(format, &there),
                    normalised(format, &here),
                    "{what} --format {format} (policy: {})",
                    !extra.is_empty()
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 2 * corpus.len() * FORMATS.len());

    // The policy suppressed something real in the fleet, in each of its kinds.
    let suppressed_of = |what: &str| {
        let i = corpus.iter().position(|(w, _)| *w == what).unwrap();
        suppressed(&serde_json::from_str(&results(&fleet, &env, &with_policy[i], "json", &[])).unwrap())
    };
    for what in ["debian", "npm", "secrets", "root-env"] {
        assert!(suppressed_of(what) > 0, "{what}: nothing suppressed");
    }

    for ((what, _), id) in corpus.iter().zip(&plain) {
        // `strata results --format cyclonedx` lists every package the scan found.
        let all: Value = serde_json::from_str(&results(&fleet, &env, id, "json", &["--list-all-pkgs"])).unwrap();
        let packages: BTreeSet<String> = all["results"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["package_list"].as_array().into_iter().flatten())
            .map(|p| p["purl"].as_str().unwrap().to_string())
            .collect();
        let sbom: Value = serde_json::from_str(&results(&fleet, &env, id, "cyclonedx", &[])).unwrap();
        let components: BTreeSet<String> = sbom["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["purl"].as_str().map(String::from))
            .collect();
        let missing: Vec<_> = packages.difference(&components).collect();
        assert!(missing.is_empty(), "{what}: cyclonedx leaves out {missing:?}");
        assert!(!packages.is_empty(), "{what}: no package listed");

        // The Harbor adapter's SBOM of the scan is the local SBOM.
        for (media_type, format) in [("application/vnd.cyclonedx+json", "cyclonedx"), ("application/spdx+json", "spdx")]
        {
            let path = format!(
                "/api/v1/scan/{id}/report?sbom_media_type={}",
                media_type.replace('/', "%2F").replace('+', "%2B")
            );
            let headers = [
                ("Authorization", "Bearer one-report-token"),
                ("Accept", "application/vnd.security.sbom.report+json; version=1.0"),
            ];
            let response = fleet.http("GET", &path, &headers, &[]).unwrap();
            assert_eq!(response.status, 200, "{}", response.text());
            let harbor: Value = serde_json::from_slice(&response.body).unwrap();
            let reference = &corpus.iter().find(|(w, _)| w == what).unwrap().1;
            let here = local(&bins, &cache_prefix, reference, format, &[scanners.clone(), db_arg.clone()].concat());
            assert_eq!(
                normalised(format, &harbor["sbom"].to_string()),
                normalised(format, &here),
                "{what}: Harbor's {format} SBOM"
            );
        }
    }
}

#[test]
fn scans_that_need_no_db_run_without_one_locally_and_in_the_fleet() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    let rootfs = Rootfs::bullseye();
    let key_id = format!("AKIA{}", random_chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(LayerContent::TarFile(rootfs.tar.clone()), Compression::Gzip, "ADD bullseye-minbase /")
        .layer(
            LayerContent::Bytes(
                TarBuilder::new().file("app/.env", format!("AWS_ACCESS_KEY_ID={key_id}\n").as_bytes()).build(),
            ),
            Compression::Gzip,
            "COPY . /app",
        )
        .write_layout(&layout, "1");
    registry.push(&layout, "1", "nodb/app:1", &[]);
    let reference = format!("{}/nodb/app:1", registry.host());
    // No DB anywhere: not given, and none at the default location (an empty HOME).
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();

    let local = |scanners: &str| {
        let mut cmd = Command::new(&bins.strata);
        cmd.env("HOME", &home).env_remove("XDG_CACHE_HOME").env_remove("STRATA_CACHE_DIR").args([
            "image",
            &reference,
            "--quiet",
            "--format",
            "json",
            "--scanners",
            scanners,
        ]);
        run(cmd)
    };
    let (code, out, err) = local("secret,misconfig");
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert!(out.contains("aws-access-key-id"), "{out}");
    assert_eq!(report["db"]["content_digest"], "", "a scan without the vuln scanner names no DB");
    let (code, _, err) = local("vuln,secret");
    assert_ne!(code, 0, "a vuln scan without a DB must fail");
    assert!(err.contains("no vulnerability DB"), "{err}");

    let fleet = Fleet::start(bins.clone(), Path::new(""), 1, &[]);
    let mut cmd = fleet.strata();
    cmd.args(["submit", "--wait", "--scanners", "secret,misconfig", &reference]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{out}\n{err}\n{}", fleet.logs());
    let id = out.split('\t').next().unwrap().to_string();
    let there = results(&fleet, &[], &id, "json", &[]);
    assert_eq!(normalised("json", &there), normalised("json", &out_of(local("secret,misconfig"))));

    let mut cmd = fleet.strata();
    cmd.args(["submit", "--wait", &reference]);
    let (code, out, _) = run(cmd);
    assert_eq!(code, 2, "a vuln scan on a fleet without a DB fails: {out}");
    assert!(out.contains("no vulnerability DB"), "{out}");
}

fn out_of((code, out, err): (i32, String, String)) -> String {
    assert_eq!(code, 0, "{err}");
    out
}
