//! Severity borrowed across aliases, at DB build time so that matching and every report read one field.
//!
//! Distro advisories (Debian DSA/DLA, Alpine secfixes) carry no severity, while a record of another
//! ecosystem for the same CVE often does (RustSec's `openssl-src` record for an OpenSSL CVE, a PyPI record
//! for a library a wheel bundles). Without it, `--severity CRITICAL,HIGH` hides every Debian finding.
//!
//! Precedence: the advisory's own severity always wins. An advisory without one takes the worst severity
//! (then the highest CVSS score, then the smallest record id) among the records that have their own
//! severity and name one of its ids (`id`, `aliases`, `upstream`) in their `id`, `aliases` or `upstream`.
//! A DSA that fixes several CVEs is as severe as the worst of them. Only one hop: a borrowed severity is
//! never lent on. The lender's id is kept in `severity_source` so reports can say where it came from.

use std::collections::HashMap;

use super::Advisory;
use crate::severity::Severity;

/// What a record with its own severity lends: severity, score, vector, its id.
#[derive(Clone)]
struct Lent {
    severity: Severity,
    score: Option<f64>,
    vector: Option<String>,
    from: String,
}

impl Lent {
    /// Worse severity first, then the higher score (CVSS has one decimal), then the smaller id: a total
    /// order, so the result does not depend on which alias was looked at first.
    fn beats(&self, other: &Lent) -> bool {
        let rank =
            |l: &Lent| (l.severity, l.score.map(|s| (s * 10.0).round() as i64), std::cmp::Reverse(l.from.clone()));
        rank(self) > rank(other)
    }
}

fn ids(advisory: &Advisory) -> impl Iterator<Item = &String> {
    std::iter::once(&advisory.id).chain(&advisory.aliases).chain(&advisory.upstream)
}

/// Fills in the severity of advisories that have none; `advisories` is sorted by id. Returns how many
/// advisories took a severity from an alias.
pub(super) fn borrow_severities(advisories: &mut [Advisory]) -> u64 {
    let mut lenders: HashMap<&str, Lent> = HashMap::new();
    for advisory in advisories.iter().filter(|a| a.severity_source.is_none() && a.severity != Severity::Unknown) {
        let lent = Lent {
            severity: advisory.severity,
            score: advisory.cvss_score,
            vector: advisory.cvss_vector.clone(),
            from: advisory.id.clone(),
        };
        for id in ids(advisory) {
            match lenders.get(id.as_str()) {
                Some(have) if !lent.beats(have) => {}
                _ => {
                    lenders.insert(id.as_str(), lent.clone());
                }
            }
        }
    }
    let mut borrowed: Vec<(usize, Lent)> = Vec::new();
    for (i, advisory) in advisories.iter().enumerate().filter(|(_, a)| a.severity == Severity::Unknown) {
        let mut best: Option<&Lent> = None;
        for lent in ids(advisory).filter_map(|id| lenders.get(id.as_str())) {
            if lent.from != advisory.id && best.is_none_or(|b| lent.beats(b)) {
                best = Some(lent);
            }
        }
        if let Some(best) = best {
            borrowed.push((i, best.clone()));
        }
    }
    let count = borrowed.len() as u64;
    for (i, lent) in borrowed {
        let advisory = &mut advisories[i];
        advisory.severity = lent.severity;
        advisory.cvss_score = lent.score;
        advisory.cvss_vector = lent.vector;
        advisory.severity_source = Some(lent.from);
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advisory(id: &str, aliases: &[&str], upstream: &[&str], severity: Severity, score: Option<f64>) -> Advisory {
        Advisory {
            id: id.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            upstream: upstream.iter().map(|s| s.to_string()).collect(),
            summary: None,
            details: None,
            severity,
            severity_source: None,
            cvss_score: score,
            cvss_vector: score.map(|s| format!("vector {s}")),
            primary_url: None,
            references: Vec::new(),
            published: None,
            modified: None,
            affected: Vec::new(),
        }
    }

    #[test]
    fn worst_alias_wins_own_severity_is_kept_and_nothing_is_lent_twice() {
        let mut all = vec![
            advisory("ALPINE-CVE-2021-3711", &[], &["CVE-2021-3711"], Severity::Unknown, None),
            advisory("DSA-4963-1", &[], &["CVE-2021-3711", "CVE-2021-3712"], Severity::Unknown, None),
            advisory("DSA-9999-1", &[], &["CVE-2000-0001"], Severity::Low, Some(2.0)),
            advisory("GHSA-x", &["CVE-2021-3712"], &[], Severity::High, Some(7.4)),
            advisory("PYSEC-1", &["CVE-2021-3712"], &[], Severity::High, Some(7.5)),
            advisory("RUSTSEC-2021-0097", &["CVE-2021-3711"], &[], Severity::Critical, Some(9.8)),
            advisory("X-1", &["CVE-2000-0001"], &[], Severity::Critical, Some(9.0)),
        ];
        assert_eq!(borrow_severities(&mut all), 2);
        let dsa = &all[1];
        assert_eq!((dsa.severity, dsa.cvss_score), (Severity::Critical, Some(9.8)));
        assert_eq!(dsa.severity_source.as_deref(), Some("RUSTSEC-2021-0097"));
        assert_eq!(dsa.cvss_vector.as_deref(), Some("vector 9.8"));
        assert_eq!(all[0].severity_source.as_deref(), Some("RUSTSEC-2021-0097"));
        // An own severity is never replaced by a worse alias.
        assert_eq!((all[2].severity, all[2].severity_source.as_deref()), (Severity::Low, None));
    }

    #[test]
    fn ties_go_to_the_higher_score_then_the_smaller_id() {
        let mut all = vec![
            advisory("A-1", &["CVE-1"], &[], Severity::High, Some(7.1)),
            advisory("B-1", &["CVE-1"], &[], Severity::High, Some(7.1)),
            advisory("C-1", &["CVE-1"], &[], Severity::High, None),
            advisory("DSA-1", &[], &["CVE-1"], Severity::Unknown, None),
            advisory("DSA-2", &["CVE-2"], &[], Severity::Unknown, None),
        ];
        assert_eq!(borrow_severities(&mut all), 1);
        assert_eq!(all[3].severity_source.as_deref(), Some("A-1"));
        assert_eq!(all[4].severity, Severity::Unknown, "no record has CVE-2");
    }
}
