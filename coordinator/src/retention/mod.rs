//! Retention: finished scans older than `STRATA_RETAIN_DAYS` are pruned from Redis, with their reports
//! and with the image records and policy documents no kept scan uses any more; the latest
//! `STRATA_RETAIN_LATEST` done scans of each repository stay whatever their age. An active scan is never
//! pruned. One replica prunes at a time (a lease), once an interval, in bounded batches ([`prune`]); a
//! pass is idempotent, so a replica that dies mid-pass leaves nothing half removed (each scan goes in one
//! script) and the next pass carries on.
//!
//! [`eviction`] checks at start that Redis's `maxmemory-policy` cannot evict what retention keeps.

pub mod eviction;
pub mod prune;

use std::time::Duration;

use tracing::{info, warn};

use crate::runner::now_ms;
use crate::store::ScanStore;
use crate::tasks::Tasks;

pub use prune::{Pass, prune};

/// How long scans are kept, and how many per repository whatever their age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Finished scans whose last update (finish or rescan) is older than this many days are pruned;
    /// 0 keeps every scan (no pruning at all).
    pub days: u64,
    /// The latest this many done scans of each repository are kept regardless of age; 0: age alone.
    pub latest: u32,
    /// How often the fleet runs a pass (one replica runs it).
    pub interval: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings { days: 30, latest: 3, interval: Duration::from_secs(3600) }
    }
}

impl RetentionSettings {
    /// Unix milliseconds before which a finished scan is old enough to go; `None`: keep everything.
    pub fn cutoff_ms(&self, now_ms: i64) -> Option<i64> {
        (self.days > 0).then(|| now_ms.saturating_sub(self.days.saturating_mul(86_400_000).min(i64::MAX as u64) as i64))
    }
}

/// The id of the pruning lease among the store's leases.
const LEASE_ID: &str = "retention-pruner";
/// The first pass waits this long after the start, so a rolling restart does not prune in every replica's
/// first minute (the lease would let only one of them through anyway).
const FIRST_PASS_AFTER: Duration = Duration::from_secs(60);

/// Starts the pruning loop under `tasks`; with `days` 0 there is nothing to do and nothing starts.
pub fn start(store: ScanStore, settings: RetentionSettings, tasks: &Tasks) {
    if settings.days == 0 {
        info!("retention off (STRATA_RETAIN_DAYS=0): scans are kept until removed by hand");
        return;
    }
    info!(days = settings.days, latest = settings.latest, "retention on");
    let owner = uuid::Uuid::new_v4().to_string();
    let interval = settings.interval.max(Duration::from_secs(1));
    let watch = tasks.clone();
    tasks.spawn(async move {
        let mut pause = FIRST_PASS_AFTER.min(interval);
        while watch.sleep(pause).await {
            pause = interval;
            // Held a little longer than the interval: the holder renews it each pass and keeps pruning;
            // another replica takes over once a holder has missed a pass.
            match store.lease(LEASE_ID, &owner, interval + interval / 2).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    warn!(error = %e, "retention: taking the pruning lease");
                    continue;
                }
            }
            match prune(&store, &settings, now_ms()).await {
                Ok(pass) => {
                    metrics::counter!("strata_retention_scans_pruned_total").increment(pass.scans);
                    info!(
                        scans = pass.scans,
                        images = pass.images,
                        policies = pass.policies,
                        examined = pass.examined,
                        complete = pass.complete,
                        "retention pass"
                    );
                }
                Err(e) => warn!(error = %e, "retention pass failed; the next one carries on"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff() {
        let settings = RetentionSettings { days: 2, ..RetentionSettings::default() };
        assert_eq!(settings.cutoff_ms(10 * 86_400_000), Some(8 * 86_400_000));
        assert_eq!(RetentionSettings { days: 0, ..settings }.cutoff_ms(1), None);
        assert_eq!(RetentionSettings { days: u64::MAX, ..settings }.cutoff_ms(0), Some(-i64::MAX));
    }
}
