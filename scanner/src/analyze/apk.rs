//! Alpine's package database `/lib/apk/db/installed`: stanzas of `K:value` lines. Wolfi and Chainguard
//! use the same format.

use crate::package::{Package, PackageKind};

/// Parses the installed database. `o:` (origin) is the aport that built the package: Alpine's secdb and
/// OSV records name origins, so a subpackage like `libcrypto3` matches advisories for `openssl`.
pub fn parse_installed(bytes: &[u8]) -> Result<Vec<Package>, String> {
    let mut packages = Vec::new();
    let mut current: Option<Package> = None;
    let mut started_at = 0;
    let finish = |p: Option<Package>, line: usize, out: &mut Vec<Package>| -> Result<(), String> {
        match p {
            Some(p) if p.name.is_empty() || p.version.is_empty() => {
                Err(format!("line {line}: package stanza without P: (name) or V: (version)"))
            }
            Some(p) => {
                out.push(p);
                Ok(())
            }
            None => Ok(()),
        }
    };
    for (number, line) in super::numbered_lines(bytes) {
        if line.is_empty() {
            finish(current.take(), started_at, &mut packages)?;
            continue;
        }
        if line.len() < 2 || line[1] != b':' {
            return Err(format!("line {number}: not a `K:value` line"));
        }
        let key = line[0];
        if !matches!(key, b'P' | b'V' | b'A' | b'o') {
            continue;
        }
        let value = std::str::from_utf8(&line[2..])
            .map_err(|_| format!("line {number}: field {}: is not valid UTF-8", key as char))?
            .to_string();
        let package = current.get_or_insert_with(|| {
            started_at = number;
            Package::new(PackageKind::Apk, "", "")
        });
        match key {
            b'P' => package.name = value,
            b'V' => package.version = value,
            b'A' => package.arch = Some(value),
            _ => package.source_name = Some(value),
        }
    }
    finish(current.take(), started_at, &mut packages)?;
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two stanzas as apk-tools 2.12 writes them on Alpine 3.17 (checksums and file lists shortened).
    const INSTALLED: &[u8] = b"C:Q1Ns2dzbDvBUfVfVqzKQsdNvzTwU0=\nP:musl\nV:1.2.3-r4\nA:x86_64\nS:383152\nI:622592\n\
T:the musl c library (libc) implementation\nU:https://musl.libc.org/\nL:MIT\no:musl\nm:Timo Ter\xc3\xa4s <timo.teras@iki.fi>\n\
t:1669310491\nc:f93af038c3de7146121c2ea8124ba5ce29b4b058\nF:lib\nR:libc.musl-x86_64.so.1\nR:ld-musl-x86_64.so.1\n\n\
C:Q1C4ZvqMd7kSKqBIYt6wc3l9ymtiQ=\nP:libcrypto3\nV:3.0.8-r0\nA:x86_64\nS:1710145\nI:4206592\n\
T:Crypto library from openssl\nU:https://www.openssl.org/\nL:Apache-2.0\no:openssl\nm:Ariadne Conill <ariadne@dereferenced.org>\n\
t:1675951431\nc:2a4ba5ee7d4e2e5f8c4cae0cd77e4e0c1e1fd1ab\nD:so:libc.musl-x86_64.so.1\n\n";

    #[test]
    fn real_stanzas() {
        let p = parse_installed(INSTALLED).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].name.as_str(), p[0].version.as_str(), p[0].advisory_name()), ("musl", "1.2.3-r4", "musl"));
        assert_eq!(
            (p[1].name.as_str(), p[1].advisory_name(), p[1].arch.as_deref()),
            ("libcrypto3", "openssl", Some("x86_64"))
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse_installed(b"P:musl\nthis is not apk\n").unwrap_err().contains("line 2"));
        assert!(parse_installed(b"P:musl\nA:x86_64\n\n").unwrap_err().contains("without"));
    }
}
