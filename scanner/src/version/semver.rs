//! SemVer ordering for npm, crates.io and Go, via the `semver` crate, read leniently.
//!
//! Advisory data and installed metadata are looser than SemVer 2.0: Go versions carry a `v` prefix, and
//! npm/PyPI-style short versions (`1.2`) or zero-padded parts (`1.02.0`) occur. Those are normalised to the
//! strict form before parsing; anything still invalid is rejected rather than guessed.

/// Parses `s` as SemVer, accepting a `v` prefix and one to three numeric core parts.
pub(super) fn parse(s: &str) -> Option<semver::Version> {
    let s = s.trim();
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    if let Ok(v) = semver::Version::parse(s) {
        return Some(v);
    }
    let split = s.find(['-', '+']).unwrap_or(s.len());
    let (core, tail) = s.split_at(split);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit())) {
        return None;
    }
    let mut norm: Vec<&str> =
        parts.iter().map(|p| p.trim_start_matches('0')).map(|p| if p.is_empty() { "0" } else { p }).collect();
    norm.resize(3, "0");
    semver::Version::parse(&format!("{}{tail}", norm.join("."))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn cmp(a: &str, b: &str) -> Ordering {
        let (pa, pb) = (parse(a).unwrap(), parse(b).unwrap());
        pa.cmp_precedence(&pb)
    }

    /// Ascending chains of versions from the crates.io, npm and Go advisories.
    #[test]
    fn ascending_chains() {
        let chains: &[&[&str]] = &[
            &["0.0.0-0", "0.1.0", "0.9.0", "0.10.0"],
            &["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0-rc.1", "1.0.0"],
            &["0.0.0-20210220032951-036812b2e83c", "0.0.0-20211202192323-5770296d904e", "v0.1.0", "v0.17.0"],
            &["1.2", "1.2.1", "v1.10.0"],
            &["2.0.0-rc.1", "v2.0.0+incompatible", "2.0.1"],
            &["0", "0.0.1"],
        ];
        for chain in chains {
            for pair in chain.windows(2) {
                assert_eq!(cmp(pair[0], pair[1]), Ordering::Less, "{} < {}", pair[0], pair[1]);
                assert_eq!(cmp(pair[1], pair[0]), Ordering::Greater, "{} > {}", pair[1], pair[0]);
            }
        }
    }

    #[test]
    fn lenient_spellings_are_equal() {
        for (a, b) in [
            ("1.2", "1.2.0"),
            ("v1.2.3", "1.2.3"),
            ("1", "1.0.0"),
            ("1.02.0", "1.2.0"),
            ("2.0.0+incompatible", "2.0.0"),
        ] {
            assert_eq!(cmp(a, b), Ordering::Equal, "{a} = {b}");
        }
    }

    #[test]
    fn rejects_non_versions() {
        for s in ["", "abc", "1.2.3.4", "1.x", "1..2", "*", ">=1.0.0"] {
            assert!(parse(s).is_none(), "{s:?}");
        }
    }
}
