//! rpm's `rpmvercmp` ordering of `[epoch:]version-release`, through the `rpm-version` crate (the same
//! algorithm as rpm: digit runs numerically, letter runs by bytes, `~` before anything, `^` after the
//! release but before any further segment, a missing epoch equal to `0`).

use rpm_version::Evr;

/// A parsed EVR, owning its parts so it can outlive the string it came from.
pub type RpmVersion = Evr<'static>;

/// `None` for strings rpm could not have written: blank, or an epoch that is not a number.
pub fn parse(s: &str) -> Option<RpmVersion> {
    let s = s.trim();
    let (epoch, version, release) = Evr::parse_values(s);
    if version.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Evr::new(epoch.to_string(), version.to_string(), release.to_string()))
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        parse(a).unwrap().cmp(&parse(b).unwrap())
    }

    /// Real EVRs from Rocky/Alma 9 and RHEL 7/8 errata (openssl, glibc, kernel, bind, vim) and rpm's own
    /// `rpmvercmp.at` test cases; every expectation is what rpm 4.18's own `rpm.vercmp` answers.
    #[test]
    fn rpm_ordering_table() {
        let cases = [
            ("1:3.0.7-24.el9", "1:3.0.7-25.el9", Ordering::Less),
            ("1:3.0.7-27.el9", "3.0.7-28.el9", Ordering::Greater), // epoch beats everything
            ("0:2.34-60.el9", "2.34-60.el9", Ordering::Equal),     // missing epoch is 0
            ("2.34-60.el9", "2.34-60.el9_2.7", Ordering::Less),
            ("2.34-100.el9", "2.34-60.el9_2.7", Ordering::Greater), // numeric, not text
            ("5.14.0-284.11.1.el9_2", "5.14.0-284.30.1.el9_2", Ordering::Less),
            ("32:9.11.36-8.el8", "32:9.11.36-8.el8_8.1", Ordering::Less),
            ("2:8.2.2637-20.el9_1", "2:8.2.2637-16.el9_0.3", Ordering::Greater),
            ("1.0~rc1-1", "1.0-1", Ordering::Less), // tilde sorts before the release
            ("1.0^git1-1", "1.0-1", Ordering::Greater),
            ("1.0^git1-1", "1.0.1-1", Ordering::Less), // caret: after 1.0, before 1.0.1
            ("1.0a-1", "1.0-1", Ordering::Greater),
            ("1.0010-1", "1.9-1", Ordering::Greater), // leading zeros ignored: 10 > 9
            ("1.05-1", "1.5-1", Ordering::Equal),
            ("2.0.1a-1", "2.0.1-1", Ordering::Greater),
            ("5.5p1-1", "5.5p10-1", Ordering::Less),
            ("xyz10-1", "xyz10.1-1", Ordering::Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn refuses_what_rpm_cannot_write() {
        assert!(parse("").is_none());
        assert!(parse("x:1.0-1").is_none());
        assert!(parse("1:").is_none());
        assert!(parse("1.0").is_some(), "advisories may name a version without release");
    }
}
