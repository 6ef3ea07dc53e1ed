//! Running scans: one task per scan, driven by its record in Redis so that any replica can resume it.
//! Steps: resolve the manifest, fan the layers out (cache, single-flight, queue), merge, match, store.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strata_proto::v1::{ReportSummary, Scan, ScanOptions, ScanStatus};
use strata_registry::{RegistryClient, RegistryOptions};
use strata_scanner::image::Platform;
use strata_scanner::report::{Report, ReportOptions};
use strata_scanner::severity::Severity;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::assemble;
use crate::db::DbHandle;
use crate::error::{CoordinatorError, Result};
use crate::layers::{LayerFanout, LayerProgress, LayerSource};
use crate::store::{ScanStore, StoredImage, is_terminal};

const LEASE: Duration = Duration::from_secs(30);

/// Registry settings the coordinator resolves manifests with (its own credentials).
#[derive(Clone, Default)]
pub struct RegistrySettings {
    pub insecure: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub docker_config: Option<std::path::PathBuf>,
}

pub struct Runner {
    pub store: ScanStore,
    fanout: LayerFanout,
    db: Arc<DbHandle>,
    registry: RegistrySettings,
    clients: Mutex<HashMap<String, Arc<RegistryClient>>>,
    owner: String,
    slots: Arc<Semaphore>,
    /// Scans this replica is running now (so its resumer does not start them twice).
    running: Mutex<HashSet<String>>,
    /// Where finished scans are queued for DefectDojo, when it is configured.
    pub outbox: std::sync::OnceLock<crate::defectdojo::outbox::Outbox>,
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `registry/name:tag` or `registry/name@sha256:…` → `registry/name`: where the layers' blobs live.
pub fn repository_of(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match (without_digest.rfind(':'), without_digest.rfind('/')) {
        (Some(colon), Some(slash)) if colon > slash => &without_digest[..colon],
        (Some(colon), None) => &without_digest[..colon],
        _ => without_digest,
    }
}

impl Runner {
    pub fn new(
        store: ScanStore,
        fanout: LayerFanout,
        db: Arc<DbHandle>,
        registry: RegistrySettings,
        max_concurrent: usize,
    ) -> Arc<Self> {
        Arc::new(Runner {
            store,
            fanout,
            db,
            registry,
            clients: Mutex::default(),
            owner: uuid::Uuid::new_v4().to_string(),
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            running: Mutex::default(),
            outbox: std::sync::OnceLock::new(),
        })
    }

    /// Records a new scan and starts it.
    pub async fn submit(self: &Arc<Self>, reference: String, options: ScanOptions) -> Result<String> {
        if reference.trim().is_empty() {
            return Err(CoordinatorError::Invalid("empty image reference".into()));
        }
        let platform = if options.platform.is_empty() { "linux/amd64" } else { options.platform.as_str() };
        platform.parse::<Platform>()?;
        for s in &options.severities {
            s.parse::<Severity>().map_err(CoordinatorError::Invalid)?;
        }
        let now = now_ms();
        let scan = Scan {
            id: uuid::Uuid::new_v4().to_string(),
            reference,
            status: ScanStatus::Queued as i32,
            labels: options.labels.clone(),
            options: Some(options),
            created_unix_ms: now,
            updated_unix_ms: now,
            ..Scan::default()
        };
        self.store.save(&scan).await?;
        metrics::counter!("strata_scans_submitted_total").increment(1);
        self.spawn(scan.id.clone());
        Ok(scan.id)
    }

    pub fn spawn(self: &Arc<Self>, id: String) {
        let runner = self.clone();
        tokio::spawn(async move {
            let Ok(_slot) = runner.slots.clone().acquire_owned().await else { return };
            if let Err(e) = runner.run(&id).await {
                warn!(scan = %id, error = %e, "scan did not complete");
            }
        });
    }

    /// Resumes every unfinished scan that no live replica holds (after a restart or a replica's death).
    pub async fn resume(self: &Arc<Self>) -> Result<usize> {
        let ids = self.store.active_ids().await?;
        let running = self.running.lock().map(|r| r.clone()).unwrap_or_default();
        let orphans: Vec<String> = ids.into_iter().filter(|id| !running.contains(id)).collect();
        let count = orphans.len();
        for id in orphans {
            self.spawn(id);
        }
        if count > 0 {
            info!(scans = count, "resuming unfinished scans");
        }
        Ok(count)
    }

    /// Keeps resuming: a scan whose replica died is picked up once its lease has run out.
    pub fn start_resumer(self: &Arc<Self>) {
        let runner = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 2).await;
                if let Err(e) = runner.resume().await {
                    warn!(error = %e, "resuming scans");
                }
            }
        });
    }

    async fn run(&self, id: &str) -> Result<()> {
        let Some(_running) = RunningGuard::enter(&self.running, id) else { return Ok(()) };
        if !self.store.lease(id, &self.owner, LEASE).await? {
            return Ok(()); // another replica runs it
        }
        // Renew the lease while the scan waits on its layers, so no other replica takes it over.
        let heartbeat = {
            let (store, owner, id) = (self.store.clone(), self.owner.clone(), id.to_string());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(LEASE / 3).await;
                    let _ = store.lease(&id, &owner, LEASE).await;
                }
            })
        };
        let result = self.run_leased(id).await;
        heartbeat.abort();
        result
    }

    async fn run_leased(&self, id: &str) -> Result<()> {
        let mut scan = self.store.get(id).await?;
        if is_terminal(scan.status) {
            self.store.release(id).await?;
            return Ok(());
        }
        let outcome = self.execute(&mut scan).await;
        if let Err(e) = &outcome
            && backend_unavailable(e)
        {
            // Redis or RabbitMQ went away mid-scan (a restart): the scan stays active and the resumer
            // runs it again once its lease is released or runs out; failing it would lose a night's work.
            warn!(scan = %id, error = %e, "a backend is unavailable; the scan will be resumed");
            metrics::counter!("strata_scans_deferred_total").increment(1);
            return self.store.release(id).await;
        }
        if let Err(e) = outcome {
            let latest = self.store.get(id).await.unwrap_or(scan);
            if latest.status != ScanStatus::Cancelled as i32 {
                let mut failed = latest;
                failed.status = ScanStatus::Failed as i32;
                failed.error = e.to_string();
                metrics::counter!("strata_scans_completed_total", "status" => "failed").increment(1);
                failed.updated_unix_ms = now_ms();
                self.store.save(&failed).await?;
            }
        }
        self.store.release(id).await
    }

    fn client(&self, platform: &str) -> Result<Arc<RegistryClient>> {
        let mut clients = self.clients.lock().map_err(|_| CoordinatorError::Internal("client lock poisoned".into()))?;
        if let Some(c) = clients.get(platform) {
            return Ok(c.clone());
        }
        let options = RegistryOptions {
            insecure: self.registry.insecure,
            platform: platform.parse()?,
            docker_config: self.registry.docker_config.clone(),
            username: self.registry.username.clone(),
            password: self.registry.password.clone(),
        };
        let client = Arc::new(RegistryClient::new(options)?);
        clients.insert(platform.to_string(), client.clone());
        Ok(client)
    }

    async fn update(&self, scan: &mut Scan, change: impl FnOnce(&mut Scan)) -> Result<()> {
        self.update_with(scan, change, |_| Vec::new()).await
    }

    /// As `update`, running the commands `extra` makes (from the changed record) in the same MULTI.
    async fn update_with(
        &self,
        scan: &mut Scan,
        change: impl FnOnce(&mut Scan),
        extra: impl FnOnce(&Scan) -> Vec<redis::Cmd>,
    ) -> Result<()> {
        // A cancel from any replica wins over this task's progress.
        let current = self.store.get(&scan.id).await?;
        if current.status == ScanStatus::Cancelled as i32 {
            return Err(CoordinatorError::Invalid("cancelled".into()));
        }
        change(scan);
        scan.updated_unix_ms = now_ms();
        self.store.save_with(scan, extra(scan)).await?;
        self.store.lease(&scan.id, &self.owner, LEASE).await?;
        Ok(())
    }

    async fn execute(&self, scan: &mut Scan) -> Result<()> {
        let options = scan.options.clone().unwrap_or_default();
        let platform = if options.platform.is_empty() { "linux/amd64".to_string() } else { options.platform.clone() };
        self.update(scan, |s| s.status = ScanStatus::Resolving as i32).await?;
        let image = self.client(&platform)?.resolve(&scan.reference).await?;
        let layers_total = image.layers.len() as u32;
        self.update(scan, |s| {
            s.status = ScanStatus::Analyzing as i32;
            s.image_digest = image.manifest_digest.clone();
            s.layers_total = layers_total;
            (s.layers_cached, s.layers_analyzed, s.layers_failed) = (0, 0, 0);
        })
        .await?;

        let counts = Mutex::new((0u32, 0u32, 0u32));
        let progress = |p: LayerProgress| {
            if let (Some(ok), Ok(mut c)) = (p.result_ok, counts.lock()) {
                match (ok, p.source) {
                    (false, _) => c.2 += 1,
                    (true, LayerSource::Cached) => c.0 += 1,
                    (true, _) => c.1 += 1,
                }
            }
        };
        let repository = repository_of(&scan.reference).to_string();
        let results = self.fanout.collect(&scan.id, &repository, &image, "", &progress).await?;
        let (cached, analyzed, failed) = counts.lock().map(|c| *c).unwrap_or_default();
        self.update(scan, |s| {
            s.status = ScanStatus::Matching as i32;
            (s.layers_cached, s.layers_analyzed, s.layers_failed) = (cached, analyzed, failed);
        })
        .await?;

        let db = self.db.clone();
        let report_options = report_options(&options)?;
        let built = tokio::task::spawn_blocking(move || -> Result<(Report, StoredImage)> {
            let inventory = assemble::inventory(&image, &results).map_err(CoordinatorError::Internal)?;
            let db = db.current()?;
            let report = assemble::report(&image, &inventory, &db, &report_options);
            Ok((report, StoredImage { image, inventory }))
        })
        .await
        .map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        let (report, stored) = match built {
            Ok(b) => b,
            Err(CoordinatorError::Internal(why)) if failed > 0 => return Err(CoordinatorError::Invalid(why)),
            Err(e) => return Err(e),
        };
        self.store.put_image(&stored.image.manifest_digest, &stored).await?;
        self.finish(scan, &report).await
    }

    /// Stores the report and marks the scan done.
    async fn finish(&self, scan: &mut Scan, report: &Report) -> Result<()> {
        let json = serde_json::to_vec(report).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        self.store.put_report(&scan.id, &json).await?;
        metrics::counter!("strata_scans_completed_total", "status" => "done").increment(1);
        // Queued for DefectDojo in the MULTI that marks the scan done: never done but unsent, never twice.
        let outbox = self.outbox.get();
        self.update_with(
            scan,
            |s| {
                s.status = ScanStatus::Done as i32;
                s.summary = Some(summary(report));
                s.db_digest = report.db.content_digest.clone();
            },
            |s| outbox.map(|o| o.prepare(s, report)).unwrap_or_default(),
        )
        .await
    }

    pub async fn cancel(&self, id: &str) -> Result<Scan> {
        let mut scan = self.store.get(id).await?;
        if !is_terminal(scan.status) {
            scan.status = ScanStatus::Cancelled as i32;
            scan.updated_unix_ms = now_ms();
            self.store.save(&scan).await?;
        }
        Ok(scan)
    }

    /// Re-matches the stored inventories of finished scans against the current DB. No registry pull, no
    /// layer job. Returns, per scan, the findings that appeared and those that went away.
    pub async fn rescan(&self, selected: Vec<Scan>) -> Result<Vec<strata_proto::v1::RescanResult>> {
        use futures_util::{StreamExt, TryStreamExt};
        let done: Vec<Scan> = selected.into_iter().filter(|s| s.status == ScanStatus::Done as i32).collect();
        // Each rescan is a few Redis round trips and a match: overlap them, bounded.
        futures_util::stream::iter(done).map(|scan| self.rescan_one(scan)).buffered(32).try_collect().await
    }

    async fn rescan_one(&self, mut scan: Scan) -> Result<strata_proto::v1::RescanResult> {
        let stored = self.store.get_image(&scan.image_digest).await?;
        let old: Report = serde_json::from_slice(&self.store.get_report(&scan.id).await?)
            .map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        let options = report_options(&scan.options.clone().unwrap_or_default())?;
        let db = self.db.clone();
        let report = tokio::task::spawn_blocking(move || -> Result<Report> {
            let db = db.current()?;
            Ok(assemble::report(&stored.image, &stored.inventory, &db, &options))
        })
        .await
        .map_err(|e| CoordinatorError::Internal(e.to_string()))??;
        let (before, after) = (finding_keys(&old), finding_keys(&report));
        let result = strata_proto::v1::RescanResult {
            scan_id: scan.id.clone(),
            reference: scan.reference.clone(),
            new_findings: after.difference(&before).cloned().collect(),
            fixed_findings: before.difference(&after).cloned().collect(),
            db_digest: report.db.content_digest.clone(),
        };
        self.finish(&mut scan, &report).await?;
        Ok(result)
    }
}

/// Errors that say nothing about the scan, only that Redis or the broker could not be reached.
fn backend_unavailable(e: &CoordinatorError) -> bool {
    use strata_fleet::FleetError;
    matches!(
        e,
        CoordinatorError::Redis(_)
            | CoordinatorError::Fleet(FleetError::Cache(_) | FleetError::Queue(_) | FleetError::Closed)
    )
}

/// Marks a scan as running on this replica for as long as it lives.
struct RunningGuard<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl<'a> RunningGuard<'a> {
    fn enter(set: &'a Mutex<HashSet<String>>, id: &str) -> Option<Self> {
        let inserted = set.lock().map(|mut s| s.insert(id.to_string())).unwrap_or(false);
        inserted.then(|| RunningGuard { set, id: id.to_string() })
    }
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.id);
        }
    }
}

fn finding_keys(report: &Report) -> BTreeSet<String> {
    report
        .results
        .iter()
        .flat_map(|r| &r.findings)
        .map(|f| format!("{} {}@{} {}", f.id, f.package, f.installed_version, f.path))
        .collect()
}

pub fn report_options(options: &ScanOptions) -> Result<ReportOptions> {
    let severities = if options.severities.is_empty() {
        Severity::ALL.into_iter().collect()
    } else {
        options
            .severities
            .iter()
            .map(|s| s.parse::<Severity>().map_err(CoordinatorError::Invalid))
            .collect::<Result<_>>()?
    };
    Ok(ReportOptions { severities, ignore_unfixed: options.ignore_unfixed, list_packages: false })
}

fn summary(report: &Report) -> ReportSummary {
    let count = |s: Severity| report.summary.by_severity.get(&s).copied().unwrap_or(0) as u32;
    ReportSummary {
        total: report.summary.total as u32,
        critical: count(Severity::Critical),
        high: count(Severity::High),
        medium: count(Severity::Medium),
        low: count(Severity::Low),
        unknown: count(Severity::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::repository_of;

    #[test]
    fn repositories() {
        for (reference, repo) in [
            ("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app"),
            ("127.0.0.1:5000/team/app@sha256:abc", "127.0.0.1:5000/team/app"),
            ("127.0.0.1:5000/app", "127.0.0.1:5000/app"),
            ("debian:11", "debian"),
            ("registry.example.com/a/b:tag@sha256:abc", "registry.example.com/a/b"),
        ] {
            assert_eq!(repository_of(reference), repo);
        }
    }
}
