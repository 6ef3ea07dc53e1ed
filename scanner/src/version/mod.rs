//! Version ordering per ecosystem.
//!
//! OSV ranges are only meaningful in the ordering of the ecosystem that published them, so every comparison
//! goes through a [`Scheme`] picked from the OSV ecosystem name. Each scheme lives in its own module and
//! parses into a [`ParsedVersion`]; callers that compare one installed version against many advisory events
//! parse it once with [`ParsedVersion::parse`] and then use [`ParsedVersion::compare`].

mod apk;
mod deb;
mod pep440;
mod rubygems;
mod semver;

use std::cmp::Ordering;

/// The ordering rules a version string is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian policy ordering (`dpkg --compare-versions`): epochs, `~`, revisions.
    Dpkg,
    /// Alpine's apk-tools ordering: `1.2.3a_rc1-r0`.
    Apk,
    /// SemVer 2.0 read leniently (`v` prefix, missing minor/patch), used for npm, crates.io and Go.
    Semver,
    /// Python's PEP 440.
    Pep440,
    /// RubyGems' `Gem::Version`.
    RubyGems,
    /// An ecosystem without a known ordering: only explicit `versions` lists can match.
    Other,
}

/// Picks the ordering of an OSV ecosystem (`Debian:11`, `Alpine:v3.17`, `PyPI`, …).
pub fn scheme_for(ecosystem: &str) -> Scheme {
    // OSV ecosystems are `Name` or `Name:release…`; only the name decides the ordering.
    let base = ecosystem.split(':').next().unwrap_or(ecosystem);
    match base {
        "Debian" | "Ubuntu" => Scheme::Dpkg,
        "Alpine" | "Wolfi" | "Chainguard" => Scheme::Apk,
        "npm" | "crates.io" | "Go" => Scheme::Semver,
        "PyPI" => Scheme::Pep440,
        "RubyGems" => Scheme::RubyGems,
        _ => Scheme::Other,
    }
}

/// Compares two version strings of one scheme. `None` when either side does not parse (or the scheme has
/// no ordering), so callers can skip the comparison instead of guessing.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Option<Ordering> {
    ParsedVersion::parse(scheme, a)?.compare(&ParsedVersion::parse(scheme, b)?)
}

/// A version string parsed under one scheme.
#[derive(Debug, Clone)]
pub enum ParsedVersion {
    Dpkg(debversion::Version),
    Apk(apk::ApkVersion),
    Semver(::semver::Version),
    Pep440(pep440_rs::Version),
    RubyGems(rubygems::GemVersion),
}

impl ParsedVersion {
    /// Parses `s` under `scheme`; `None` when it is not a version of that scheme.
    pub fn parse(scheme: Scheme, s: &str) -> Option<ParsedVersion> {
        match scheme {
            Scheme::Dpkg => deb::parse(s).map(ParsedVersion::Dpkg),
            Scheme::Apk => apk::ApkVersion::parse(s).map(ParsedVersion::Apk),
            Scheme::Semver => semver::parse(s).map(ParsedVersion::Semver),
            Scheme::Pep440 => pep440::parse(s).map(ParsedVersion::Pep440),
            Scheme::RubyGems => rubygems::GemVersion::parse(s).map(ParsedVersion::RubyGems),
            Scheme::Other => None,
        }
    }

    /// Orders two versions of the same scheme; `None` across schemes.
    pub fn compare(&self, other: &ParsedVersion) -> Option<Ordering> {
        match (self, other) {
            (ParsedVersion::Dpkg(a), ParsedVersion::Dpkg(b)) => Some(a.cmp(b)),
            (ParsedVersion::Apk(a), ParsedVersion::Apk(b)) => Some(a.cmp(b)),
            // SemVer precedence ignores build metadata (Go's `+incompatible`), `Ord` on the crate's type does not.
            (ParsedVersion::Semver(a), ParsedVersion::Semver(b)) => Some(a.cmp_precedence(b)),
            (ParsedVersion::Pep440(a), ParsedVersion::Pep440(b)) => Some(a.cmp(b)),
            (ParsedVersion::RubyGems(a), ParsedVersion::RubyGems(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_by_ecosystem() {
        for (eco, want) in [
            ("Debian:11", Scheme::Dpkg),
            ("Ubuntu:22.04:LTS", Scheme::Dpkg),
            ("Ubuntu:Pro:18.04:LTS", Scheme::Dpkg),
            ("Alpine:v3.17", Scheme::Apk),
            ("Alpine:edge", Scheme::Apk),
            ("Wolfi", Scheme::Apk),
            ("Chainguard", Scheme::Apk),
            ("npm", Scheme::Semver),
            ("crates.io", Scheme::Semver),
            ("Go", Scheme::Semver),
            ("PyPI", Scheme::Pep440),
            ("RubyGems", Scheme::RubyGems),
            ("Maven", Scheme::Other),
            ("", Scheme::Other),
        ] {
            assert_eq!(scheme_for(eco), want, "{eco}");
        }
    }

    #[test]
    fn compare_dispatches_and_rejects_garbage() {
        assert_eq!(compare(Scheme::Dpkg, "1:1.0-1", "2.0-1"), Some(Ordering::Greater));
        assert_eq!(compare(Scheme::Apk, "1.0-r1", "1.0-r0"), Some(Ordering::Greater));
        assert_eq!(compare(Scheme::Semver, "v1.2", "1.2.0"), Some(Ordering::Equal));
        assert_eq!(compare(Scheme::Pep440, "1.0rc1", "1.0"), Some(Ordering::Less));
        assert_eq!(compare(Scheme::RubyGems, "1.0.a", "1.0"), Some(Ordering::Less));
        assert_eq!(compare(Scheme::Other, "1", "1"), None);
        assert_eq!(compare(Scheme::Apk, "1.0", "not a version"), None);
        assert_eq!(compare(Scheme::Semver, "", "1.0.0"), None);
    }

    #[test]
    fn parsed_versions_of_different_schemes_do_not_compare() {
        let a = ParsedVersion::parse(Scheme::Dpkg, "1.0").unwrap();
        let b = ParsedVersion::parse(Scheme::Semver, "1.0.0").unwrap();
        assert_eq!(a.compare(&b), None);
    }
}
