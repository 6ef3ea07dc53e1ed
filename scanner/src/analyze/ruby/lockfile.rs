//! `Gemfile.lock`: the gems of its `GEM`, `GIT` and `PATH` sections (`    name (version)` at four spaces,
//! each gem's own dependencies under it at six), with dependency paths rooted at the `DEPENDENCIES`
//! section (the Gemfile's direct gems). Bundler's format is line-oriented with fixed indentation; there is
//! no maintained Rust parser for it.

use std::collections::BTreeMap;

use crate::analyze::graph::dependency_paths;
use crate::analyze::numbered_lines;
use crate::package::{Package, PackageKind};

struct Spec {
    name: String,
    version: String,
    /// From a `PATH` section: the application's own gem (or a vendored one), not a published release.
    local: bool,
    depends: Vec<String>,
}

pub fn parse(bytes: &[u8]) -> Result<Vec<Package>, String> {
    let mut specs: Vec<Spec> = Vec::new();
    let mut direct: Vec<String> = Vec::new();
    let mut section = String::new();
    let mut saw_section = false;
    for (n, raw) in numbered_lines(bytes) {
        let line = std::str::from_utf8(raw).map_err(|_| format!("line {n}: not UTF-8"))?;
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent == 0 {
            if !line.chars().all(|c| c.is_ascii_uppercase() || c == ' ' || c == '_') {
                return Err(format!("line {n}: not a Gemfile.lock section header: {line:?}"));
            }
            section = line.trim().to_string();
            saw_section = true;
            continue;
        }
        if !saw_section {
            return Err(format!("line {n}: content before any section"));
        }
        let entry = line.trim();
        match (section.as_str(), indent) {
            ("GEM" | "GIT" | "PATH", 4) => {
                let (name, version) = name_and_version(entry).ok_or(format!("line {n}: not `name (version)`"))?;
                specs.push(Spec { name, version, local: section == "PATH", depends: Vec::new() });
            }
            ("GEM" | "GIT" | "PATH", 6) => {
                let spec = specs.last_mut().ok_or(format!("line {n}: a dependency outside any gem"))?;
                spec.depends.push(bare_name(entry).to_string());
            }
            ("DEPENDENCIES", 2) => direct.push(bare_name(entry).to_string()),
            _ => {}
        }
    }
    if !saw_section {
        return Err("no sections: not a Gemfile.lock".into());
    }
    // One gem locked for several platforms (`nokogiri (1.13.10-x86_64-linux)`, `…-arm64-darwin`) is one.
    let mut seen = std::collections::BTreeSet::new();
    specs.retain(|s| seen.insert((s.name.clone(), s.version.clone())));

    let index: BTreeMap<&str, usize> = specs.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let edges: Vec<Vec<usize>> =
        specs.iter().map(|s| s.depends.iter().filter_map(|d| index.get(d.as_str()).copied()).collect()).collect();
    let mut roots: Vec<usize> = direct.iter().filter_map(|d| index.get(d.as_str()).copied()).collect();
    roots.sort_unstable();
    roots.dedup();
    let labels: Vec<String> = specs.iter().map(|s| format!("{}@{}", s.name, s.version)).collect();
    let paths = dependency_paths(&labels, &edges, &roots);
    Ok(specs
        .into_iter()
        .zip(paths)
        .filter(|(s, _)| !s.local)
        .map(|(s, paths)| {
            let mut p = Package::new(PackageKind::Gem, s.name, s.version);
            p.dependency_paths = paths.paths;
            p.dependency_paths_cut = paths.cut;
            p
        })
        .collect())
}

/// `rack (2.1.4)` → (`rack`, `2.1.4`); the platform of `nokogiri (1.13.10-x86_64-linux)` is dropped:
/// advisories name the release.
fn name_and_version(entry: &str) -> Option<(String, String)> {
    let (name, rest) = entry.split_once(" (")?;
    let version = rest.strip_suffix(')')?;
    let version = version.split('-').next().unwrap_or(version).trim();
    (!name.is_empty() && !version.is_empty()).then(|| (name.trim().to_string(), version.to_string()))
}

/// `rack (~> 2.0)` → `rack`; `mygem!` (from a GIT or PATH source) → `mygem`.
fn bare_name(entry: &str) -> &str {
    entry.split(' ').next().unwrap_or(entry).trim_end_matches('!')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_gemfile_lock() {
        // `bundle lock --local` (Bundler 2.3.7) against Debian bullseye's sinatra stack: see the fixtures README.
        let bytes = include_bytes!("../../../tests/fixtures/ruby/Gemfile.lock");
        let got = parse(bytes).unwrap();
        let table: &[(&str, &str, &[&str])] = &[
            ("sinatra", "2.0.8.1", &[]),
            ("rake", "13.0.6", &[]),
            (
                "rack",
                "2.1.4",
                &["sinatra@2.0.8.1 › rack@2.1.4", "sinatra@2.0.8.1 › rack-protection@2.0.8.1 › rack@2.1.4"],
            ),
            ("ruby2_keywords", "0.0.5", &["sinatra@2.0.8.1 › mustermann@1.1.1 › ruby2_keywords@0.0.5"]),
            ("tilt", "2.0.10", &["sinatra@2.0.8.1 › tilt@2.0.10"]),
        ];
        assert_eq!(got.len(), 7);
        for (name, version, paths) in table {
            let p = got.iter().find(|p| p.name == *name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!((p.version.as_str(), p.kind), (*version, PackageKind::Gem), "{name}");
            assert_eq!(p.dependency_paths, *paths, "{name}");
        }
    }

    #[test]
    fn git_path_and_platform_forms() {
        let lock = "GIT\n  remote: https://github.com/rack/rack.git\n  revision: 0123\n  specs:\n    rack (3.0.0)\n\n\
            PATH\n  remote: .\n  specs:\n    acme (0.1.0)\n      nokogiri (~> 1.13)\n      rack\n\n\
            GEM\n  remote: https://rubygems.org/\n  specs:\n    nokogiri (1.13.10-x86_64-linux)\n    \
            nokogiri (1.13.10-arm64-darwin)\n\nPLATFORMS\n  x86_64-linux\n\nDEPENDENCIES\n  acme!\n  rack!\n";
        let got = parse(lock.as_bytes()).unwrap();
        let seen: Vec<(&str, &str, Vec<String>)> =
            got.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.dependency_paths.clone())).collect();
        assert_eq!(
            seen,
            [("rack", "3.0.0", vec![]), ("nokogiri", "1.13.10", vec!["acme@0.1.0 › nokogiri@1.13.10".to_string()])]
        );
    }

    #[test]
    fn not_a_gemfile_lock() {
        for bad in [&b"{\"lockfileVersion\": 2}"[..], b"", b"GEM\n  specs:\n    rack 2.1.4\n", b"\xff\xfe"] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
