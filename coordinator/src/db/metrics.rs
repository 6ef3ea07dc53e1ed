//! What `/metrics` says about the DB in use: `strata_db_age_seconds` (now minus the newest advisory
//! date: how current the data is, whenever the file was built), advisory counts overall and per
//! ecosystem, and `strata_db_info{content_digest}` — the digest every report carries, so that a
//! dashboard shows at a glance whether all replicas converged on one DB.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use strata_scanner::vulndb::VulnDb;

/// Seconds from the DB's newest advisory to `now`; `None` when no advisory is dated.
pub fn age_seconds(db: &VulnDb, now: DateTime<Utc>) -> Option<f64> {
    let newest = DateTime::parse_from_rfc3339(db.header().newest_advisory.as_deref()?).ok()?;
    Some((now - newest.with_timezone(&Utc)).num_seconds().max(0) as f64)
}

/// The age gauge, as of now: set on every load and at each tick of the refresh task.
pub fn set_age(db: &VulnDb) {
    if let Some(age) = age_seconds(db, Utc::now()) {
        metrics::gauge!("strata_db_age_seconds").set(age);
    }
}

/// Every gauge about `db`, after it was loaded or swapped in.
pub fn describe(db: &VulnDb) {
    static SHOWN: Mutex<Option<String>> = Mutex::new(None);
    set_age(db);
    metrics::gauge!("strata_db_advisories").set(db.advisories().len() as f64);
    for (ecosystem, count) in &db.header().record_counts {
        metrics::gauge!("strata_db_ecosystem_advisories", "ecosystem" => ecosystem.clone()).set(*count as f64);
    }
    let digest = db.header().content_digest.clone();
    let mut shown = match SHOWN.lock() {
        Ok(shown) => shown,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(previous) = shown.replace(digest.clone())
        && previous != digest
    {
        metrics::gauge!("strata_db_info", "content_digest" => previous).set(0.0);
    }
    metrics::gauge!("strata_db_info", "content_digest" => digest).set(1.0);
}

/// `Err` (for `/readyz`) when the DB's newest advisory is older than `max_age` (`STRATA_DB_MAX_AGE`).
pub fn check_fresh(db: &VulnDb, max_age: std::time::Duration) -> Result<(), String> {
    match age_seconds(db, Utc::now()) {
        Some(age) if age > max_age.as_secs_f64() => Err(format!(
            "the vulnerability DB is stale: its newest advisory ({}) is {:.1} days old, over STRATA_DB_MAX_AGE ({:.1} days)",
            db.header().newest_advisory.as_deref().unwrap_or_default(),
            age / 86_400.0,
            max_age.as_secs_f64() / 86_400.0
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_is_from_the_newest_advisory() {
        let db = VulnDb::build(&[strata_testkit::debian::minbase_osv()]).unwrap();
        let newest = DateTime::parse_from_rfc3339(db.header().newest_advisory.as_deref().unwrap()).unwrap();
        let later = newest.with_timezone(&Utc) + chrono::Duration::hours(3);
        assert_eq!(age_seconds(&db, later), Some(10_800.0));
        let empty = VulnDb::from_advisories(Vec::new(), Vec::new(), 0).unwrap();
        assert_eq!(age_seconds(&empty, later), None);
    }
}
