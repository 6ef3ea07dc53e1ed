//! The built-in rules on real third-party code (`scripts/fixtures.d/secrets-corpus.sh`): the most
//! downloaded PyPI packages with several major versions of the web frameworks and HTTP clients, popular npm
//! packages, Debian's Ruby gems and a Debian base, each as one layer, under an app layer of planted secrets
//! and a layer that deletes one of them. Every finding must be a planted secret and every planted secret
//! must be found: a rule change that trades recall for silence, or silence for noise, fails here.

use std::collections::BTreeSet;
use std::io::{BufReader, Read};
use std::path::Path;

use super::tests::{ALNUM, chars, digest_of, files, layer_ref, plants, tar_of};
use crate::layer::{LayerInventory, analyze_layer};

const CORPUS: &[&str] = &[
    "bullseye-minbase.tar",
    "secrets-corpus-v1/python.tar",
    "secrets-corpus-v1/npm.tar",
    "secrets-corpus-v1/ruby.tar",
];

/// Streams the tar twice (digest, then analysis) rather than holding half a gigabyte in memory.
fn analyze_file(path: &Path) -> (LayerInventory, String, usize) {
    use sha2::{Digest, Sha256};
    let open = || {
        std::fs::File::open(path).unwrap_or_else(|e| {
            panic!("{}: {e}: run scripts/fixtures.sh (the README's test command does)", path.display())
        })
    };
    let (mut hasher, mut file, mut buf, mut size) = (Sha256::new(), open(), vec![0; 1 << 20], 0);
    loop {
        let n = file.read(&mut buf).expect("read corpus");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n;
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    let inventory = analyze_layer(BufReader::new(open()), &digest).expect("corpus layer");
    assert!(inventory.incomplete.is_empty(), "{}: {:?}", path.display(), inventory.incomplete);
    (inventory, digest, size)
}

#[test]
fn real_third_party_code_has_no_secrets_and_every_planted_one_is_found() {
    let dir = strata_testkit::fixtures::dir();
    let mut layers = Vec::new();
    let mut inventories = Vec::new();
    for (index, name) in CORPUS.iter().enumerate() {
        let (inventory, digest, size) = analyze_file(&dir.join(name));
        assert!(inventory.stats.entries > 2000, "{name}: {} entries", inventory.stats.entries);
        layers.push(layer_ref(index, &digest, size));
        inventories.push(inventory);
    }

    // The app on top: the planted files of every rule family, and the configs the frameworks in the corpus
    // generate, with a real value (Django's `startproject` writes `SECRET_KEY = 'django-insecure-…'`).
    let plants = plants();
    let mut app = files(&plants);
    let django = format!("SECRET_KEY = 'django-insecure-{}'\n", chars(&format!("{ALNUM}!@#%^&*(-_=+)"), 50));
    let flask =
        format!("import os\n\nclass Config:\n    SECRET_KEY = \"{}{}\"\n", chars(ALNUM, 30), chars("0123456789", 2));
    app.push(("app/mysite/settings.py", django));
    app.push(("app/config.py", flask));
    let entries: Vec<(&str, &[u8], u32)> = app.iter().map(|(p, c)| (*p, c.as_bytes(), 0o644)).collect();
    let deleted = "root/.ssh/id_ed25519";
    let whiteout = "root/.ssh/.wh.id_ed25519";
    for blob in [tar_of(&entries), tar_of(&[(whiteout, b"", 0o644)])] {
        let digest = digest_of(&blob);
        layers.push(layer_ref(layers.len(), &digest, blob.len()));
        inventories.push(analyze_layer(&blob[..], &digest).expect("app layer"));
    }
    let app_layer = CORPUS.len();

    let mut expected: BTreeSet<(String, String, u32, usize, Option<usize>)> = plants
        .iter()
        .map(|p| {
            let deleted_in = (p.path == deleted).then_some(app_layer + 1);
            (format!("/{}", p.path), p.rule.to_string(), p.line, app_layer, deleted_in)
        })
        .collect();
    expected.insert(("/app/mysite/settings.py".into(), "generic-secret".into(), 1, app_layer, None));
    expected.insert(("/app/config.py".into(), "generic-secret".into(), 4, app_layer, None));

    let image = crate::merge::merge(&layers, &inventories);
    let found: BTreeSet<_> = image
        .secrets
        .iter()
        .map(|s| (s.path.clone(), s.rule_id.clone(), s.line, s.layer.index, s.deleted_in.as_ref().map(|l| l.index)))
        .collect();
    let missed: Vec<_> = expected.difference(&found).collect();
    let unexpected: Vec<_> = found.difference(&expected).filter(|f| f.3 >= app_layer).collect();
    let false_findings: Vec<String> = image
        .secrets
        .iter()
        .filter(|s| s.layer.index < app_layer)
        .map(|s| format!("{} {}:{} {}", s.rule_id, s.path, s.line, s.masked))
        .collect();
    let mut per_rule = std::collections::BTreeMap::<&str, usize>::new();
    for s in image.secrets.iter().filter(|s| s.layer.index < app_layer) {
        *per_rule.entry(s.rule_id.as_str()).or_default() += 1;
    }
    assert!(
        missed.is_empty() && unexpected.is_empty() && false_findings.is_empty(),
        "missed {missed:#?}\nunexpected in the app layer {unexpected:#?}\nfalse findings per rule {per_rule:?}:\n{}",
        false_findings.join("\n")
    );
}
