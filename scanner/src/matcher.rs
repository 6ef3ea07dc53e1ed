//! OSV range evaluation: is one installed version inside an advisory's `affected` entry, and which fix to
//! show.
//!
//! This follows the OSV schema's evaluation algorithm exactly. For each `ECOSYSTEM`/`SEMVER` range, the
//! events are ordered by version (`introduced: "0"` below everything) and replayed: `introduced` at or
//! below the version turns "affected" on, `fixed` at or below turns it off, `last_affected` strictly below
//! turns it off. When the range has `limit` events, the version must also be below one of them. An explicit
//! `versions` entry equal to the installed version matches on its own. `GIT` ranges (commit hashes) cannot
//! be evaluated against a package version and are ignored. Event versions that do not parse in the scheme
//! are skipped and the rest of the range still applies: bad data never fails a scan.

use std::cmp::Ordering;

use crate::model::{Affected, Event, Range, RangeKind};
use crate::version::{ParsedVersion, Scheme};

/// Whether `version` is affected by `affected`: `None` if not, `Some(fixed)` if it is, with the lowest
/// `fixed` version above it (from the ranges that matched) when the advisory names one.
pub fn affected(scheme: Scheme, affected: &Affected, version: &str) -> Option<Option<String>> {
    Installed::new(scheme, version).check(affected)
}

/// An installed version, parsed once so that it can be checked against many advisories cheaply.
#[derive(Debug, Clone)]
pub struct Installed<'a> {
    scheme: Scheme,
    raw: &'a str,
    parsed: Option<ParsedVersion>,
}

/// The outcome of replaying one range.
struct RangeVerdict<'e> {
    affected: bool,
    /// Lowest `fixed` event above the installed version.
    next_fix: Option<&'e str>,
}

impl<'a> Installed<'a> {
    pub fn new(scheme: Scheme, raw: &'a str) -> Self {
        Installed { scheme, raw, parsed: ParsedVersion::parse(scheme, raw) }
    }

    /// See [`affected`].
    pub fn check(&self, affected: &Affected) -> Option<Option<String>> {
        let mut hit = false;
        let mut fix: Option<&str> = None;
        if let Some(v) = &self.parsed {
            for range in affected.ranges.iter().filter(|r| r.kind != RangeKind::Git) {
                let verdict = self.eval_range(v, range);
                if verdict.affected {
                    hit = true;
                    fix = self.lowest(fix, verdict.next_fix);
                }
            }
        }
        if !hit && affected.versions.iter().any(|listed| self.same_as_listed(listed)) {
            hit = true;
            // The list names no fix; the ranges of the same entry may (e.g. PyPI lists both).
            if let Some(v) = &self.parsed {
                for range in affected.ranges.iter().filter(|r| r.kind != RangeKind::Git) {
                    fix = self.lowest(fix, self.eval_range(v, range).next_fix);
                }
            }
        }
        hit.then(|| fix.map(str::to_owned))
    }

    /// Whether the entry's `ECOSYSTEM`/`SEMVER` ranges alone cover this version (its `versions` list aside).
    pub fn in_ranges(&self, affected: &Affected) -> bool {
        let Some(v) = &self.parsed else { return false };
        affected.ranges.iter().filter(|r| r.kind != RangeKind::Git).any(|r| self.eval_range(v, r).affected)
    }

    /// OSV `versions` are exact strings; a Go-style `v` prefix is the only spelling difference forgiven,
    /// because Go module versions carry it while the OSV Go data does not.
    fn same_as_listed(&self, listed: &str) -> bool {
        if listed == self.raw {
            return true;
        }
        self.scheme == Scheme::Semver && strip_v(listed) == strip_v(self.raw)
    }

    fn eval_range<'e>(&self, v: &ParsedVersion, range: &'e Range) -> RangeVerdict<'e> {
        // The replay's final state is that of the highest event that fires (ties: the later one, as a stable
        // sort would leave it), so no sorting is needed, and events are only compared with each other in
        // the rare ranges where more than one fires. `None` as version stands for `introduced: "0"`.
        let mut last_fired: Option<(Option<&'e str>, bool)> = None;
        let mut next_fix: Option<&'e str> = None;
        let mut has_limit = false;
        let mut below_limit = false;
        for event in &range.events {
            let (at, state) = match event {
                Event::Introduced(s) if s == "0" => (None, true),
                Event::Introduced(s) => match v.compare_str(s) {
                    Some(Ordering::Greater | Ordering::Equal) => (Some(s.as_str()), true),
                    _ => continue,
                },
                Event::Fixed(s) => match v.compare_str(s) {
                    Some(Ordering::Greater | Ordering::Equal) => (Some(s.as_str()), false),
                    Some(Ordering::Less) => {
                        next_fix = self.lowest(next_fix, Some(s));
                        continue;
                    }
                    None => continue,
                },
                Event::LastAffected(s) => match v.compare_str(s) {
                    Some(Ordering::Greater) => (Some(s.as_str()), false),
                    _ => continue,
                },
                Event::Limit(s) => {
                    if s == "*" {
                        has_limit = true;
                        below_limit = true;
                    } else if let Some(o) = v.compare_str(s) {
                        has_limit = true;
                        below_limit |= o == Ordering::Less;
                    }
                    continue;
                }
            };
            let newer = match (last_fired, at) {
                (None, _) | (Some((None, _)), _) => true,
                (Some((Some(_), _)), None) => false,
                (Some((Some(prev), _)), Some(at)) => self.cmp_events(at, prev).is_some_and(|o| o != Ordering::Less),
            };
            if newer {
                last_fired = Some((at, state));
            }
        }
        let replayed = last_fired.is_some_and(|(_, state)| state);
        RangeVerdict { affected: replayed && (!has_limit || below_limit), next_fix }
    }

    /// Orders two event versions (both known to parse: each was compared with the installed version).
    fn cmp_events(&self, a: &str, b: &str) -> Option<Ordering> {
        crate::version::compare(self.scheme, a, b)
    }

    fn lowest<'e>(&self, a: Option<&'e str>, b: Option<&'e str>) -> Option<&'e str> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if self.cmp_events(b, a) == Some(Ordering::Less) { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

fn strip_v(s: &str) -> &str {
    s.strip_prefix('v').unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::scheme_for;

    fn ev(kind: &str, v: &str) -> Event {
        let v = v.to_owned();
        match kind {
            "introduced" => Event::Introduced(v),
            "fixed" => Event::Fixed(v),
            "last_affected" => Event::LastAffected(v),
            "limit" => Event::Limit(v),
            other => panic!("unknown event {other}"),
        }
    }

    fn range(kind: RangeKind, events: &[(&str, &str)]) -> Range {
        Range { kind, events: events.iter().map(|(k, v)| ev(k, v)).collect() }
    }

    fn entry(ecosystem: &str, ranges: Vec<Range>, versions: &[&str]) -> Affected {
        Affected {
            ecosystem: ecosystem.to_owned(),
            name: "pkg".to_owned(),
            ranges,
            versions: versions.iter().map(|s| s.to_string()).collect(),
            imports: Vec::new(),
        }
    }

    /// Checks a table of (installed version, expected outcome) against one entry.
    fn check(a: &Affected, table: &[(&str, Option<Option<&str>>)]) {
        let scheme = scheme_for(&a.ecosystem);
        for (version, want) in table {
            let got = affected(scheme, a, version);
            let want = want.map(|f| f.map(str::to_owned));
            assert_eq!(got, want, "{} {version}", a.ecosystem);
        }
    }

    #[test]
    fn introduced_zero_and_fixed() {
        // DSA-5380-1 for bullseye.
        let a = entry(
            "Debian:11",
            vec![range(RangeKind::Ecosystem, &[("introduced", "0"), ("fixed", "2:1.20.11-1+deb11u6")])],
            &[],
        );
        check(
            &a,
            &[
                ("2:1.20.11-1+deb11u5", Some(Some("2:1.20.11-1+deb11u6"))),
                ("1.20.11-1+deb11u9", Some(Some("2:1.20.11-1+deb11u6"))), // epoch 0 < 2
                ("2:1.20.11-1+deb11u6", None),
                ("2:1.20.11-1+deb11u7", None),
                ("not a version", None),
            ],
        );
    }

    #[test]
    fn introduced_then_fixed_pairs_in_one_range() {
        let a = entry(
            "PyPI",
            vec![range(
                RangeKind::Ecosystem,
                &[("introduced", "0"), ("fixed", "1.11.29"), ("introduced", "2.0"), ("fixed", "2.0.13")],
            )],
            &[],
        );
        check(
            &a,
            &[
                ("1.8", Some(Some("1.11.29"))),
                ("1.11.29", None),
                ("1.11.30", None),
                ("2.0a1", None), // pre-release of 2.0 sorts below the introduced event
                ("2.0", Some(Some("2.0.13"))),
                ("2.0.12", Some(Some("2.0.13"))),
                ("2.0.13", None),
            ],
        );
    }

    #[test]
    fn events_need_not_be_sorted() {
        let a = entry(
            "crates.io",
            vec![range(
                RangeKind::Semver,
                &[("fixed", "0.9.0"), ("introduced", "0.5.0"), ("fixed", "0.4.2"), ("introduced", "0.0.0-0")],
            )],
            &[],
        );
        check(&a, &[("0.1.0", Some(Some("0.4.2"))), ("0.4.2", None), ("0.5.0", Some(Some("0.9.0"))), ("0.9.0", None)]);
    }

    #[test]
    fn last_affected_is_inclusive() {
        // x_NSWG-ECO-1: bassmaster <= 1.5.1.
        let a = entry("npm", vec![range(RangeKind::Semver, &[("introduced", "0"), ("last_affected", "1.5.1")])], &[]);
        check(&a, &[("1.0.0", Some(None)), ("1.5.1", Some(None)), ("1.5.2", None), ("2.0.0", None)]);
    }

    #[test]
    fn limit_caps_the_range() {
        let capped = entry("Go", vec![range(RangeKind::Semver, &[("introduced", "1.2.0"), ("limit", "1.4.0")])], &[]);
        check(
            &capped,
            &[("1.1.9", None), ("v1.2.0", Some(None)), ("1.3.9", Some(None)), ("1.4.0", None), ("1.5.0", None)],
        );

        // Several limits: below any one of them is enough. `*` is no cap at all.
        let two = entry(
            "Go",
            vec![range(RangeKind::Semver, &[("introduced", "0"), ("limit", "1.0.0"), ("limit", "2.0.0")])],
            &[],
        );
        check(&two, &[("1.5.0", Some(None)), ("2.0.0", None)]);
        let star = entry("Go", vec![range(RangeKind::Semver, &[("introduced", "0"), ("limit", "*")])], &[]);
        check(&star, &[("99.0.0", Some(None))]);
    }

    #[test]
    fn any_of_several_ranges_matches() {
        let a = entry(
            "RubyGems",
            vec![
                range(RangeKind::Ecosystem, &[("introduced", "0"), ("fixed", "5.2.4.3")]),
                range(RangeKind::Ecosystem, &[("introduced", "6.0.0"), ("fixed", "6.0.3.1")]),
            ],
            &[],
        );
        check(
            &a,
            &[
                ("5.2.4.2", Some(Some("5.2.4.3"))),
                ("5.2.4.3", None),
                ("6.0.0.rc1", None),
                ("6.0.2", Some(Some("6.0.3.1"))),
                ("6.0.3.1", None),
            ],
        );
    }

    #[test]
    fn explicit_versions_list() {
        // PYSEC-2005-1 style: a range plus a list; and a list alone.
        let both = entry(
            "PyPI",
            vec![range(RangeKind::Ecosystem, &[("introduced", "0"), ("fixed", "0.10")])],
            &["0.8.4", "0.9"],
        );
        check(&both, &[("0.9", Some(Some("0.10"))), ("0.10", None)]);
        let list_only = entry("PyPI", vec![], &["1.0", "1.1"]);
        check(&list_only, &[("1.1", Some(None)), ("1.0.1", None), ("1.2", None)]);
        // Exact strings: an ecosystem without ordering can still match by list.
        let other = entry("Hackage", vec![range(RangeKind::Ecosystem, &[("introduced", "0")])], &["2.3"]);
        check(&other, &[("2.3", Some(None)), ("2.4", None)]);
        // Go's `v` prefix is the one spelling difference forgiven.
        let go = entry("Go", vec![], &["1.2.3"]);
        check(&go, &[("v1.2.3", Some(None))]);
    }

    #[test]
    fn in_ranges_ignores_the_list() {
        let a = entry("PyPI", vec![range(RangeKind::Ecosystem, &[("introduced", "1.0"), ("fixed", "2.0")])], &["0.5"]);
        let covered = |v| Installed::new(Scheme::Pep440, v).in_ranges(&a);
        assert!(covered("1.5") && !covered("0.5") && !covered("2.0") && !covered("junk"));
    }

    #[test]
    fn git_ranges_are_ignored() {
        let a = entry(
            "PyPI",
            vec![range(RangeKind::Git, &[("introduced", "0"), ("fixed", "a71af9c144f9579f6dbe945341c1df37aaf09c0d")])],
            &[],
        );
        check(&a, &[("1.0", None)]);
    }

    #[test]
    fn unparseable_events_are_skipped() {
        // Real secdb values apk rejects (`1.2.31-0`) are skipped, never fatal; the rest of the range holds.
        let a = entry(
            "Alpine:v3.9",
            vec![range(
                RangeKind::Ecosystem,
                &[("introduced", "0"), ("fixed", "1.2.31-0"), ("introduced", "garbage"), ("last_affected", "??")],
            )],
            &[],
        );
        check(&a, &[("1.2.30-r0", Some(None)), ("1.2.32-r0", Some(None))]);
        let b = entry(
            "Alpine:v3.9",
            vec![range(RangeKind::Ecosystem, &[("introduced", "0"), ("fixed", "1.2.31-0"), ("fixed", "1.2.31-r1")])],
            &[],
        );
        check(&b, &[("1.2.31-r0", Some(Some("1.2.31-r1"))), ("1.2.31-r1", None)]);
        // A limit that does not parse is no cap.
        let c = entry("npm", vec![range(RangeKind::Semver, &[("introduced", "1.0.0"), ("limit", "x.y")])], &[]);
        check(&c, &[("3.0.0", Some(None))]);
    }

    #[test]
    fn same_version_introduced_and_fixed_is_empty() {
        let a = entry("npm", vec![range(RangeKind::Semver, &[("introduced", "1.0.0"), ("fixed", "1.0.0")])], &[]);
        check(&a, &[("0.9.0", None), ("1.0.0", None), ("1.1.0", None)]);
    }

    #[test]
    fn lowest_fix_across_matching_ranges() {
        let a = entry(
            "npm",
            vec![
                range(RangeKind::Semver, &[("introduced", "0"), ("fixed", "2.0.0")]),
                range(RangeKind::Semver, &[("introduced", "1.0.0"), ("fixed", "1.4.0")]),
            ],
            &[],
        );
        check(&a, &[("1.2.0", Some(Some("1.4.0"))), ("1.5.0", Some(Some("2.0.0"))), ("0.5.0", Some(Some("2.0.0")))]);
    }
}
