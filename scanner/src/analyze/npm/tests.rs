use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::*;

type Paths = BTreeMap<String, BTreeSet<String>>;
use crate::analyze::{Analysis, FileContent};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/npm").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `name@version` → every path to it, from the real `npm ls --all --json` of the installed app. npm prints a
/// repeated subtree once (a later `send@0.3.0` has no children), so the edges are collected from wherever a
/// package is expanded, then every path is enumerated by brute force.
fn oracle() -> BTreeMap<String, BTreeSet<String>> {
    fn edges(node: &serde_json::Value, from: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
        let Some(deps) = node["dependencies"].as_object() else { return };
        for (name, child) in deps {
            let label = format!("{name}@{}", child["version"].as_str().unwrap_or_default());
            out.entry(from.to_string()).or_default().insert(label.clone());
            edges(child, &label, out);
        }
    }
    fn enumerate(
        graph: &BTreeMap<String, BTreeSet<String>>,
        at: &str,
        path: &str,
        out: &mut BTreeMap<String, BTreeSet<String>>,
    ) {
        for child in graph.get(at).into_iter().flatten() {
            let path = format!("{path} › {child}");
            out.entry(child.clone()).or_default().insert(path.clone());
            enumerate(graph, child, &path, out);
        }
    }
    let tree: serde_json::Value = serde_json::from_slice(&fixture("npm-ls.json")).unwrap();
    let mut graph = BTreeMap::new();
    edges(&tree, "acme@1.0.0", &mut graph);
    let mut out = BTreeMap::new();
    enumerate(&graph, "acme@1.0.0", "acme@1.0.0", &mut out);
    out
}

fn packages(analysis: Analysis) -> Vec<Package> {
    assert_eq!(analysis.incomplete, None);
    match analysis.content {
        Some(FileContent::Packages { packages, .. }) => packages,
        other => panic!("not packages: {other:?}"),
    }
}

#[test]
fn classify_table() {
    let table = [
        ("app/package-lock.json", Some(Kind::PackageLock)),
        ("app/npm-shrinkwrap.json", Some(Kind::PackageLock)),
        ("yarn.lock", Some(Kind::YarnLock)),
        ("srv/web/pnpm-lock.yaml", Some(Kind::PnpmLock)),
        ("app/package.json", Some(Kind::Manifest)),
        ("app/node_modules/express/package.json", Some(Kind::Installed)),
        ("app/node_modules/@types/node/package.json", Some(Kind::Installed)),
        ("app/node_modules/send/node_modules/debug/package.json", Some(Kind::Installed)),
        ("usr/local/lib/node_modules/npm/package.json", Some(Kind::Installed)),
        ("usr/lib/node_modules/npm/node_modules/@npmcli/arborist/package.json", Some(Kind::Installed)),
        ("node_modules/x/package.json", Some(Kind::Installed)),
        // A package's own subdirectories, npm's hidden files, lockfiles shipped inside packages.
        ("app/node_modules/express/lib/package.json", None),
        ("app/node_modules/@types/package.json", None),
        ("app/node_modules/.package-lock.json", None),
        ("app/node_modules/.pnpm/lock.yaml", None),
        ("app/node_modules/some-lib/package-lock.json", None),
        ("app/node_modules/some-lib/yarn.lock", None),
        ("app/package-lock.json.bak", None),
    ];
    for (path, want) in table {
        assert_eq!(classify(path), want, "{path}");
    }
}

/// Rewrites the oracle's paths where another package manager resolved differently, re-keying by the last
/// package of each path.
fn resolved_as(
    oracle: &BTreeMap<String, BTreeSet<String>>,
    rewrites: &[(&str, &str)],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in oracle.values().flatten() {
        let path = rewrites.iter().fold(path.clone(), |p, (from, to)| p.replace(from, to));
        let last = path.rsplit(" › ").next().unwrap_or_default().to_string();
        out.entry(last).or_default().insert(path);
    }
    out
}

/// Every real lockfile gives the packages and the paths `npm ls` gives. pnpm and yarn 1 do not record the
/// application's name, and berry not its version, so their paths start at the directory (`app`) or name.
/// Yarn resolves `send`'s `fresh@~0.2.1` and `range-parser@~1.0.0` to the newest (0.2.4, 1.0.3) where npm
/// reuses the versions express pins (0.2.2, 1.0.0).
#[test]
fn lockfiles_match_npm_ls() {
    let npm = oracle();
    let yarn = resolved_as(
        &npm,
        &[
            ("send@0.3.0 › fresh@0.2.2", "send@0.3.0 › fresh@0.2.4"),
            ("send@0.3.0 › range-parser@1.0.0", "send@0.3.0 › range-parser@1.0.3"),
        ],
    );
    let table: [(&str, Kind, &str, bool, &Paths); 7] = [
        ("package-lock-v3.json", Kind::PackageLock, "acme@1.0.0", true, &npm),
        ("package-lock-v2.json", Kind::PackageLock, "acme@1.0.0", true, &npm),
        ("package-lock-v1.json", Kind::PackageLock, "acme@1.0.0", true, &npm),
        ("pnpm-lock-v6.yaml", Kind::PnpmLock, "app", true, &npm),
        ("pnpm-lock-v9.yaml", Kind::PnpmLock, "app", true, &npm),
        ("yarn-v1.lock", Kind::YarnLock, "app", false, &yarn),
        ("yarn-berry.lock", Kind::YarnLock, "acme", false, &yarn),
    ];
    for (file, kind, root, knows_dev, oracle) in table {
        let found = packages(analyze(kind, "app/lockfile", &fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}")));
        let got: BTreeMap<String, BTreeSet<String>> = found
            .iter()
            .map(|p| {
                let paths = p.dependency_paths.iter().map(|path| path.replacen(root, "acme@1.0.0", 1)).collect();
                (format!("{}@{}", p.name, p.version), paths)
            })
            .collect();
        let (got_ids, want_ids): (BTreeSet<_>, BTreeSet<_>) = (got.keys().collect(), oracle.keys().collect());
        assert_eq!(
            got_ids.symmetric_difference(&want_ids).collect::<Vec<_>>(),
            Vec::<&&String>::new(),
            "{file}: packages"
        );
        for (id, paths) in oracle {
            assert_eq!(&got[id], paths, "{file}: paths of {id}");
        }
        assert!(found.iter().all(|p| p.dependency_paths_cut == 0), "{file}");
        let dev: Vec<&str> = found.iter().filter(|p| p.dev).map(|p| p.name.as_str()).collect();
        assert_eq!(dev, if knows_dev { vec!["moment"] } else { vec![] }, "{file}: dev");
    }
}

#[test]
fn bad_lockfiles_are_errors() {
    // v1 nests the tree; a hostile one nests it 100,000 deep.
    let deep = format!(
        "{{\"lockfileVersion\":1,\"dependencies\":{}{{}}{}}}",
        "{\"a\":{\"dependencies\":".repeat(100_000),
        "}}".repeat(100_000)
    );
    let v3 = fixture("package-lock-v3.json");
    let table: [(Kind, &[u8], &str); 6] = [
        (Kind::PackageLock, b"<html>503 Service Unavailable</html>", "not a valid npm lockfile"),
        (Kind::PackageLock, deep.as_bytes(), "recursion limit"),
        (Kind::PackageLock, &v3[..v3.len() / 2], "EOF"),
        (Kind::PnpmLock, b"lockfileVersion: [unterminated", "not a valid pnpm-lock.yaml"),
        (Kind::PnpmLock, b"just: text\n", "no lockfileVersion"),
        (Kind::Installed, b"{\"name\": ", "not a valid package.json"),
    ];
    for (kind, bytes, want) in table {
        let err = analyze(kind, "app/node_modules/x/package.json", bytes).expect_err(want);
        assert!(err.contains(want), "{kind:?}: {err}");
    }
    assert!(analyze(Kind::YarnLock, "yarn.lock", b"\xff\xfe").is_err());
}

/// The real installed app (`scripts/fixtures.d/npm.sh`) as one image layer, optionally without its lockfile.
fn app_layer(with_lockfile: bool) -> Vec<u8> {
    let dir =
        std::env::var_os("STRATA_FIXTURES").map_or_else(|| PathBuf::from("/var/tmp/strata-fixtures"), PathBuf::from);
    let blob = dir.join("npm-app/node_modules.tar.gz");
    let file =
        std::fs::File::open(&blob).unwrap_or_else(|e| panic!("{}: {e}: run scripts/fixtures.sh", blob.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = tar::Builder::new(Vec::new());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if !with_lockfile && path.ends_with("app/package-lock.json") {
            continue;
        }
        let mut header = entry.header().clone();
        out.append_data(&mut header, &path, &mut entry).unwrap();
    }
    out.into_inner().unwrap()
}

fn scan(layer: &[u8]) -> crate::merge::ImageInventory {
    use sha2::Digest as _;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(layer)));
    let inventory = crate::layer::analyze_layer(layer, &digest).expect("layer");
    assert!(inventory.warnings.is_empty(), "{:?}", inventory.warnings);
    let layer_ref = crate::image::LayerRef {
        index: 0,
        descriptor: serde_json::from_value(serde_json::json!({"mediaType": "", "digest": digest, "size": 0})).unwrap(),
        diff_id: digest,
        created_by: None,
    };
    let mut image = crate::merge::merge(&[layer_ref], &[inventory]);
    let once = image.clone();
    crate::analyze::post_merge(&mut image.packages);
    assert_eq!(image, once, "merge ran the pass; a second one changes nothing");
    image
}

/// With and without the lockfile, every package once, with `npm ls`'s paths; the app itself is no package.
#[test]
fn installed_app_matches_npm_ls() {
    let oracle = oracle();
    for (with_lockfile, target) in [(true, "/app/package-lock.json"), (false, "/app/node_modules")] {
        let image = scan(&app_layer(with_lockfile));
        let npm: Vec<_> = image.packages.iter().filter(|p| p.package.kind == PackageKind::Npm).collect();
        let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for p in &npm {
            assert_eq!(p.target, target, "{p:?}");
            let id = format!("{}@{}", p.package.name, p.package.version);
            assert!(
                got.insert(id.clone(), p.package.dependency_paths.iter().cloned().collect()).is_none(),
                "{id} twice"
            );
        }
        assert_eq!(&got, &oracle, "lockfile: {with_lockfile}");
        let dev: Vec<&str> = npm.iter().filter(|p| p.package.dev).map(|p| p.package.name.as_str()).collect();
        assert_eq!(dev, ["moment"], "lockfile: {with_lockfile}");
    }
}
