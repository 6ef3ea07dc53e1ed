//! RubyGems (`Gem::Version`) ordering.
//!
//! No crate in the dependency set implements it, and the rules are short: a version is split into runs of
//! digits and runs of letters (`1.0.0.rc1` → `1 0 0 rc 1`, with `-` read as `.pre.`); a letter run marks a
//! pre-release, which sorts below any number, trailing zeros of the release part and of the pre-release
//! part are insignificant (`1.0 == 1.0.0`), and missing segments count as 0.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Num(u64),
    Str(String),
}

/// A parsed gem version, kept in `Gem::Version#canonical_segments` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GemVersion(Vec<Segment>);

fn is_valid(s: &str) -> bool {
    // Gem::Version::ANCHORED_VERSION_PATTERN: `\d+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?`.
    let (release, pre) = match s.split_once('-') {
        Some((r, p)) => (r, Some(p)),
        None => (s, None),
    };
    let mut parts = release.split('.');
    let first_ok = parts.next().is_some_and(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    let rest_ok = parts.all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric()));
    let pre_ok = pre.is_none_or(|p| {
        p.split('.').all(|q| !q.is_empty() && q.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
    });
    first_ok && rest_ok && pre_ok
}

impl GemVersion {
    pub fn parse(s: &str) -> Option<GemVersion> {
        let s = s.trim();
        // Gem::Version treats a blank version as "0".
        let s = if s.is_empty() { "0" } else { s };
        if !is_valid(s) {
            return None;
        }
        let s = s.replace('-', ".pre.");
        let mut segments = Vec::new();
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let digit = bytes[i].is_ascii_digit();
            let run = bytes[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphabetic() || c.is_ascii_digit())
                .take_while(|c| c.is_ascii_digit() == digit)
                .count();
            if run == 0 {
                i += 1; // a `.` separator
                continue;
            }
            let text = &s[i..i + run];
            segments.push(if digit { Segment::Num(text.parse().ok()?) } else { Segment::Str(text.to_owned()) });
            i += run;
        }
        // Canonical form: drop trailing zeros of the release part and of the pre-release part separately.
        let split = segments.iter().position(|s| matches!(s, Segment::Str(_))).unwrap_or(segments.len());
        let pre = segments.split_off(split);
        let mut canonical = trim_zeros(segments);
        canonical.extend(trim_zeros(pre));
        Some(GemVersion(canonical))
    }
}

fn trim_zeros(mut segments: Vec<Segment>) -> Vec<Segment> {
    while segments.last() == Some(&Segment::Num(0)) {
        segments.pop();
    }
    segments
}

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        const ZERO: Segment = Segment::Num(0);
        let len = self.0.len().max(other.0.len());
        for i in 0..len {
            let (a, b) = (self.0.get(i).unwrap_or(&ZERO), other.0.get(i).unwrap_or(&ZERO));
            let ord = match (a, b) {
                (Segment::Num(x), Segment::Num(y)) => x.cmp(y),
                (Segment::Str(x), Segment::Str(y)) => x.cmp(y),
                (Segment::Str(_), Segment::Num(_)) => Ordering::Less,
                (Segment::Num(_), Segment::Str(_)) => Ordering::Greater,
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for GemVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> GemVersion {
        GemVersion::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    /// Ascending chains of versions from the RubySec advisories; orderings as `Gem::Version#<=>` gives them.
    #[test]
    fn ascending_chains() {
        let chains: &[&[&str]] = &[
            &["0.30.0.beta1", "0.30.0", "0.119.0.beta1"],
            &["1.0.0.beta2", "1.0.0.rc1", "1.0.0.rc1.1", "1.0.0", "1.0.1"],
            &["3.0.0.beta.3", "3.0.0-rc.1", "3.0.0.rc4", "3.0.0"],
            &["4.0.0.beta", "4.0.0.beta.41", "4.0.0.beta.51", "4.0.0"],
            &["4.25.14p12", "4.25.14", "4.25.15"],
            &["2.1.0pre1", "2.1.0", "2.1.10"],
            &["5.0.0.beta1", "5.0.0.beta1.1", "5.0.0.beta2"],
            // `-` reads as `.pre.`, and "pre" sorts after "beta": RubyGems' own (surprising) order.
            &["2.0.0.beta1", "2.0.0-alpha", "2.0.0"],
            &["0", "0.0.1", "1.2.9", "1.2.10"],
        ];
        for chain in chains {
            for pair in chain.windows(2) {
                assert_eq!(v(pair[0]).cmp(&v(pair[1])), Ordering::Less, "{} < {}", pair[0], pair[1]);
                assert_eq!(v(pair[1]).cmp(&v(pair[0])), Ordering::Greater, "{} > {}", pair[1], pair[0]);
            }
        }
    }

    #[test]
    fn equal_spellings() {
        for (a, b) in [("1.0", "1.0.0"), ("1", "1.0.0.0"), ("1.0.a", "1.a"), ("", "0"), (" 1.2 ", "1.2")] {
            assert_eq!(v(a).cmp(&v(b)), Ordering::Equal, "{a} = {b}");
        }
    }

    #[test]
    fn rejects_non_versions() {
        for s in ["abc", "1..2", "1.2.", ".1", "1.2 3", "1_2", "v1.0"] {
            assert!(GemVersion::parse(s).is_none(), "{s:?}");
        }
    }
}
