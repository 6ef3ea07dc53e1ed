//! How current the advisory data is: the newest advisory date, overall and per ecosystem, and the notice a
//! scan gives when it is old.
//!
//! The date is the newest `modified` (else `published`) of any advisory, because a DB file built today
//! from a months-old export is as old as the export. Dates after the build time are ignored: some upstream
//! records carry `modified` dates in the future (PyPI ones up to 2027), which would make any data look
//! current. Staleness is a warning, never an error: offline and air-gapped scans are legitimate.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::{Advisory, DbHeader};

/// A data set whose newest advisory is older than this is stale. New advisories appear every day in any
/// maintained source, so a week without one means the data was not updated (Grype refuses a DB built more
/// than five days ago; this is a warning, so a little more slack).
pub const STALE_AFTER_DAYS: i64 = 7;

pub(super) struct Newest {
    now: DateTime<Utc>,
    overall: Option<DateTime<Utc>>,
    by_ecosystem: BTreeMap<String, DateTime<Utc>>,
}

impl Newest {
    pub fn new(now: DateTime<Utc>) -> Newest {
        Newest { now, overall: None, by_ecosystem: BTreeMap::new() }
    }

    pub fn add(&mut self, advisory: &Advisory, ecosystems: &BTreeSet<Cow<'_, str>>) {
        let date = advisory.modified.as_deref().or(advisory.published.as_deref());
        let Some(date) = date.and_then(|d| DateTime::parse_from_rfc3339(d.trim()).ok()) else { return };
        let date = date.with_timezone(&Utc);
        if date > self.now {
            return;
        }
        self.overall = self.overall.max(Some(date));
        for eco in ecosystems {
            let newest = self.by_ecosystem.entry(eco.to_string()).or_insert(date);
            *newest = (*newest).max(date);
        }
    }

    pub fn finish(self) -> (Option<String>, BTreeMap<String, String>) {
        let text = |d: DateTime<Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        (self.overall.map(text), self.by_ecosystem.into_iter().map(|(k, v)| (k, text(v))).collect())
    }
}

/// The day of an RFC 3339 date as written in the header.
fn day_of(date: &str) -> Option<NaiveDate> {
    DateTime::parse_from_rfc3339(date).ok().map(|d| d.with_timezone(&Utc).date_naive())
}

/// A warning when the newest advisory (`newest`, from the header; `what` names the data, e.g. `the DB` or
/// `the Debian:11 advisories`) is more than [`STALE_AFTER_DAYS`] before `today`; none when it is current
/// or has no date.
pub fn stale_notice(what: &str, newest: Option<&str>, today: NaiveDate) -> Option<String> {
    let day = newest.and_then(day_of)?;
    let age = (today - day).num_days();
    (age > STALE_AFTER_DAYS).then(|| {
        format!(
            "{what}: newest advisory is from {day} ({age} days ago): findings published since are missing; \
             update with `strata db update`"
        )
    })
}

/// The warning for a scan that matched against `ecosystems`: the oldest of those ecosystems' data when it
/// is stale (what matters for this image), else the whole DB's when that is.
pub fn stale_for<'a>(
    header: &DbHeader,
    ecosystems: impl IntoIterator<Item = &'a str>,
    today: NaiveDate,
) -> Option<String> {
    let oldest = ecosystems
        .into_iter()
        .filter_map(|eco| header.newest_by_ecosystem.get_key_value(eco))
        .min_by(|a, b| a.1.cmp(b.1));
    oldest
        .and_then(|(eco, newest)| stale_notice(&format!("the {eco} advisories"), Some(newest), today))
        .or_else(|| stale_notice("the vulnerability DB", header.newest_advisory.as_deref(), today))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advisory(modified: Option<&str>, published: Option<&str>) -> Advisory {
        Advisory {
            id: "X".into(),
            aliases: Vec::new(),
            upstream: Vec::new(),
            summary: None,
            details: None,
            severity: Default::default(),
            severity_source: None,
            cvss_score: None,
            cvss_vector: None,
            primary_url: None,
            references: Vec::new(),
            published: published.map(Into::into),
            modified: modified.map(Into::into),
            affected: Vec::new(),
        }
    }

    #[test]
    fn newest_ignores_future_and_unparsable_dates() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T00:00:00Z").unwrap().with_timezone(&Utc);
        let mut newest = Newest::new(now);
        let debian: BTreeSet<Cow<'_, str>> = [Cow::Borrowed("Debian:11")].into();
        let pypi: BTreeSet<Cow<'_, str>> = [Cow::Borrowed("PyPI")].into();
        newest.add(&advisory(Some("2023-03-29T00:00:00Z"), None), &debian);
        newest.add(&advisory(None, Some("2026-08-21T13:38:00-07:00")), &pypi);
        newest.add(&advisory(Some("2027-07-09T00:00:00Z"), None), &pypi);
        newest.add(&advisory(Some("yesterday"), None), &debian);
        let (overall, by_eco) = newest.finish();
        assert_eq!(overall.as_deref(), Some("2026-08-21T20:38:00Z"));
        assert_eq!(by_eco["Debian:11"], "2023-03-29T00:00:00Z");
        assert_eq!(by_eco["PyPI"], "2026-08-21T20:38:00Z");
    }

    #[test]
    fn stale_after_a_week() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert_eq!(stale_notice("the DB", Some("2026-11-26T10:00:00Z"), today), None);
        let notice = stale_notice("the DB", Some("2026-11-25T23:00:00Z"), today).unwrap();
        assert!(notice.starts_with("the DB: newest advisory is from 2026-11-25 (8 days ago)"), "{notice}");
        assert_eq!(stale_notice("the DB", None, today), None);
    }
}
