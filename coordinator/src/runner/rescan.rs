//! Rescans: re-matching stored image inventories against the current DB — no registry pull, no layer job —
//! and telling what changed, per scan.

use std::collections::BTreeSet;

use strata_proto::v1::{RescanResult, Scan, ScanStatus};
use strata_scanner::report::Report;

use super::{Runner, finished, report_options};
use crate::error::{CoordinatorError, Result};
use crate::store::StoredImage;

impl Runner {
    /// Re-matches the stored inventories of finished scans against the current DB. No registry pull, no
    /// layer job. Returns, per scan, the findings that appeared and those that went away.
    pub async fn rescan(&self, selected: Vec<Scan>) -> Result<Vec<RescanResult>> {
        use futures_util::{StreamExt, TryStreamExt};
        let done: Vec<Scan> = selected.into_iter().filter(|s| s.status == ScanStatus::Done as i32).collect();
        // Each rescan is a few Redis round trips and a match: overlap them, bounded.
        futures_util::stream::iter(done).map(|scan| self.rescan_one(scan)).buffered(32).try_collect().await
    }

    async fn rescan_one(&self, scan: Scan) -> Result<RescanResult> {
        let stored = self.store.get_image(&scan.image_digest).await?;
        self.rematch(scan, stored).await
    }

    /// Re-matches `stored` (the inventory of `scan`'s image) against the current DB, and stores the new
    /// report under the same scan.
    pub async fn rematch(&self, mut scan: Scan, stored: StoredImage) -> Result<RescanResult> {
        let old: Report = serde_json::from_slice(&self.store.get_report(&scan.id).await?)
            .map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        let scan_options = scan.options.clone().unwrap_or_default();
        let options = report_options(&scan_options)?;
        // The policy as it is now: a changed ignore file or VEX document applies on rescan too.
        let policy = crate::policy::of_scan(&self.store, &self.policy, &scan_options).await?;
        let db = self.db.clone();
        let report = tokio::task::spawn_blocking(move || {
            finished(db.as_deref(), &stored.image, &stored.inventory, &options, &policy)
        })
        .await
        .map_err(|e| CoordinatorError::Internal(e.to_string()))??;
        let (before, after) = (finding_keys(&old), finding_keys(&report));
        let delta: BTreeSet<String> = after.difference(&before).cloned().collect();
        let result = RescanResult {
            scan_id: scan.id.clone(),
            reference: scan.reference.clone(),
            new_findings: delta.iter().cloned().collect(),
            fixed_findings: before.difference(&after).cloned().collect(),
            db_digest: report.db.content_digest.clone(),
        };
        // Only a new DB makes an image newly vulnerable; a changed ignore file or VEX is the operator's own
        // doing and is not announced.
        let events = match self.events.get() {
            Some(events) if !delta.is_empty() && old.db.content_digest != report.db.content_digest => {
                let announced = events.announced(&scan.image_digest).await?;
                events.prepare(&scan, &report, &delta, &announced)
            }
            _ => Vec::new(),
        };
        self.finish_with(&mut scan, &report, events).await?;
        Ok(result)
    }
}

fn finding_keys(report: &Report) -> BTreeSet<String> {
    crate::events::outbox::findings_by_key(report).into_keys().collect()
}
