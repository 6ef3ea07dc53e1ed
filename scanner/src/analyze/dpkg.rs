//! dpkg's database: `/var/lib/dpkg/status` (and distroless `status.d/*`), in deb822 stanzas.
//!
//! We keep the binary package, its version and architecture, and the source package and source version:
//! Debian advisories name source packages, and binNMUs give binaries a version the source never had.

use crate::package::{Package, PackageKind};

/// Parses a status file into its installed packages.
///
/// Free-text fields may hold any bytes; the fields we use must be valid UTF-8 and every non-continuation
/// line must be `Field: value`, otherwise the file is not a dpkg database and we say where it breaks.
pub fn parse_status(bytes: &[u8]) -> Result<Vec<Package>, String> {
    let mut packages = Vec::new();
    let mut stanza = Stanza::default();
    for (number, line) in super::numbered_lines(bytes) {
        if line.iter().all(u8::is_ascii_whitespace) {
            stanza.finish(&mut packages)?;
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue; // continuation of a multi-line field (Description, Conffiles)
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return Err(format!("line {number}: not a `Field: value` line"));
        };
        let field = &line[..colon];
        let target = match field {
            b"Package" => &mut stanza.package,
            b"Status" => &mut stanza.status,
            b"Version" => &mut stanza.version,
            b"Architecture" => &mut stanza.arch,
            b"Source" => &mut stanza.source,
            _ => continue,
        };
        let value = std::str::from_utf8(&line[colon + 1..])
            .map_err(|_| format!("line {number}: field {} is not valid UTF-8", String::from_utf8_lossy(field)))?;
        *target = Some((number, value.trim().to_string()));
    }
    stanza.finish(&mut packages)?;
    Ok(packages)
}

#[derive(Default)]
struct Stanza {
    package: Option<(usize, String)>,
    status: Option<(usize, String)>,
    version: Option<(usize, String)>,
    arch: Option<(usize, String)>,
    source: Option<(usize, String)>,
}

impl Stanza {
    fn finish(&mut self, out: &mut Vec<Package>) -> Result<(), String> {
        let stanza = std::mem::take(self);
        let Some((line, name)) = stanza.package else {
            return match stanza.version {
                Some((line, _)) => Err(format!("line {line}: stanza has a Version but no Package")),
                None => Ok(()),
            };
        };
        if !is_installed(stanza.status.as_ref().map(|(_, s)| s.as_str())) {
            return Ok(());
        }
        let Some((_, version)) = stanza.version.filter(|(_, v)| !v.is_empty()) else {
            return Err(format!("line {line}: installed package {name} has no Version"));
        };
        let (source_name, source_version) = match stanza.source {
            Some((_, source)) => split_source(&source),
            None => (None, None),
        };
        out.push(Package {
            arch: stanza.arch.map(|(_, a)| a),
            source_name,
            source_version,
            ..Package::new(PackageKind::Deb, name, version)
        });
        Ok(())
    }
}

/// `Status: want flag state`. A package whose state is `not-installed` or `config-files` has no files on
/// disk; every other state (including half-configured) means its files are there to be exploited.
/// Distroless `status.d` entries carry no Status at all and are installed by construction.
fn is_installed(status: Option<&str>) -> bool {
    match status.and_then(|s| s.split_whitespace().nth(2)) {
        Some(state) => !matches!(state, "not-installed" | "config-files"),
        None => status.is_none(),
    }
}

/// `Source: glibc (2.31-13+deb11u5)` or `Source: glibc`.
fn split_source(source: &str) -> (Option<String>, Option<String>) {
    match source.split_once(' ') {
        Some((name, rest)) => {
            let version = rest.trim().strip_prefix('(').and_then(|v| v.strip_suffix(')')).map(str::to_string);
            (Some(name.to_string()), version)
        }
        None if source.is_empty() => (None, None),
        None => (Some(source.to_string()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &[u8] = include_bytes!("../../tests/fixtures/dpkg/bullseye-minbase.status");

    #[test]
    fn real_bullseye_minbase_status() {
        let packages = parse_status(REAL).unwrap();
        // Counted independently with `grep -c '^Status: install ok installed'` on the same file.
        let installed = String::from_utf8_lossy(REAL).matches("\nStatus: install ok installed").count()
            + usize::from(REAL.starts_with(b"Status: install ok installed"));
        assert_eq!(packages.len(), installed);
        let util = packages.iter().find(|p| p.name == "libblkid1").unwrap();
        assert_eq!(util.source_name.as_deref(), Some("util-linux"));
        assert_eq!(util.arch.as_deref(), Some("amd64"));
        // The binary version and the source version differ only where Source carries one.
        let gcc = packages.iter().find(|p| p.name == "libgcc-s1").unwrap();
        assert_eq!((gcc.advisory_name(), gcc.advisory_version()), ("gcc-10", "10.2.1-6"));
        // A binNMU: the binary is rebuilt (+b1) but advisories compare the source version.
        let coreutils = packages.iter().find(|p| p.name == "coreutils").unwrap();
        assert_eq!((coreutils.version.as_str(), coreutils.advisory_version()), ("8.32-4+b1", "8.32-4"));
    }

    #[test]
    fn states_and_source_forms() {
        let status = b"Package: old\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
Package: half\nStatus: install ok half-configured\nVersion: 2.0\nSource: halfsrc\n\n\
Package: libssl1.1\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\n\
Version: 1.1.1n-0+deb11u3\nDescription: Secure Sockets Layer toolkit\n caf\xe9 latin-1 in a description\n\n\
Package: libc6\nStatus: hold ok installed\nSource: glibc (2.31-13+deb11u5)\nVersion: 2.31-13+deb11u5+b1\n";
        let packages = parse_status(status).unwrap();
        let names: Vec<_> =
            packages.iter().map(|p| (p.name.as_str(), p.advisory_name(), p.advisory_version())).collect();
        assert_eq!(
            names,
            [
                ("half", "halfsrc", "2.0"),
                ("libssl1.1", "openssl", "1.1.1n-0+deb11u3"),
                ("libc6", "glibc", "2.31-13+deb11u5")
            ]
        );
    }

    #[test]
    fn garbage_is_refused_with_line_numbers() {
        let cases: [(&[u8], &str); 4] = [
            (b"Package: a\nStatus: install ok installed\nVersion: 1\nthis is not a field\n", "line 4"),
            (b"Package: a\nStatus: install ok installed\n\n", "has no Version"),
            (b"Package: a\xff\nStatus: install ok installed\nVersion: 1\n", "line 1: field Package is not valid UTF-8"),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "line 1"),
        ];
        for (input, want) in cases {
            let err = parse_status(input).unwrap_err();
            assert!(err.contains(want), "{err:?} should mention {want:?}");
        }
    }
}
