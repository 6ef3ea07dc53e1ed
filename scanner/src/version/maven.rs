//! Maven's `ComparableVersion` ordering (maven-artifact), which OSV's `Maven` ecosystem uses.
//!
//! The only crate implementing it (`mvn_version`) had one release and pulls in `num-bigint`; the rules fit
//! in this file. A version is split at `.`, `-` and digit/letter transitions into integers and qualifiers;
//! `-` and a transition open a nested list, so `1.0-alpha1` reads `[1, [alpha, [1]]]` (the trailing `0`
//! is dropped: `1.0 == 1`). Qualifiers order `alpha < beta < milestone < rc < snapshot < "" < sp`, any
//! other qualifier sorts after those alphabetically, `ga`/`final`/`release` mean the release itself,
//! `cr` means `rc`, and `a1`/`b1`/`m1` abbreviate alpha/beta/milestone when a digit follows. Integers
//! have no size limit, as in maven-artifact (which falls back to `BigInteger`).

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// Digits without leading zeros (`""` is zero), compared by length then text: any size fits.
    Int(String),
    /// A qualifier, lowercased and with its alias resolved.
    Str(String),
    List(Vec<Item>),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
/// The rank of the release itself (`""`) in [`QUALIFIERS`].
const RELEASE: usize = 5;

/// The sort key maven-artifact gives a qualifier: known ones by rank, unknown ones after all of them,
/// alphabetically (maven compares `"7-foo"`-style strings; a tuple orders the same way).
fn qualifier_rank(q: &str) -> (usize, &str) {
    match QUALIFIERS.iter().position(|k| *k == q) {
        Some(i) => (i, ""),
        None => (QUALIFIERS.len(), q),
    }
}

fn string_item(text: &str, followed_by_digit: bool) -> Item {
    let text = match (text, followed_by_digit) {
        ("a", true) => "alpha",
        ("b", true) => "beta",
        ("m", true) => "milestone",
        ("ga" | "final" | "release", _) => "",
        ("cr", _) => "rc",
        (t, _) => t,
    };
    Item::Str(text.to_string())
}

fn parse_item(is_digit: bool, text: &str) -> Item {
    if is_digit { Item::Int(text.trim_start_matches('0').to_string()) } else { string_item(text, false) }
}

impl Item {
    /// maven-artifact's `isNull`: what trailing normalisation drops (`0`, `ga`, an empty list).
    fn is_null(&self) -> bool {
        match self {
            Item::Int(digits) => digits.is_empty(),
            Item::Str(q) => qualifier_rank(q) == (RELEASE, ""),
            Item::List(items) => items.is_empty(),
        }
    }

    /// Compares against a missing item (the shorter version's padding).
    fn cmp_missing(&self) -> Ordering {
        match self {
            Item::Int(digits) => {
                if digits.is_empty() {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                }
            }
            Item::Str(q) => qualifier_rank(q).cmp(&(RELEASE, "")),
            Item::List(items) => items.first().map_or(Ordering::Equal, Item::cmp_missing),
        }
    }

    fn cmp_item(&self, other: &Item) -> Ordering {
        match (self, other) {
            (Item::Int(a), Item::Int(b)) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
            (Item::Int(_), _) => Ordering::Greater,
            (Item::Str(a), Item::Str(b)) => qualifier_rank(a).cmp(&qualifier_rank(b)),
            (Item::Str(_), _) => Ordering::Less,
            (Item::List(_), Item::Int(_)) => Ordering::Less,
            (Item::List(_), Item::Str(_)) => Ordering::Greater,
            (Item::List(a), Item::List(b)) => cmp_lists(a, b),
        }
    }
}

fn cmp_lists(a: &[Item], b: &[Item]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let ord = match (a.get(i), b.get(i)) {
            (Some(l), Some(r)) => l.cmp_item(r),
            (Some(l), None) => l.cmp_missing(),
            (None, Some(r)) => r.cmp_missing().reverse(),
            (None, None) => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// maven-artifact's `ListItem.normalize`: drop null items from the end, looking through nested lists.
fn normalize(items: &mut Vec<Item>) {
    let mut i = items.len();
    while i > 0 {
        i -= 1;
        if items[i].is_null() {
            items.remove(i);
        } else if !matches!(items[i], Item::List(_)) {
            break;
        }
    }
}

/// A parsed Maven version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MavenVersion(Vec<Item>);

impl MavenVersion {
    /// Every non-empty string is a Maven version; only blank ones are refused.
    pub fn parse(s: &str) -> Option<MavenVersion> {
        let version = s.trim().to_lowercase();
        if version.is_empty() {
            return None;
        }
        // Each `-` or digit/letter switch opens a list nested in the current one and never returns to the
        // outer list, so the nesting is a chain: a stack of lists, folded back together at the end.
        let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
        let (mut is_digit, mut start) = (false, 0usize);
        for (i, c) in version.char_indices() {
            let current = stack.len() - 1;
            match c {
                '.' | '-' => {
                    let item =
                        if i == start { Item::Int(String::new()) } else { parse_item(is_digit, &version[start..i]) };
                    stack[current].push(item);
                    start = i + 1;
                    if c == '-' {
                        stack.push(Vec::new());
                    }
                }
                c if c.is_ascii_digit() => {
                    if !is_digit && i > start {
                        stack[current].push(string_item(&version[start..i], true));
                        start = i;
                        stack.push(Vec::new());
                    }
                    is_digit = true;
                }
                _ => {
                    if is_digit && i > start {
                        stack[current].push(parse_item(true, &version[start..i]));
                        start = i;
                        stack.push(Vec::new());
                    }
                    is_digit = false;
                }
            }
        }
        if version.len() > start {
            let current = stack.len() - 1;
            stack[current].push(parse_item(is_digit, &version[start..]));
        }
        let mut items = stack.pop().unwrap_or_default();
        normalize(&mut items);
        while let Some(mut parent) = stack.pop() {
            parent.push(Item::List(items));
            normalize(&mut parent);
            items = parent;
        }
        Some(MavenVersion(items))
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_lists(&self.0, &other.0)
    }
}

impl PartialOrd for MavenVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

pub fn parse(s: &str) -> Option<MavenVersion> {
    MavenVersion::parse(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MavenVersion {
        MavenVersion::parse(s).unwrap()
    }

    /// Each row strictly ascending. The first rows are maven-artifact's own `ComparableVersionTest`
    /// sequences; the rest are real release histories from Maven Central (log4j-core, jackson-databind,
    /// Spring, Guava, commons-text) around the fixes OSV records name.
    #[test]
    fn ascending_sequences() {
        let rows: &[&[&str]] = &[
            &["1.0-alpha1", "1.0-beta", "1.0-rc1", "1.0", "1.0-sp1", "1.0.1"],
            &[
                "1-alpha2snapshot",
                "1-alpha2",
                "1-alpha-123",
                "1-beta-2",
                "1-beta123",
                "1-m2",
                "1-m11",
                "1-rc",
                "1-cr2",
                "1-rc123",
                "1-SNAPSHOT",
                "1",
                "1-sp",
                "1-sp2",
                "1-sp123",
                "1-abc",
                "1-def",
                "1-pom-1",
                "1-1-snapshot",
                "1-1",
                "1-2",
                "1-123",
            ],
            &["2.0.0-beta9", "2.0.0-rc1", "2.0", "2.0.1", "2.14.1", "2.15.0", "2.16.0", "2.17.0", "2.17.1", "2.19.0"],
            &["2.9.10.7", "2.9.10.8", "2.10.0", "2.12.6", "2.12.6.1", "2.12.7", "2.13.4.2", "2.14.0-rc1", "2.14.0"],
            &["5.3.0.M1", "5.3.0.RC1", "5.3.0", "5.3.18", "5.3.20"],
            &["30.1-android", "30.1-jre", "31.0-jre", "32.0.0-android", "32.0.0-jre", "32.0.1-jre"],
            &["1.9", "1.10.0-SNAPSHOT", "1.10.0"],
        ];
        for row in rows {
            for pair in row.windows(2) {
                assert_eq!(v(pair[0]).cmp(&v(pair[1])), Ordering::Less, "{} < {}", pair[0], pair[1]);
                assert_eq!(v(pair[1]).cmp(&v(pair[0])), Ordering::Greater, "{} > {}", pair[1], pair[0]);
            }
        }
    }

    #[test]
    fn sp_and_numbers() {
        // maven-artifact's `testVersionsNumber` / qualifier rules.
        for (a, b) in [("1", "1.1"), ("1-sp", "1.1"), ("1.1-1", "1.2"), ("1-1", "1.1"), ("1.0-sp1", "1.0.1")] {
            assert_eq!(v(a).cmp(&v(b)), Ordering::Less, "{a} < {b}");
        }
    }

    #[test]
    fn equal_spellings() {
        for (a, b) in [
            ("1", "1.0"),
            ("1", "1.0.0"),
            ("1.0", "1.0.0"),
            ("1", "1-0"),
            ("1-ga", "1"),
            ("1.0-final", "1"),
            ("1.0.RELEASE", "1"),
            ("1-cr1", "1-rc1"),
            ("1a1", "1-alpha-1"),
            ("1b2", "1-beta-2"),
            ("1m3", "1-milestone-3"),
            ("1X", "1-x"),
            ("2.17.1", "2.17.01"),
            ("1.0-SNAPSHOT", "1.0-snapshot"),
            ("5.3.9.RELEASE", "5.3.9"),
        ] {
            assert_eq!(v(a).cmp(&v(b)), Ordering::Equal, "{a} == {b}");
        }
    }

    /// Qualifiers Maven does not know sort after the release: jackson's `2.10.0.pr1` is *newer* than
    /// `2.10.0` to Maven (and so to OSV), whatever jackson meant.
    #[test]
    fn unknown_qualifiers_follow_the_release() {
        assert_eq!(v("2.10.0.pr1").cmp(&v("2.10.0")), Ordering::Greater);
        assert_eq!(v("2.10.0.pr1").cmp(&v("2.10.1")), Ordering::Less);
    }

    #[test]
    fn huge_numbers_and_blank() {
        assert_eq!(v("1.99999999999999999999999").cmp(&v("1.100000000000000000000000")), Ordering::Less);
        assert_eq!(MavenVersion::parse("  "), None);
    }
}
