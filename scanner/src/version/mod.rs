//! Version ordering per ecosystem.
//!
//! OSV ranges are only meaningful in the ordering of the ecosystem that published them, so every comparison
//! goes through a [`Scheme`] picked from the OSV ecosystem name. Each scheme lives in its own module and
//! parses into a [`ParsedVersion`]; callers that compare one installed version against many advisory events
//! parse it once with [`ParsedVersion::parse`] and then use [`ParsedVersion::compare`].

mod apk;
mod deb;
mod maven;
mod pep440;
mod rpm;
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
    /// Maven's `ComparableVersion`.
    Maven,
    /// rpm's `rpmvercmp` on `[epoch:]version-release`.
    Rpm,
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
        "Maven" => Scheme::Maven,
        "Red Hat" | "Rocky Linux" | "AlmaLinux" | "openSUSE" | "SUSE" | "Mageia" | "openEuler" | "Azure Linux"
        | "Photon OS" => Scheme::Rpm,
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
    Maven(maven::MavenVersion),
    Rpm(rpm::RpmVersion),
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
            Scheme::Maven => maven::parse(s).map(ParsedVersion::Maven),
            Scheme::Rpm => rpm::parse(s).map(ParsedVersion::Rpm),
            Scheme::Other => None,
        }
    }

    /// The scheme this version was parsed under.
    pub fn scheme(&self) -> Scheme {
        match self {
            ParsedVersion::Dpkg(_) => Scheme::Dpkg,
            ParsedVersion::Apk(_) => Scheme::Apk,
            ParsedVersion::Semver(_) => Scheme::Semver,
            ParsedVersion::Pep440(_) => Scheme::Pep440,
            ParsedVersion::RubyGems(_) => Scheme::RubyGems,
            ParsedVersion::Maven(_) => Scheme::Maven,
            ParsedVersion::Rpm(_) => Scheme::Rpm,
        }
    }

    /// Orders this version against an unparsed one of the same scheme; `None` when `other` does not parse.
    /// The matcher's hot path: one installed version against every event of every advisory for a package,
    /// so schemes that can compare without building a parsed value (apk) do.
    pub fn compare_str(&self, other: &str) -> Option<Ordering> {
        match self {
            ParsedVersion::Apk(a) => a.compare_str(other),
            _ => self.compare(&ParsedVersion::parse(self.scheme(), other)?),
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
            (ParsedVersion::Maven(a), ParsedVersion::Maven(b)) => Some(a.cmp(b)),
            (ParsedVersion::Rpm(a), ParsedVersion::Rpm(b)) => Some(a.cmp(b)),
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
            ("Maven", Scheme::Maven),
            ("Rocky Linux:9", Scheme::Rpm),
            ("AlmaLinux:8", Scheme::Rpm),
            ("Red Hat:enterprise_linux:9::baseos", Scheme::Rpm),
            ("openSUSE:Leap 15.5", Scheme::Rpm),
            ("SUSE:Linux Enterprise Server 15 SP5", Scheme::Rpm),
            ("Mageia:9", Scheme::Rpm),
            ("Fedora:39", Scheme::Other),
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
        assert_eq!(compare(Scheme::Maven, "1.0-rc1", "1.0"), Some(Ordering::Less));
        assert_eq!(compare(Scheme::Rpm, "1:1.0-1.el9", "2.0-1.el9"), Some(Ordering::Greater));
        assert_eq!(compare(Scheme::Other, "1", "1"), None);
        assert_eq!(compare(Scheme::Apk, "1.0", "not a version"), None);
        assert_eq!(compare(Scheme::Semver, "", "1.0.0"), None);
    }

    #[test]
    fn compare_str_agrees_with_compare() {
        for (scheme, a, b) in [
            (Scheme::Apk, "1.2.3-r1", "1.2.3_p1-r0"),
            (Scheme::Apk, "1.2.3-r1", "1.2.3-r1"),
            (Scheme::Apk, "1.2.3-r1", "junk"),
            (Scheme::Dpkg, "2.31-13+deb11u5", "2.31-13+deb11u6"),
            (Scheme::Pep440, "2.0", "2.0rc1"),
            (Scheme::Semver, "1.0.0", "not"),
        ] {
            let parsed = ParsedVersion::parse(scheme, a).unwrap();
            assert_eq!(parsed.compare_str(b), compare(scheme, a, b), "{scheme:?} {a} {b}");
            assert_eq!(parsed.scheme(), scheme);
        }
    }

    #[test]
    fn parsed_versions_of_different_schemes_do_not_compare() {
        let a = ParsedVersion::parse(Scheme::Dpkg, "1.0").unwrap();
        let b = ParsedVersion::parse(Scheme::Semver, "1.0.0").unwrap();
        assert_eq!(a.compare(&b), None);
    }
}
