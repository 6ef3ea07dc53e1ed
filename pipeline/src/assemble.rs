//! From layer results to a report: decode the cached inventories, merge them (the engine's merge), match
//! against the DB. CPU work: callers run it on the blocking pool.

use strata_fleet::{LayerResult, codec};
use strata_scanner::image::ResolvedImage;
use strata_scanner::merge::{ImageInventory, merge};
use strata_scanner::report::{self, Report, ReportOptions};
use strata_scanner::vulndb::VulnDb;

/// The merged inventory of an image, or why it cannot be built (a layer failed for good).
pub fn inventory(image: &ResolvedImage, results: &[LayerResult]) -> Result<ImageInventory, String> {
    let failed: Vec<String> = results
        .iter()
        .zip(&image.layers)
        .filter(|(r, _)| !r.ok)
        .map(|(r, layer)| format!("layer #{}: {}", layer.index, r.error))
        .collect();
    if !failed.is_empty() {
        return Err(format!("image {}: {}", image.name, failed.join("; ")));
    }
    let inventories = results
        .iter()
        .map(|r| codec::decompress_inventory(&r.inventory).map_err(|e| format!("layer {}: {e}", r.digest)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(merge(&image.layers, &inventories))
}

/// The report, with the base-image advice and the stale-data warning as of today: the same in the fleet and in `strata image`.
pub fn report(image: &ResolvedImage, inventory: &ImageInventory, db: &VulnDb, options: &ReportOptions) -> Report {
    let today = strata_scanner::report::advice::today();
    let mut report = report::build(image, inventory, db, options);
    report.advice = strata_scanner::report::advice::advise(image, &report, today);
    let matched = report.results.iter().filter(|r| r.notice.is_none()).filter_map(|r| r.ecosystem.as_deref());
    report.db.stale = strata_scanner::vulndb::stale_for(db.header(), matched, today);
    report
}
