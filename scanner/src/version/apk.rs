//! Alpine (apk-tools) version ordering.
//!
//! No maintained pure-Rust crate implements it (the crates.io `apk-version` crate binds the C library), so
//! this follows the rules of apk-tools' current `version.c`: `digit{.digit}…{letter}{_suffix{digits}}…
//! {~hash}{-rN}`. A version is a sequence of typed tokens; two versions are compared token by token while the
//! token kinds agree, and when one runs out first the longer one is newer unless what it has next is a
//! pre-release suffix (`_alpha`, `_beta`, `_pre`, `_rc`).

use std::cmp::Ordering;

/// Token kinds, in the order apk uses to break ties when two versions diverge in shape: a version whose
/// next token kind is *lower* has more (more significant) components and is the newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    Revision,
    End,
    Invalid,
}

/// Suffix words by rank. Those before [`SUFFIX_RELEASE`] sort below the plain release, those after above.
const SUFFIXES: [&str; 9] = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"];
const SUFFIX_RELEASE: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a [u8],
    /// Rank in [`SUFFIXES`] for `Kind::Suffix`.
    suffix: usize,
}

struct Tokens<'a> {
    rest: &'a [u8],
    last: Kind,
}

impl<'a> Tokens<'a> {
    fn new(s: &'a str) -> Self {
        Tokens { rest: s.as_bytes(), last: Kind::InitialDigit }
    }

    fn token(&mut self, kind: Kind, len: usize) -> Token<'a> {
        let (text, rest) = self.rest.split_at(len);
        self.rest = rest;
        self.last = kind;
        Token { kind, text, suffix: 0 }
    }

    fn invalid(&mut self) -> Token<'a> {
        self.last = Kind::Invalid;
        Token { kind: Kind::Invalid, text: &[], suffix: 0 }
    }

    fn span(&self, pred: impl Fn(u8) -> bool) -> usize {
        self.rest.iter().take_while(|&&c| pred(c)).count()
    }

    /// A run of digits as a token of `kind`; an empty run makes the version invalid.
    fn digits(&mut self, kind: Kind) -> Token<'a> {
        match self.span(|c| c.is_ascii_digit()) {
            0 => self.invalid(),
            n => self.token(kind, n),
        }
    }

    fn first(&mut self) -> Token<'a> {
        self.digits(Kind::InitialDigit)
    }

    /// The token after `self.last`, enforcing which kinds may follow which.
    fn next(&mut self) -> Token<'a> {
        let last = self.last;
        let Some(&c) = self.rest.first() else {
            self.last = Kind::End;
            return Token { kind: Kind::End, text: &[], suffix: 0 };
        };
        match c {
            b'a'..=b'z' if last <= Kind::Digit => self.token(Kind::Letter, 1),
            b'.' if last <= Kind::Digit => {
                self.rest = &self.rest[1..];
                self.digits(Kind::Digit)
            }
            b'0'..=b'9' if last == Kind::Suffix => self.digits(Kind::SuffixNo),
            b'_' if last <= Kind::SuffixNo => {
                self.rest = &self.rest[1..];
                let n = self.span(|c| c.is_ascii_lowercase());
                let word = &self.rest[..n];
                match SUFFIXES.iter().position(|s| s.as_bytes() == word) {
                    Some(rank) => Token { suffix: rank, ..self.token(Kind::Suffix, n) },
                    None => self.invalid(),
                }
            }
            b'~' if last < Kind::CommitHash => {
                self.rest = &self.rest[1..];
                match self.span(|c| c.is_ascii_hexdigit()) {
                    0 => self.invalid(),
                    n => self.token(Kind::CommitHash, n),
                }
            }
            b'-' if last < Kind::Revision && self.rest.starts_with(b"-r") => {
                self.rest = &self.rest[2..];
                self.digits(Kind::Revision)
            }
            _ => self.invalid(),
        }
    }
}

/// Compares digit runs by value without overflow: strip leading zeros, then longer is larger.
fn cmp_numeric(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &'_ [u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn cmp_token(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        // A component with a leading zero is read as a decimal fraction (`1.01 < 1.1`), as in Gentoo.
        Kind::Digit if a.text.first() == Some(&b'0') || b.text.first() == Some(&b'0') => a.text.cmp(b.text),
        Kind::InitialDigit | Kind::Digit | Kind::SuffixNo | Kind::Revision => cmp_numeric(a.text, b.text),
        Kind::Suffix => a.suffix.cmp(&b.suffix),
        _ => a.text.cmp(b.text),
    }
}

fn is_valid(s: &str) -> bool {
    let mut t = Tokens::new(s);
    let mut kind = t.first().kind;
    while kind < Kind::End {
        kind = t.next().kind;
    }
    kind == Kind::End
}

fn compare(a: &str, b: &str) -> Ordering {
    let (mut ia, mut ib) = (Tokens::new(a), Tokens::new(b));
    let (mut ta, mut tb) = (ia.first(), ib.first());
    while ta.kind == tb.kind && ta.kind < Kind::End {
        match cmp_token(&ta, &tb) {
            Ordering::Equal => {}
            other => return other,
        }
        ta = ia.next();
        tb = ib.next();
    }
    let pre_release = |t: &Token<'_>| t.kind == Kind::Suffix && t.suffix < SUFFIX_RELEASE;
    if ta.kind == tb.kind {
        Ordering::Equal
    } else if pre_release(&ta) {
        Ordering::Less
    } else if pre_release(&tb) {
        Ordering::Greater
    } else {
        // The side whose next token is of a lower kind carries one more significant component.
        tb.kind.cmp(&ta.kind)
    }
}

/// A valid apk version string.
#[derive(Debug, Clone)]
pub struct ApkVersion(String);

impl ApkVersion {
    pub fn parse(s: &str) -> Option<ApkVersion> {
        let s = s.trim();
        is_valid(s).then(|| ApkVersion(s.to_owned()))
    }

    /// Compares against an unparsed version without allocating; `None` when `other` is not valid.
    pub fn compare_str(&self, other: &str) -> Option<Ordering> {
        let other = other.trim();
        is_valid(other).then(|| compare(&self.0, other))
    }
}

impl Ord for ApkVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.0, &other.0)
    }
}

impl PartialOrd for ApkVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ApkVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ApkVersion {}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ApkVersion {
        ApkVersion::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    /// Each row is strictly ascending; versions are `fixed` values from Alpine's secdb.
    #[test]
    fn ascending_chains() {
        let chains: &[&[&str]] = &[
            // `_p1` patches the upstream version, the revision is least significant: 1.2.3_p1-r0 > 1.2.3-r1.
            &["1.2.3_rc1-r0", "1.2.3-r0", "1.2.3-r1", "1.2.3_p1-r0", "1.2.3_p1-r1", "1.2.4-r0"],
            &["3.0.8-r0", "3.0.10-r0"],
            &["1.36.1-r2", "1.36.1-r15"],
            &["1.0.2h-r4", "1.0.2u-r0", "1.1.1-r0", "1.1.1a-r0", "1.1.1n-r0", "1.1.1t-r0"],
            &["0.99_beta19-r3", "0.99_beta20-r0", "0.99-r0"],
            &["1.0.0_beta8-r1", "1.0.0_rc9-r0", "1.0.0_rc10-r0", "1.0.0_rc95-r0", "1.0.0-r0"],
            &["5.15.3-r5", "5.15.3_git20210510-r6", "5.15.3_git20211006-r0"],
            &["2.1-r9", "2.1_p20240815-r1"],
            &["11.0.9_p11-r0", "11.0.10_p9-r0", "11.0.10_p10-r0"],
            &["1.0_alpha", "1.0_beta", "1.0_pre", "1.0_rc", "1.0", "1.0_cvs", "1.0_svn", "1.0_git", "1.0_hg", "1.0_p"],
            &["1.0", "1.0-r0", "1.0a", "1.0.1"],
            // Leading zeros switch to string order: 18.09 reads as a fraction below 18.1.
            &["18.09.7", "18.09.8", "18.1.0"],
            &["0_git20231012-r0", "0.5_alpha-r1", "0.5.3_git20241203-r0"],
            &["20190514a-r0", "20190515-r0"],
            // A `~hash` sits between the version and the revision, so it makes the version newer.
            &["1.0-r0", "1.0~0abc-r0", "1.0~0abd-r0"],
        ];
        for chain in chains {
            for pair in chain.windows(2) {
                let (a, b) = (v(pair[0]), v(pair[1]));
                assert_eq!(a.cmp(&b), Ordering::Less, "{} < {}", pair[0], pair[1]);
                assert_eq!(b.cmp(&a), Ordering::Greater, "{} > {}", pair[1], pair[0]);
            }
        }
    }

    #[test]
    fn equal_spellings() {
        for (a, b) in [("1.2.3-r0", "1.2.3-r0"), ("1.2-r01", "1.2-r1"), ("1.2_p01", "1.2_p1")] {
            assert_eq!(v(a).cmp(&v(b)), Ordering::Equal, "{a} = {b}");
        }
    }

    /// Strings from the secdb that apk itself rejects: they must not be ordered at all.
    #[test]
    fn invalid_versions() {
        for s in [
            "",
            "abc",
            "v1.0",
            "1.2.31-0",
            "2021-03-27-r5",
            "1.9.5p2-r0",
            "0.8.21.r2",
            "1.0-r",
            "1.0_foo",
            "1.0.",
            "1..0",
        ] {
            assert!(ApkVersion::parse(s).is_none(), "{s:?} should be invalid");
        }
    }
}
