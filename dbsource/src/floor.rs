//! The sanity floor: a DB that decodes and verifies can still be the wrong data — an export cut short, a
//! mirror that fell behind, an old artifact re-tagged. A new DB replaces the current one only if it has at
//! least a set share of the current one's advisories and its newest advisory is not older.

use chrono::{DateTime, Utc};
use strata_scanner::vulndb::VulnDb;

/// The share of the current DB's advisories a new DB must have, percent.
pub const DEFAULT_MIN_PERCENT: u64 = 90;

#[derive(Debug, Clone, Copy)]
pub struct Floor {
    pub min_percent: u64,
}

impl Default for Floor {
    fn default() -> Self {
        Floor { min_percent: DEFAULT_MIN_PERCENT }
    }
}

fn date(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?).ok().map(|d| d.with_timezone(&Utc))
}

impl Floor {
    /// `Err` says why `candidate` may not replace `current`.
    pub fn check(&self, current: &VulnDb, candidate: &VulnDb) -> Result<(), String> {
        let (have, new) = (current.advisories().len() as u64, candidate.advisories().len() as u64);
        if new.saturating_mul(100) < have.saturating_mul(self.min_percent) {
            return Err(format!(
                "it has {new} advisories, fewer than {}% of the current DB's {have} (a truncated export?)",
                self.min_percent
            ));
        }
        let (current_newest, candidate_newest) =
            (current.header().newest_advisory.as_deref(), candidate.header().newest_advisory.as_deref());
        match (date(current_newest), date(candidate_newest)) {
            (Some(have), Some(new)) if new < have => Err(format!(
                "its newest advisory ({}) is older than the current DB's ({}): older data",
                candidate_newest.unwrap_or_default(),
                current_newest.unwrap_or_default()
            )),
            (Some(_), None) => Err("it has no dated advisory and the current DB has".into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use strata_scanner::vulndb::VulnDb;
    use strata_testkit::osv_mirror::records;

    use super::*;

    /// The first `count` of the committed real Debian records, each `modified` at `date`.
    fn db(count: usize, date: &str) -> VulnDb {
        let dir = tempfile::tempdir().unwrap();
        for record in records(&strata_testkit::debian::minbase_osv()).iter_mut().take(count) {
            record["modified"] = date.into();
            let path = dir.path().join(format!("{}.json", record["id"].as_str().unwrap()));
            std::fs::write(path, record.to_string()).unwrap();
        }
        VulnDb::build(&[dir.path().to_path_buf()]).unwrap()
    }

    #[test]
    fn fewer_or_older_advisories_are_refused() {
        let floor = Floor::default();
        let current = db(16, "2026-11-01T00:00:00Z");
        assert_eq!(current.advisories().len(), 16);
        assert_eq!(floor.check(&current, &db(15, "2026-11-02T00:00:00Z")), Ok(()));
        assert_eq!(floor.check(&current, &db(16, "2026-11-01T00:00:00Z")), Ok(()));
        let few = floor.check(&current, &db(14, "2026-11-02T00:00:00Z")).unwrap_err();
        assert!(few.contains("14 advisories, fewer than 90% of the current DB's 16"), "{few}");
        let old = floor.check(&current, &db(16, "2026-10-01T00:00:00Z")).unwrap_err();
        assert!(old.contains("older than the current DB's (2026-11-01T00:00:00Z)"), "{old}");
    }
}
