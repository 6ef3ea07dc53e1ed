//! PEP 440 ordering for PyPI, via the `pep440_rs` crate (normalises `v` prefixes, `-rc1`, `.post`, `.dev`).

pub(super) fn parse(s: &str) -> Option<pep440_rs::Version> {
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    /// Ascending chains of versions from the PyPI advisories.
    #[test]
    fn ascending_chains() {
        let chains: &[&[&str]] = &[
            &["0.8.4", "0.9", "0.10", "0.10.1"],
            &["1.0.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0.post1", "1.0.1"],
            &["2.2.0rc1", "2.2.0", "2.2.28", "3.0a1"],
            &["1!0.1", "1!1.0"],
            &["0", "0.0.1"],
        ];
        for chain in chains {
            for pair in chain.windows(2) {
                let (a, b) = (parse(pair[0]).unwrap(), parse(pair[1]).unwrap());
                assert_eq!(a.cmp(&b), Ordering::Less, "{} < {}", pair[0], pair[1]);
            }
        }
        assert!(parse("9.9").unwrap() < parse("1!0.1").unwrap(), "epochs dominate");
    }

    #[test]
    fn normalised_spellings_are_equal() {
        for (a, b) in
            [("1.0", "1.0.0"), ("v1.0", "1.0"), ("1.0-rc1", "1.0rc1"), ("1.0.RC1", "1.0rc1"), ("1.0-1", "1.0.post1")]
        {
            assert_eq!(parse(a).unwrap(), parse(b).unwrap(), "{a} = {b}");
        }
    }

    #[test]
    fn rejects_non_versions() {
        for s in ["", "abc", "1.0-foo", "latest"] {
            assert!(parse(s).is_none(), "{s:?}");
        }
    }
}
