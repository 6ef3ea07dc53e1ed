//! Debian version ordering (`dpkg --compare-versions`), via the `debversion` crate.

/// Parses a Debian version. Strict Debian Policy first; the lenient parser then accepts the underscores that
/// real archives carry (`2.0.37+cvs.JCW_PRE2_2037-1`), which dpkg itself orders without complaint.
pub(super) fn parse(s: &str) -> Option<debversion::Version> {
    let s = s.trim();
    // Debian versions must start with a digit (after an optional epoch); this also rejects "" early.
    if !s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    s.parse().ok().or_else(|| debversion::Version::parse_lenient(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::{self, *};

    fn cmp(a: &str, b: &str) -> Ordering {
        parse(a).unwrap().cmp(&parse(b).unwrap())
    }

    /// Expected orderings checked with `dpkg --compare-versions` on Debian 12; versions from the DSA/DLA data.
    #[test]
    fn dpkg_order() {
        for (a, b, want) in [
            ("1:2.30-2", "2.31-13+deb11u6", Greater),
            ("2.31-13+deb11u5", "2.31-13+deb11u6", Less),
            ("1.1.1n-0+deb11u4", "1.1.1n-0+deb11u3", Greater),
            ("2:1.20.11-1+deb11u6", "2:1.20.11-1+deb11u5", Greater),
            ("1.0~rc1-1", "1.0-1", Less),
            ("1.0", "1.0-0", Equal),
            ("7.74.0-1.3+deb11u7", "7.74.0-1.3+deb11u10", Less),
            ("5.10.162-1", "5.10.158-2", Greater),
            ("1.2.3+dfsg-1", "1.2.3-1", Greater),
            ("0.9.8c-4etch3", "0.9.8c-4", Greater),
            ("3.0.8", "3.0.10", Less),
            ("1:9.16.37-1~deb11u1", "1:9.16.37-1", Less),
            ("2.0.37+cvs.JCW_PRE2_2037-1", "2.0.37-1", Greater),
            ("1.0~~", "1.0~", Less),
            ("1.0a", "1.0+", Less),
        ] {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn rejects_non_versions() {
        for s in ["", "  ", "abc", "-1", "1.0 beta"] {
            assert!(parse(s).is_none(), "{s:?}");
        }
    }
}
