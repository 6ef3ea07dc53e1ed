//! Installed distributions: `*.dist-info/METADATA` and `*.egg-info/PKG-INFO` (core metadata, an RFC 822
//! header block). Only the header matters; the description body after the first blank line is not read.

use crate::package::{Package, PackageKind};

/// The marker of a `Requires-Dist` target carried from analysis to [`super::post_merge`] in
/// `dependency_paths` (the one per-package list that travels through the layer cache and the merge).
/// `post_merge` replaces every such entry by real paths; no other code sees them.
pub(super) const REQUIRES_MARK: &str = "\u{0}requires-dist:";

/// Name, version and (normalised) `Requires-Dist` targets of one installed distribution.
pub fn parse(bytes: &[u8]) -> Result<Package, String> {
    let text = String::from_utf8_lossy(bytes);
    let (mut name, mut version, mut requires) = (None, None, Vec::new());
    for (n, line) in text.lines().enumerate() {
        // Only a truly empty line ends the header: old PKG-INFO folds blank description lines as spaces.
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue; // a folded continuation (License, Description): nothing we need
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("line {}: not a `Field: value` header: {line:?}", n + 1));
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(value.to_string()),
            "version" => version = Some(value.to_string()),
            "requires-dist" => requires.extend(requirement_target(value)),
            _ => {}
        }
    }
    let name = name.filter(|s| !s.is_empty()).ok_or("no Name field")?;
    let version = version.filter(|s| !s.is_empty()).ok_or("no Version field")?;
    let mut package = Package::new(PackageKind::Python, name, version);
    requires.sort();
    requires.dedup();
    package.dependency_paths = requires.into_iter().map(|r| format!("{REQUIRES_MARK}{r}")).collect();
    Ok(package)
}

/// The normalised distribution a PEP 508 requirement names, unless it applies only with an extra: whether
/// an extra was asked for at install time is recorded nowhere, and guessing would invent paths.
/// Environment markers (`python_version < "3"`) need no evaluation: a requirement whose target is not
/// installed is no edge anyway.
fn requirement_target(requirement: &str) -> Option<String> {
    let (spec, marker) = requirement.split_once(';').unwrap_or((requirement, ""));
    if marker.contains("extra") {
        return None;
    }
    let name: String =
        spec.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    (!name.is_empty()).then(|| super::normalize(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/python/");
        std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn requires(p: &Package) -> Vec<&str> {
        p.dependency_paths.iter().filter_map(|r| r.strip_prefix(REQUIRES_MARK)).collect()
    }

    #[test]
    fn real_metadata_files() {
        // (file, name, version, requires-dist targets outside extras)
        let table: &[(&str, &str, &str, &[&str])] = &[
            // `pip install requests==2.19.1`: four requirements, and extras (socks, security) left out.
            ("requests-2.19.1.METADATA", "requests", "2.19.1", &["certifi", "chardet", "idna", "urllib3"]),
            // The dist-info directory is lower-case (`pyyaml-5.3.1.dist-info`); the name is as published.
            ("PyYAML-5.3.1.METADATA", "PyYAML", "5.3.1", &[]),
            ("Jinja2-2.10.METADATA", "Jinja2", "2.10", &["markupsafe"]),
            // Debian's python3-six egg-info PKG-INFO (metadata 1.x: no Requires-Dist at all).
            ("six-1.16.0.PKG-INFO", "six", "1.16.0", &[]),
        ];
        for (file, name, version, want) in table {
            let p = parse(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!((p.name.as_str(), p.version.as_str()), (*name, *version), "{file}");
            assert_eq!(requires(&p), *want, "{file}");
            assert_eq!(p.kind, PackageKind::Python);
        }
    }

    #[test]
    fn requirement_targets() {
        let table = [
            ("urllib3 (<1.24,>=1.21.1)", Some("urllib3")),
            ("MarkupSafe>=0.23", Some("markupsafe")),
            ("PySocks!=1.5.7,>=1.5.6; extra == 'socks'", None),
            ("zope.interface ; python_version < \"3\"", Some("zope-interface")),
            ("typing_extensions[x]>=4", Some("typing-extensions")),
            ("", None),
        ];
        for (req, want) in table {
            assert_eq!(requirement_target(req).as_deref(), want, "{req}");
        }
    }

    #[test]
    fn bad_metadata() {
        assert!(parse(b"Metadata-Version: 2.1\nVersion: 1.0\n").unwrap_err().contains("Name"));
        assert!(parse(b"Metadata-Version: 2.1\nName: x\n").unwrap_err().contains("Version"));
        assert!(parse(b"\x89PNG\r\n\x1a\n\0\0garbage").is_err());
    }
}
