//! Table tests on real files: lockfiles written by poetry 2.5.1, uv 0.13.9 and pipenv 2026.10.3, a
//! requirements file from `uv pip compile`, METADATA from `pip install` (see tests/fixtures/python/README.md).

use super::*;
use crate::analyze::FileContent;
use crate::merge::{ImageInventory, InstalledPackage, LayerOrigin};
use crate::package::Package;

fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/python/");
    std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn packages(kind: Kind, path: &str, bytes: &[u8]) -> Vec<Package> {
    match analyze(kind, path, bytes) {
        Ok(FileContent::Packages { packages, group: None }) => packages,
        other => panic!("{path}: {other:?}"),
    }
}

fn find<'a>(packages: &'a [Package], name: &str, version: &str) -> &'a Package {
    packages
        .iter()
        .find(|p| p.name == name && p.version == version)
        .unwrap_or_else(|| panic!("{name} {version} missing from {packages:#?}"))
}

#[test]
fn classify_table() {
    let table = [
        ("usr/local/lib/python3.9/site-packages/requests-2.19.1.dist-info/METADATA", Some(Kind::Installed)),
        ("usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO", Some(Kind::Installed)),
        ("usr/lib/python3/dist-packages/python_apt-2.2.1.egg-info", Some(Kind::Installed)),
        ("opt/venv/lib/python3.11/site-packages/foo-1.0-py3.11.egg/EGG-INFO/PKG-INFO", Some(Kind::Installed)),
        ("usr/local/lib/python3.9/site-packages/requests-2.19.1.dist-info/RECORD", None),
        // Vendored copies and lockfiles that packages ship are not what the image installed.
        ("usr/lib/python3/dist-packages/setuptools/_vendor/packaging-24.0.dist-info/METADATA", None),
        ("usr/local/lib/python3.9/site-packages/pkg/tests/poetry.lock", None),
        ("usr/lib/python3/dist-packages/six-1.16.0.egg-info/top_level.txt", None),
        ("app/poetry.lock", Some(Kind::PoetryLock)),
        ("app/uv.lock", Some(Kind::UvLock)),
        ("srv/Pipfile.lock", Some(Kind::PipfileLock)),
        ("app/requirements.txt", Some(Kind::Requirements)),
        ("app/requirements-dev.txt", Some(Kind::Requirements)),
        ("app/requirements.in", None),
        ("app/node_modules/x/requirements.txt", None),
        ("app/Pipfile", None),
    ];
    for (path, want) in table {
        assert_eq!(classify(path), want, "{path}");
        assert_eq!(crate::analyze::classify(path), want.map(crate::analyze::FileKind::Python), "{path}");
    }
}

#[test]
fn installed_metadata_groups_into_its_directory() {
    let path = "usr/local/lib/python3.9/site-packages/pyyaml-5.3.1.dist-info/METADATA";
    match analyze(Kind::Installed, path, &fixture("PyYAML-5.3.1.METADATA")) {
        Ok(FileContent::Packages { packages, group }) => {
            assert_eq!(group.as_deref(), Some("/usr/local/lib/python3.9/site-packages"));
            assert_eq!((packages[0].name.as_str(), packages[0].version.as_str()), ("PyYAML", "5.3.1"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn poetry_lock() {
    let got = packages(Kind::PoetryLock, "app/poetry.lock", &fixture("poetry.lock"));
    assert_eq!(got.len(), 17);
    // (name, version, dev, paths)
    let table: &[(&str, &str, bool, &[&str])] = &[
        ("requests", "2.19.1", false, &[]),
        ("urllib3", "1.22", false, &["requests@2.19.1 › urllib3@1.22"]),
        ("markupsafe", "3.0.4", false, &["jinja2@2.10 › markupsafe@3.0.4"]),
        ("pyyaml", "5.3.1", false, &[]),
        ("pytest", "7.0.0", true, &[]),
        ("tomli", "2.5.0", true, &["pytest@7.0.0 › tomli@2.5.0"]),
        ("colorama", "0.4.6", true, &["pytest@7.0.0 › colorama@0.4.6"]),
    ];
    for (name, version, dev, paths) in table {
        let p = find(&got, name, version);
        assert_eq!(p.dev, *dev, "{name}");
        assert_eq!(p.dependency_paths, *paths, "{name}");
    }
}

#[test]
fn uv_lock() {
    let got = packages(Kind::UvLock, "app/uv.lock", &fixture("uv.lock"));
    // 21 entries less the virtual project itself, which roots the paths instead.
    assert_eq!(got.len(), 20);
    assert!(got.iter().all(|p| p.name != "acme-api"));
    let table: &[(&str, &str, bool, &[&str])] = &[
        ("requests", "2.19.1", false, &["acme-api@0.1.0 › requests@2.19.1"]),
        ("urllib3", "1.23", false, &["acme-api@0.1.0 › requests@2.19.1 › urllib3@1.23"]),
        ("markupsafe", "3.0.4", false, &["acme-api@0.1.0 › jinja2@2.10 › markupsafe@3.0.4"]),
        ("pytest", "3.6.0", true, &["acme-api@0.1.0 › pytest@3.6.0"]),
        // Resolution forks: each version is reached through its own versioned edge.
        ("more-itertools", "10.8.0", true, &["acme-api@0.1.0 › pytest@3.6.0 › more-itertools@10.8.0"]),
        ("setuptools", "84.2.1", true, &["acme-api@0.1.0 › pytest@3.6.0 › setuptools@84.2.1"]),
    ];
    for (name, version, dev, paths) in table {
        let p = find(&got, name, version);
        assert_eq!(p.dev, *dev, "{name}");
        assert_eq!(p.dependency_paths, *paths, "{name}");
    }
}

#[test]
fn pipfile_lock() {
    let got = packages(Kind::PipfileLock, "app/Pipfile.lock", &fixture("Pipfile.lock"));
    let mut seen: Vec<(&str, &str, bool)> = got.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.dev)).collect();
    seen.sort();
    assert_eq!(seen.len(), 14);
    for want in [("requests", "2.19.1", false), ("urllib3", "1.23", false), ("pytest", "7.0.0", true)] {
        assert!(seen.contains(&want), "{want:?} in {seen:?}");
    }
}

#[test]
fn requirements_txt() {
    // Real `uv pip compile --generate-hashes` output: backslash-continued hash lists and `# via` comments.
    let got = packages(Kind::Requirements, "app/requirements.txt", &fixture("requirements.txt"));
    let seen: Vec<(&str, &str)> = got.iter().map(|p| (p.name.as_str(), p.version.as_str())).collect();
    assert_eq!(seen, [("django", "2.2"), ("pytz", "2026.6"), ("sqlparse", "0.5.5"), ("urllib3", "1.24.1")]);

    // pip's own syntax forms: only exact pins of a release count.
    let forms = "-r base.txt\n--index-url https://example.org/simple\n-e ./local\n# a comment\n\
        requests[socks]==2.19.1 ; python_version >= \"3\"  # pinned\nflask>=1.0\nDjango\nzope.interface===5.0\n\
        attrs==21.*\nsix==1.16.0 --hash=sha256:00\npkg @ https://example.org/pkg.whl\n";
    let got = packages(Kind::Requirements, "app/requirements-dev.txt", forms.as_bytes());
    let seen: Vec<(&str, &str)> = got.iter().map(|p| (p.name.as_str(), p.version.as_str())).collect();
    assert_eq!(seen, [("requests", "2.19.1"), ("six", "1.16.0")]);
}

#[test]
fn bad_lockfiles_are_errors_not_panics() {
    let deep = "a = ".to_string() + &"[".repeat(100_000);
    let cases: &[(Kind, &[u8])] = &[
        (Kind::PoetryLock, b"[[package]]\nname = \"x\"\n"), // no version
        (Kind::PoetryLock, deep.as_bytes()),
        (Kind::UvLock, b"\xff\xfe not utf-8"),
        (Kind::UvLock, &fixture("uv.lock")[..4000]), // truncated
        (Kind::PipfileLock, b"{\"default\": {\"x\": "),
        (Kind::PipfileLock, b"<html>not json</html>"),
        (Kind::Requirements, b"\0\0\0\x7fELF"),
    ];
    for (kind, bytes) in cases {
        let r = analyze(*kind, "app/lock", bytes);
        assert!(r.is_err(), "{kind:?}: {r:?}");
    }
}

fn installed(dir: &str, file: &str) -> InstalledPackage {
    let path = format!("{dir}/{file}/METADATA");
    let FileContent::Packages { packages, group } = analyze(Kind::Installed, &path, &fixture(file)).unwrap() else {
        panic!("{file}")
    };
    InstalledPackage {
        package: packages.into_iter().next().unwrap(),
        path: format!("/{path}"),
        target: group.unwrap(),
        layer: LayerOrigin { index: 0, diff_id: "sha256:00".into(), created_by: None },
    }
}

#[test]
fn post_merge_paths_from_requires_dist() {
    let dir = "usr/local/lib/python3.9/site-packages";
    let other = "usr/lib/python3/dist-packages";
    let mut inventory = ImageInventory {
        os: None,
        packages: vec![
            installed(dir, "requests-2.19.1.METADATA"),
            installed(dir, "urllib3-1.23.METADATA"),
            installed(dir, "idna-2.7.METADATA"),
            installed(dir, "Jinja2-2.10.METADATA"),
            installed(dir, "MarkupSafe-3.0.4.METADATA"),
            installed(dir, "PyYAML-5.3.1.METADATA"),
            // A requirement in another directory is no edge: each directory is its own graph.
            installed(other, "requests-2.19.1.METADATA"),
        ],
        warnings: vec![],
        incomplete: vec![],
        secrets: vec![],
        layer_facts: vec![],
    };
    post_merge(&mut inventory.packages);
    let paths = |i: usize| inventory.packages[i].package.dependency_paths.clone();
    assert_eq!(paths(0), Vec::<String>::new(), "a top-level distribution");
    assert_eq!(paths(1), ["requests@2.19.1 › urllib3@1.23"]);
    assert_eq!(paths(2), ["requests@2.19.1 › idna@2.7"]);
    assert_eq!(paths(4), ["Jinja2@2.10 › MarkupSafe@3.0.4"]);
    assert_eq!(paths(5), Vec::<String>::new());
    assert_eq!(paths(6), Vec::<String>::new());
    assert!(inventory.packages.iter().all(|p| p.package.dependency_paths_cut == 0));
}
