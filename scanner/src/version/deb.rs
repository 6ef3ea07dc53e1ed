//! Debian version ordering (`dpkg --compare-versions`), via the `debversion` crate.

/// Parses a Debian version. Strict Debian Policy first; the lenient parser then accepts the underscores that
/// real archives carry (`2.0.37+cvs.JCW_PRE2_2037-1`), which dpkg itself orders without complaint.
pub(super) fn parse(s: &str) -> Option<debversion::Version> {
    let s = s.trim();
    // Debian versions must start with a digit (after an optional epoch); this also rejects "" early.
    if !s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    split(s).or_else(|| s.parse().ok()).or_else(|| debversion::Version::parse_lenient(s).ok())
}

/// The crate's parser runs a regex per call, and matching parses one version per advisory entry. This splits
/// the common, policy-conforming shape by hand into the same fields (epoch before the first `:`, revision
/// after the last `-`) and leaves anything unusual to the crate.
fn split(s: &str) -> Option<debversion::Version> {
    let allowed = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'~' | b':' | b'-');
    if !s.bytes().all(allowed) {
        return None;
    }
    let (epoch, rest) = match s.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => (Some(e.parse().ok()?), rest),
        Some(_) => return None,
        None => (None, s),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) if !r.is_empty() && !r.contains(':') => (u, Some(r.to_owned())),
        Some(_) => return None,
        None => (rest, None),
    };
    if upstream.is_empty() {
        return None;
    }
    Some(debversion::Version { epoch, upstream_version: upstream.to_owned(), debian_revision: revision })
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

    /// The hand split must give exactly the crate's fields wherever it accepts a string.
    #[test]
    fn split_agrees_with_the_crate() {
        for s in [
            "1.0",
            "1:2.30-2",
            "2:1.20.11-1+deb11u6",
            "1.2.3-4-5",
            "1:9.16.37-1~deb11u1",
            "0.9.8c-4etch3",
            "7.74.0-1.3+deb11u7",
            "1.0~rc1",
            "8:6.9.11.60+dfsg-1.3+deb11u1",
        ] {
            let fast = split(s).unwrap_or_else(|| panic!("{s} takes the fast path"));
            let slow: debversion::Version = s.parse().unwrap();
            assert_eq!(
                (fast.epoch, &fast.upstream_version, &fast.debian_revision),
                (slow.epoch, &slow.upstream_version, &slow.debian_revision),
                "{s}"
            );
        }
        for s in ["a:1.0", "1.0-", ":1.0", "1:2:3-4:5", "1.0_1"] {
            assert!(split(s).is_none(), "{s} is left to the crate");
        }
    }

    #[test]
    fn rejects_non_versions() {
        for s in ["", "  ", "abc", "-1", "1.0 beta"] {
            assert!(parse(s).is_none(), "{s:?}");
        }
    }
}
