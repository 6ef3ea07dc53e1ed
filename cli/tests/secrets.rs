//! Acceptance: planted secrets in a real image, scanned by the real `strata` binary. The image is the
//! debootstrapped bullseye root filesystem, an app layer with freshly generated credentials (random bytes,
//! `openssl genrsa`, `ssh-keygen`), and a layer that deletes one of the files with a whiteout. Every planted
//! secret must be reported (the deleted one as still in the image), none on the base, and no secret may
//! appear in stdout, stderr or the JSON.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::process::Command;

use common::*;
use serde_json::Value;
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::tarball::TarBuilder;

fn random(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).expect("/dev/urandom");
    buf
}

fn chars(alphabet: &str, n: usize) -> String {
    let a = alphabet.as_bytes();
    random(n).iter().map(|b| a[*b as usize % a.len()] as char).collect()
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().expect("key generator");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

struct Planted {
    path: &'static str,
    rule: &'static str,
    line: u64,
    /// What must never be printed: the credential itself (for keys, a line of the key body).
    secret: String,
}

#[test]
fn planted_secrets_are_found_masked_and_deleted_ones_still_reported() {
    let rootfs = Rootfs::bullseye();
    let tmp = tempfile::tempdir().unwrap();

    let key_id = format!("AKIA{}", chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    let secret_key = chars(&format!("{ALNUM}+/"), 40);
    let db_password = format!("{}-{}", chars(ALNUM, 14), chars("0123456789", 4));
    let npm_token = format!("npm_{}", chars(ALNUM, 36));
    let registry_auth = output(Command::new("openssl").args(["rand", "-base64", "30"])).trim().to_string();
    let pem = output(Command::new("openssl").args(["genrsa", "2048"]));
    let ssh_dir = tmp.path().join("ssh");
    std::fs::create_dir(&ssh_dir).unwrap();
    output(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(ssh_dir.join("id")));
    let openssh = std::fs::read_to_string(ssh_dir.join("id")).unwrap();
    let body = |key: &str| key.lines().nth(1).expect("key body").to_string();

    let env = format!(
        "# production settings\nAWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret_key}\nDB_PASSWORD={db_password}\n"
    );
    let docker = format!(
        "{{\n  \"auths\": {{\n    \"registry.internal\": {{\n      \"auth\": \"{registry_auth}\"\n    }}\n  }}\n}}\n"
    );
    let npmrc = format!("registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={npm_token}\n");
    let planted = [
        Planted { path: "/app/.env", rule: "aws-access-key-id", line: 2, secret: key_id.clone() },
        Planted { path: "/app/.env", rule: "aws-secret-access-key", line: 3, secret: secret_key.clone() },
        Planted { path: "/app/.env", rule: "generic-secret", line: 4, secret: db_password.clone() },
        Planted { path: "/root/.docker/config.json", rule: "docker-config-auth", line: 4, secret: registry_auth },
        Planted { path: "/root/.npmrc", rule: "npm-token", line: 2, secret: npm_token },
        Planted { path: "/app/keys/server.key", rule: "private-key", line: 1, secret: body(&pem) },
        Planted { path: "/home/deploy/.ssh/id_ed25519", rule: "private-key", line: 1, secret: body(&openssh) },
    ];
    let app = TarBuilder::new()
        .file("app/.env", env.as_bytes())
        .file("root/.docker/config.json", docker.as_bytes())
        .file("root/.npmrc", npmrc.as_bytes())
        .file("app/keys/server.key", pem.as_bytes())
        .file("home/deploy/.ssh/id_ed25519", openssh.as_bytes());
    let cleanup = TarBuilder::new().whiteout("app/keys/server.key");

    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(LayerContent::TarFile(rootfs.tar.clone()), Compression::Gzip, "ADD bullseye-minbase /")
        .layer(LayerContent::Bytes(app.build()), Compression::Gzip, "COPY . /")
        .layer(LayerContent::Bytes(cleanup.build()), Compression::Zstd, "RUN rm /app/keys/server.key")
        .write_layout(&layout, "1.0");
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let input = format!("{}:1.0", layout.display());
    let scan = |format: &str| {
        let mut cmd = strata();
        cmd.env("RUST_LOG", "trace").args([
            "image",
            "--input",
            &input,
            "--db",
            db.to_str().unwrap(),
            "--format",
            format,
            "--quiet",
        ]);
        let out = run(&mut cmd);
        assert_eq!(out.code, 0, "strata image --format {format}: {}", out.stderr);
        out
    };
    let json = scan("json");
    let table = scan("table");

    let report = json.json();
    let secret_results: Vec<&Value> =
        report["results"].as_array().unwrap().iter().filter(|r| r["class"] == "secret").collect();
    let found: BTreeSet<(String, String, u64)> = secret_results
        .iter()
        .flat_map(|r| r["secrets"].as_array().unwrap())
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["rule_id"].as_str().unwrap().to_string(),
                s["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, u64)> =
        planted.iter().map(|p| (p.path.to_string(), p.rule.to_string(), p.line)).collect();
    // Equality: everything planted is found, and nothing else (the bullseye base has no secrets).
    assert_eq!(found, expected);

    for result in &secret_results {
        assert_eq!(result["target"], result["secrets"][0]["path"]);
        for s in result["secrets"].as_array().unwrap() {
            let deleted = s["path"] == "/app/keys/server.key";
            assert_eq!(s["layer"]["index"], 1, "{s}");
            assert_eq!(s["layer"]["created_by"], "COPY . /");
            assert_eq!(s["deleted_in"]["index"].as_u64(), deleted.then_some(2), "{s}");
        }
    }
    for shown in ["/app/.env", "/app/keys/server.key", "aws-access-key-id", "deleted in layer 2, still in the image"] {
        assert!(table.stdout.contains(shown), "the table shows {shown:?}:\n{}", table.stdout);
    }
    assert!(table.stdout.contains(&format!("AWS_ACCESS_KEY_ID={}****************", &key_id[..4])), "{}", table.stdout);

    for out in [&json, &table] {
        for p in &planted {
            assert!(!out.stdout.contains(&p.secret), "{} of {} printed unmasked", p.rule, p.path);
            assert!(!out.stderr.contains(&p.secret), "{} of {} logged unmasked", p.rule, p.path);
        }
    }
}
