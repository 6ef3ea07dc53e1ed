//! Acceptance: Python and Ruby packages in a real image. A bullseye image gets a layer with real old
//! releases installed by `pip install --target`, Debian bullseye's gem specifications, and lockfiles
//! written by poetry, uv, pipenv, `uv pip compile` and bundler. The real `strata` binary must find the
//! inventory that Python's `importlib.metadata`/`tomllib` and Ruby's own `Gem::Specification` and
//! `Bundler::LockfileParser` read, the advisories that `packaging.version` (PEP 440) and
//! `Gem::Requirement` select, and the dependency path of each transitive finding.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use common::*;
use serde_json::Value;
use strata_testkit::fixtures::{self, files_under};
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::tarball::TarBuilder;

const SITE: &str = "usr/local/lib/python3.9/site-packages";
const SPECS: &str = "usr/share/rubygems-integration/all/specifications";
/// (file under scanner/tests/fixtures, path in the image)
const LOCKFILES: [(&str, &str); 6] = [
    ("python/poetry.lock", "app/poetry.lock"),
    ("python/uv.lock", "srv/uv/uv.lock"),
    ("python/Pipfile.lock", "srv/pipenv/Pipfile.lock"),
    ("python/requirements.txt", "app/requirements.txt"),
    ("ruby/Gemfile.lock", "app/Gemfile.lock"),
    // Not read by Strata; Bundler's lockfile parser (the oracle) wants its Gemfile.
    ("ruby/Gemfile", "app/Gemfile"),
];

fn scanner_fixture(rel: &str) -> PathBuf {
    fixtures::repo_root().join("scanner/tests/fixtures").join(rel)
}

/// ../shared/vulndb when this machine has it, else the committed subsets of the same files.
fn osv_files() -> Vec<PathBuf> {
    match fixtures::shared_vulndb() {
        Some(shared) => vec![shared.join("osv-pypi.jsonl.gz"), shared.join("osv-rubygems.jsonl.gz")],
        None => vec![
            scanner_fixture("python/osv-pypi-subset.jsonl.gz"),
            scanner_fixture("ruby/osv-rubygems-subset.jsonl.gz"),
        ],
    }
}

/// The independent oracle (Python, calling Ruby for the RubyGems side). Prints one JSON object:
/// `inventory`: [target, name, version]; `findings`: [id, name, version, target].
const ORACLE: &str = r##"
import gzip, json, os, re, subprocess, sys, tomllib
from importlib.metadata import distributions
from pip._vendor.packaging.version import Version, InvalidVersion
from pip._vendor.packaging.requirements import Requirement

root, site, specs, lockdir = sys.argv[1:5]
osv_files = sys.argv[5:]
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
inv = []  # (target, name, version, ecosystem)
for d in distributions(path=[root + "/" + site]):
    inv.append(("/" + site, d.metadata["Name"], d.version, "PyPI"))
for p in tomllib.load(open(lockdir + "/app/poetry.lock", "rb"))["package"]:
    inv.append(("/app/poetry.lock", p["name"], p["version"], "PyPI"))
for p in tomllib.load(open(lockdir + "/srv/uv/uv.lock", "rb"))["package"]:
    if "virtual" not in p["source"] and "editable" not in p["source"]:
        inv.append(("/srv/uv/uv.lock", p["name"], p["version"], "PyPI"))
pipfile = json.load(open(lockdir + "/srv/pipenv/Pipfile.lock"))
for section in ("default", "develop"):
    for n, e in pipfile[section].items():
        if section == "default" or n not in pipfile["default"]:
            inv.append(("/srv/pipenv/Pipfile.lock", n, e["version"].removeprefix("=="), "PyPI"))
text = open(lockdir + "/app/requirements.txt").read().replace("\\\n", " ")
for line in text.splitlines():
    line = line.split(" #")[0].split(" --hash")[0].strip()
    if line and not line.startswith(("#", "-")):
        r = Requirement(line)
        pins = [s for s in r.specifier if s.operator == "=="]
        if pins:
            inv.append(("/app/requirements.txt", r.name, pins[0].version, "PyPI"))
ruby = """
require "bundler"
Dir[ARGV[0] + "/*.gemspec"].sort.each { |f| s = Gem::Specification.load(f); puts ["spec", s.name, s.version.to_s].join(" ") }
Bundler::LockfileParser.new(File.read(ARGV[1])).specs.each { |s| puts ["lock", s.name, s.version.to_s].join(" ") }
"""
env = dict(os.environ, BUNDLE_GEMFILE=lockdir + "/app/Gemfile")
out = subprocess.run(["ruby", "-e", ruby, root + "/" + specs, lockdir + "/app/Gemfile.lock"],
                     check=True, stdout=subprocess.PIPE, text=True, env=env).stdout
for line in out.splitlines():
    kind, name, version = line.split()
    inv.append(("/" + specs if kind == "spec" else "/app/Gemfile.lock", name, version, "RubyGems"))
inv = sorted(set(inv))

def pep440_affected(version, affected):
    if version in affected.get("versions", []):
        return True
    try:
        v = Version(version)
    except InvalidVersion:
        return False
    for r in affected.get("ranges", []):
        if r["type"] != "ECOSYSTEM":
            continue
        state = False
        key = lambda e: Version("0") if list(e.values())[0] == "0" else Version(list(e.values())[0])
        for e in sorted(r["events"], key=key):
            (kind, at), = e.items()
            bound = Version("0") if at == "0" else Version(at)
            if kind == "introduced" and v >= bound: state = True
            if kind == "fixed" and v >= bound: state = False
            if kind == "last_affected" and v > bound: state = False
        if state:
            return True
    return False

gem_checks = []
findings = set()
for f in osv_files:
    for line in gzip.open(f, "rt"):
        rec = json.loads(line)
        if rec.get("withdrawn"):
            continue
        for a in rec.get("affected", []):
            eco, name = a["package"]["ecosystem"], a["package"]["name"]
            for target, n, v, e in inv:
                if e != eco:
                    continue
                if eco == "PyPI" and norm(n) == norm(name) and pep440_affected(v, a):
                    findings.add((rec["id"], n, v, target))
                if eco == "RubyGems" and n == name:
                    ds = a["database_specific"]
                    gem_checks.append([rec["id"], n, v, target, ds["patched_versions"], ds["unaffected_versions"]])
# RubySec's own rule: affected unless a patched or unaffected requirement is satisfied.
ruby = """
require "json"
JSON.parse(STDIN.read).each do |id, n, v, t, patched, unaffected|
  ok = (patched + unaffected).any? { |r| Gem::Requirement.new(*r.split(",")).satisfied_by?(Gem::Version.new(v)) }
  puts JSON.generate([id, n, v, t]) unless ok
end
"""
out = subprocess.run(["ruby", "-e", ruby], input=json.dumps(gem_checks), check=True, stdout=subprocess.PIPE,
                     text=True).stdout
findings |= {tuple(json.loads(l)) for l in out.splitlines()}
print(json.dumps({"inventory": [list(i[:3]) for i in inv], "findings": sorted(findings)}))
"##;

#[test]
fn python_and_ruby_packages_match_the_oracle_with_dependency_paths() {
    let fx = fixtures::dir();
    let site_src = fx.join("python-site");
    let gems_src = fx.join("ruby-gems").join(SPECS);
    for dir in [&site_src, &gems_src] {
        assert!(dir.is_dir(), "{} is missing: run scripts/fixtures.sh", dir.display());
    }
    let tmp = tempfile::tempdir().unwrap();
    // The layer's content, also laid out on disk for the oracle.
    let staged = tmp.path().join("root");
    let mut layer = TarBuilder::new();
    let mut add = |path: String, bytes: &[u8]| {
        let on_disk = staged.join(&path);
        std::fs::create_dir_all(on_disk.parent().unwrap()).unwrap();
        std::fs::write(&on_disk, bytes).unwrap();
        layer = std::mem::take(&mut layer).file(&path, bytes);
    };
    for (rel, bytes) in files_under(&site_src).into_iter().filter(|(rel, _)| rel != ".done") {
        add(format!("{SITE}/{rel}"), &bytes);
    }
    for (rel, bytes) in files_under(&gems_src) {
        add(format!("{SPECS}/{rel}"), &bytes);
    }
    for (src, dst) in LOCKFILES {
        add(dst.to_string(), &std::fs::read(scanner_fixture(src)).unwrap());
    }
    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(LayerContent::TarFile(fixtures::bullseye_rootfs()), Compression::Gzip, "ADD bullseye-minbase /")
        .layer(LayerContent::Bytes(layer.build()), Compression::Gzip, "RUN pip install … && bundle install")
        .write_layout(&layout, "lang");

    let osv = osv_files();
    let mut cmd = strata();
    cmd.args(["image", "--input", &format!("{}:lang", layout.display())])
        .args(["--format", "json", "--list-all-pkgs", "--quiet", "--osv"])
        .args(&osv);
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "strata failed: {}", out.stderr);
    let report = out.json();

    let oracle = Command::new("python3")
        .args(["-c", ORACLE])
        .arg(&staged)
        .args([SITE, SPECS])
        .arg(&staged)
        .args(&osv)
        .output()
        .expect("python3");
    assert!(oracle.status.success(), "oracle: {}", String::from_utf8_lossy(&oracle.stderr));
    let oracle: Value = serde_json::from_slice(&oracle.stdout).unwrap();
    let triples = |v: &Value| -> BTreeSet<Vec<String>> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .collect()
    };

    let lang: Vec<&Value> =
        report["results"].as_array().unwrap().iter().filter(|r| r["class"] == "lang-pkgs").collect();
    let mut inventory = BTreeSet::new();
    let mut found = BTreeSet::new();
    for result in &lang {
        let target = result["target"].as_str().unwrap();
        for p in result["package_list"].as_array().unwrap() {
            inventory.insert(vec![
                target.to_string(),
                p["name"].as_str().unwrap().into(),
                p["version"].as_str().unwrap().into(),
            ]);
        }
        for f in result["findings"].as_array().unwrap() {
            found.insert(vec![
                f["id"].as_str().unwrap().to_string(),
                f["package"].as_str().unwrap().into(),
                f["installed_version"].as_str().unwrap().into(),
                target.to_string(),
            ]);
        }
    }
    assert_eq!(inventory, triples(&oracle["inventory"]), "inventory vs importlib.metadata/tomllib/Bundler");
    let expected = triples(&oracle["findings"]);
    assert!(expected.len() > 20, "old releases must be vulnerable: {expected:?}");
    assert!(expected.iter().any(|f| f[3] == format!("/{SPECS}")), "a gemspec finding");
    assert_eq!(found, expected, "findings vs packaging.version / Gem::Requirement");
    eprintln!(
        "{} packages in {} language targets, {} findings agree with the oracle",
        inventory.len(),
        lang.len(),
        found.len()
    );

    // Dependency paths of transitive findings, as the real metadata gives them.
    let paths_of = |target: &str, package: &str| -> BTreeSet<Vec<String>> {
        lang.iter()
            .filter(|r| r["target"] == target)
            .flat_map(|r| r["findings"].as_array().unwrap())
            .filter(|f| f["package"] == package)
            .map(|f| {
                f["dependency_paths"]
                    .as_array()
                    .map_or(vec![], |a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            })
            .collect()
    };
    let table: &[(&str, &str, &[&str])] = &[
        ("/usr/local/lib/python3.9/site-packages", "urllib3", &["requests@2.19.1 › urllib3@1.23"]),
        ("/usr/local/lib/python3.9/site-packages", "requests", &[]),
        ("/app/poetry.lock", "urllib3", &["requests@2.19.1 › urllib3@1.22"]),
        ("/srv/uv/uv.lock", "urllib3", &["acme-api@0.1.0 › requests@2.19.1 › urllib3@1.23"]),
        (
            "/app/Gemfile.lock",
            "rack",
            &["sinatra@2.0.8.1 › rack@2.1.4", "sinatra@2.0.8.1 › rack-protection@2.0.8.1 › rack@2.1.4"],
        ),
    ];
    for (target, package, paths) in table {
        let want: BTreeSet<Vec<String>> = [paths.iter().map(|s| s.to_string()).collect()].into();
        assert_eq!(paths_of(target, package), want, "{target} {package}");
    }
}
