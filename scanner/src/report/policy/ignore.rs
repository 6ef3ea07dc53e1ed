//! `.strataignore`: YAML, one list of entries, each naming a finding by id and saying why it is accepted.
//!
//! ```yaml
//! ignore:
//!   - id: CVE-2023-0464          # advisory id, any alias (CVE, GHSA), secret rule id or misconfiguration id
//!     package: openssl*          # optional glob over the package name (binary or source package)
//!     path: /app/**              # optional glob over the file (package DB, lockfile, secret or Dockerfile)
//!     expires: 2026-06-30        # optional: applies up to and including this day, not after
//!     reason: not reachable, only the CLI uses it   # required
//!   - reachability: unreachable  # optional: only findings the engine found so (Go symbols not in the
//!     reason: dead code          #   binary); with it `id` may be left out to match every such finding
//! ```
//!
//! YAML rather than TOML because Trivy's `.trivyignore.yaml` is YAML and users move entries between the two.

use chrono::NaiveDate;
use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};
use crate::model::Reachability;

/// The id of an entry that names no id: it matches by its other scopes alone (only allowed with
/// `reachability`, so no entry silently matches everything).
pub const ANY_ID: &str = "*";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreFile {
    #[serde(default)]
    ignore: Vec<RawEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    expires: Option<NaiveDate>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    reachability: Option<Reachability>,
}

/// One parsed entry, its globs compiled.
#[derive(Debug, Clone)]
pub struct IgnoreEntry {
    pub id: String,
    pub package: Option<GlobMatcher>,
    pub path: Option<GlobMatcher>,
    pub expires: Option<NaiveDate>,
    pub reason: String,
    /// Matches only findings with this reachability (a secret or an unassessed finding has none).
    pub reachability: Option<Reachability>,
    /// The file it came from, shown with every finding it suppresses.
    pub origin: String,
}

/// Parses an ignore file; `origin` names it in errors and in the report.
pub fn parse(text: &str, origin: &str) -> Result<Vec<IgnoreEntry>> {
    let file: IgnoreFile = serde_norway::from_str(text)
        .map_err(|e| Error::with_source(ErrorKind::Parse, format!("{origin}: not a valid ignore file"), e))?;
    file.ignore
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let id = match (raw.id.as_deref().map(str::trim), raw.reachability) {
                (Some(id), _) if !id.is_empty() && id != ANY_ID => id.to_string(),
                (None | Some(ANY_ID), Some(_)) => ANY_ID.to_string(),
                (None, None) => {
                    return Err(Error::new(ErrorKind::Parse, format!("{origin}: entry {}: `id` is required", i + 1)));
                }
                (Some(ANY_ID), None) => {
                    let what = format!("{origin}: entry {} ({ANY_ID})", i + 1);
                    return Err(Error::new(ErrorKind::Parse, format!("{what}: `id: *` needs a `reachability`")));
                }
                (Some(_), _) => {
                    return Err(Error::new(ErrorKind::Parse, format!("{origin}: entry {}: `id` is empty", i + 1)));
                }
            };
            let what = format!("{origin}: entry {} ({id})", i + 1);
            let reason = raw.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
            let Some(reason) = reason else {
                return Err(Error::new(ErrorKind::Parse, format!("{what}: `reason` is required")));
            };
            Ok(IgnoreEntry {
                id,
                package: raw.package.as_deref().map(|g| glob(g, &what)).transpose()?,
                path: raw.path.as_deref().map(|g| glob(g, &what)).transpose()?,
                expires: raw.expires,
                reason,
                reachability: raw.reachability,
                origin: origin.to_string(),
            })
        })
        .collect()
}

fn glob(pattern: &str, what: &str) -> Result<GlobMatcher> {
    // `*` stays within one path segment and `**` crosses them, as in .gitignore.
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::with_source(ErrorKind::Parse, format!("{what}: bad glob {pattern:?}"), e))
}

impl IgnoreEntry {
    /// Whether the entry still applies on `today`.
    pub fn active(&self, today: NaiveDate) -> bool {
        self.expires.is_none_or(|day| today <= day)
    }

    /// Whether it names this finding: one of `ids` (any, for [`ANY_ID`]), within the package, path and
    /// reachability scopes (an entry with a package or reachability scope never matches a finding that has
    /// none, such as a secret).
    pub fn matches(&self, ids: &[&str], packages: &[&str], path: &str, reachability: Option<Reachability>) -> bool {
        (self.id == ANY_ID || ids.iter().any(|id| id.eq_ignore_ascii_case(&self.id)))
            && self.package.as_ref().is_none_or(|g| packages.iter().any(|p| g.is_match(p)))
            && self.path.as_ref().is_none_or(|g| g.is_match(path))
            && self.reachability.is_none_or(|r| reachability == Some(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
ignore:
  - id: CVE-2023-0464
    package: "libssl*"
    reason: only the CLI links it
  - id: GHSA-hrpp-h998-j3pp
    path: /app/**
    expires: 2024-01-31
    reason: fixed upstream, waiting for the release
"#;

    #[test]
    fn entries_scope_and_expire() {
        let entries = parse(FILE, ".strataignore").unwrap();
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        type Case<'a> = (usize, &'a [&'a str], &'a [&'a str], &'a str, &'a str, bool);
        let cases: [Case; 7] = [
            (
                0,
                &["DSA-5417-1", "CVE-2023-0464"],
                &["libssl1.1", "openssl"],
                "/var/lib/dpkg/status",
                "2030-01-01",
                true,
            ),
            (0, &["DSA-5417-1", "cve-2023-0464"], &["libssl1.1"], "/x", "2030-01-01", true),
            (0, &["CVE-2023-0464"], &["openssl"], "/var/lib/dpkg/status", "2030-01-01", false),
            (0, &["CVE-2023-0465"], &["libssl1.1"], "/var/lib/dpkg/status", "2030-01-01", false),
            (1, &["GHSA-hrpp-h998-j3pp"], &["qs"], "/app/package-lock.json", "2024-01-31", true),
            (1, &["GHSA-hrpp-h998-j3pp"], &["qs"], "/app/package-lock.json", "2024-02-01", false),
            (1, &["GHSA-hrpp-h998-j3pp"], &["qs"], "/srv/package-lock.json", "2024-01-01", false),
        ];
        for (i, ids, packages, path, today, want) in cases {
            let e = &entries[i];
            let got = e.active(day(today)) && e.matches(ids, packages, path, None);
            assert_eq!(got, want, "entry {i} {ids:?} {packages:?} {path} {today}");
        }
    }

    #[test]
    fn rejects_what_would_silently_ignore_too_much() {
        for (text, needle) in [
            ("ignore:\n  - id: CVE-1\n", "reason"),
            ("ignore:\n  - id: CVE-1\n    reason: '  '\n", "reason"),
            ("ignore:\n  - id: CVE-1\n    reason: x\n    pakage: y\n", "not a valid"),
            ("ignore:\n  - id: CVE-1\n    reason: x\n    expires: next week\n", "not a valid"),
            ("ignore:\n  - id: CVE-1\n    reason: x\n    path: 'a[b'\n", "bad glob"),
            ("ignore:\n  - reason: x\n", "`id` is required"),
            ("ignore:\n  - id: '*'\n    reason: x\n", "needs a `reachability`"),
            ("ignore:\n  - reachability: dead\n    reason: x\n", "not a valid"),
        ] {
            let err = parse(text, ".strataignore").unwrap_err();
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn reachability_scope_matches_only_that_reachability() {
        let text = "ignore:\n  - reachability: unreachable\n    reason: dead code\n  - id: GO-2023-1571\n    reachability: unknown\n    reason: no symbols\n";
        let entries = parse(text, ".strataignore").unwrap();
        let (any, one) = (&entries[0], &entries[1]);
        assert_eq!(any.id, ANY_ID);
        let ids: &[&str] = &["GO-2023-1571", "CVE-2023-3978"];
        let pkgs: &[&str] = &["golang.org/x/net"];
        assert!(any.matches(ids, pkgs, "/app/server", Some(Reachability::Unreachable)));
        assert!(!any.matches(ids, pkgs, "/app/server", Some(Reachability::Reachable)));
        assert!(!any.matches(ids, pkgs, "/app/server", Some(Reachability::Unknown)));
        assert!(!any.matches(ids, pkgs, "/app/server", None));
        assert!(one.matches(ids, pkgs, "/app/server", Some(Reachability::Unknown)));
        assert!(!one.matches(&["GO-2022-0969"], pkgs, "/app/server", Some(Reachability::Unknown)));
        assert!(!one.matches(ids, pkgs, "/app/server", Some(Reachability::Unreachable)));
    }
}
