use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::*;
use crate::image::{ImageConfig, LayerRef};
use crate::layer::analyze_layer;

fn image(config: Value, layer_sizes: &[i64]) -> ResolvedImage {
    let config: ImageConfig = serde_json::from_value(config).unwrap();
    let layers = layer_sizes
        .iter()
        .enumerate()
        .map(|(i, size)| LayerRef {
            index: i,
            descriptor: serde_json::from_value(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{i}"), "size": size})).unwrap(),
            diff_id: format!("sha256:{i}"),
            created_by: None,
        })
        .collect();
    ResolvedImage { name: "t".into(), manifest_digest: String::new(), config_digest: "sha256:c".into(), config, layers }
}

fn empty_inventory() -> ImageInventory {
    serde_json::from_value(json!({"os": null, "packages": [], "warnings": []})).unwrap()
}

fn ids(found: &[Misconfiguration]) -> Vec<&str> {
    let mut ids: Vec<&str> = found.iter().map(|m| m.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    ids
}

fn run(config: Value, facts: &[LayerFacts], base_layers: usize, sizes: &[i64]) -> Vec<Misconfiguration> {
    let image = image(config, sizes);
    let inventory = empty_inventory();
    check(&ImageChecks { image: &image, inventory: &inventory, facts, base_layers, size_limit: 1000 })
}

#[test]
fn config_and_history_rules() {
    let healthy = json!({"Healthcheck": {"Test": ["CMD", "true"]}});
    for (config, expected) in [
        (json!({"config": {"User": "app:app", "Healthcheck": {"Test": ["NONE"]}}}), vec![]),
        (json!({"config": {"Healthcheck": {"Test": ["NONE"]}}}), vec!["IMG001"]),
        (json!({"config": {"User": "0:0", "Healthcheck": {"Test": ["NONE"]}}}), vec!["IMG001"]),
        (json!({"config": {"User": "1000"}}), vec!["IMG004"]),
        (
            json!({"config": {"User": "1000", "ExposedPorts": {"22/tcp": {}}, "Healthcheck": healthy["Healthcheck"]}}),
            vec!["IMG003"],
        ),
        (
            json!({"config": {"User": "1000", "Env": ["DB_PASSWORD=hunter2", "PASSWORD_FILE=/run/secrets/pw"], "Labels": {"api_token": "t0ken"}, "Healthcheck": healthy["Healthcheck"]}}),
            vec!["IMG002"],
        ),
        (
            json!({"config": {"User": "1000", "Healthcheck": healthy["Healthcheck"]}, "history": [
                {"created_by": "/bin/sh -c #(nop) ADD https://example.org/tini /tini"},
                {"created_by": "RUN |1 NPM_TOKEN=npm_s3cr3t /bin/sh -c npm ci # buildkit"},
                {"created_by": "RUN /bin/sh -c curl -fsSL https://get.example.sh | sh # buildkit"},
                {"created_by": "/bin/sh -c #(nop)  ENV API_KEY=abc123", "empty_layer": true},
                {"created_by": "RUN /bin/sh -c curl -fsSLo /x https://example.org/x && sha256sum -c x.sha256 # buildkit"}
            ]}),
            vec!["IMG002", "IMG005", "IMG006"],
        ),
    ] {
        let found = run(config.clone(), &[], 0, &[10]);
        assert_eq!(ids(&found), expected, "{config}");
        let shown = serde_json::to_string(&found).unwrap();
        for secret in ["hunter2", "t0ken", "npm_s3cr3t", "abc123"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
    }
    let big = run(json!({"config": {"User": "1", "Healthcheck": healthy["Healthcheck"]}}), &[], 0, &[600, 600]);
    assert_eq!(ids(&big), ["IMG012"]);
}

/// A real layer walked by the engine: the facts come from its tar headers.
fn facts_of(entries: &[(&str, u32, &[u8])]) -> LayerFacts {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_cksum();
        builder.append_data(&mut header, path, *data).unwrap();
    }
    let bytes = builder.into_inner().unwrap();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    analyze_layer(bytes.as_slice(), &digest).unwrap().facts
}

#[test]
fn layer_facts_rules() {
    let base = facts_of(&[("usr/bin/passwd", 0o4755, b"elf"), ("etc/hostname", 0o644, b"x")]);
    let app = facts_of(&[
        ("usr/local/bin/helper", 0o4755, b"elf"),
        ("app/data.db", 0o666, b"db"),
        ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4", 0o644, &[0u8; 2048]),
    ]);
    let config = json!({"config": {"User": "1:1", "Healthcheck": {"Test": ["NONE"]}}});
    let found = run(config, &[base, app], 1, &[1, 1]);
    assert_eq!(ids(&found), ["IMG007", "IMG010", "IMG011"]);
    let setuid: Vec<&str> = found.iter().filter(|m| m.id == "IMG010").map(|m| m.message.as_str()).collect();
    assert_eq!(
        setuid,
        ["layer #1 adds 1 setuid/setgid files: /usr/local/bin/helper"],
        "the base layer's passwd is expected"
    );
}
