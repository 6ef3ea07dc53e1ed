//! Running scans: one task per scan, driven by its record in Redis so that any replica can resume it.
//! Steps: resolve the manifest, fan the layers out (cache, single-flight, queue), merge, match, store.
//! Re-matching stored inventories without layer work is in [`rescan`].

mod registry;
mod rescan;

use registry::lent_pull_token;
pub use registry::{RegistryCredential, RegistrySettings};
pub use strata_registry::repository_of;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strata_fleet::telemetry;
use strata_pipeline::fanout::{LayerFanout, LayerProgress, LayerSource};
use strata_pipeline::{assemble, finish};
use strata_proto::status::is_terminal;
use strata_proto::v1::{ReportSummary, Scan, ScanOptions, ScanStatus};
use strata_registry::RegistryClient;
use strata_scanner::image::{Platform, ResolvedImage};
use strata_scanner::merge::ImageInventory;
use strata_scanner::report::policy::{Policy, Scanner};
use strata_scanner::report::{Report, ReportOptions};
use strata_scanner::severity::Severity;
use tokio::sync::Semaphore;
use tokio_util::task::AbortOnDropHandle;
use tracing::field::Empty;
use tracing::{Instrument, info, info_span, warn};

use crate::db::DbHandle;
use crate::error::{CoordinatorError, Result};
use crate::policy::ConfiguredPolicy;
use crate::store::{ScanStore, StoredImage};
use crate::tasks::Tasks;

const LEASE: Duration = Duration::from_secs(30);

pub struct Runner {
    pub store: ScanStore,
    fanout: LayerFanout,
    /// `None`: no DB configured; only scans without the vuln scanner run.
    db: Option<Arc<DbHandle>>,
    policy: Arc<ConfiguredPolicy>,
    registry: RegistrySettings,
    clients: Mutex<HashMap<String, Arc<RegistryClient>>>,
    owner: String,
    slots: Arc<Semaphore>,
    /// Scans this replica is running now (so its resumer does not start them twice).
    running: Mutex<HashSet<String>>,
    /// Where finished scans are queued for DefectDojo, when it is configured.
    pub outbox: std::sync::OnceLock<crate::defectdojo::outbox::Outbox>,
    /// Where rescans queue new-vulnerability events, when a webhook is configured.
    pub events: std::sync::OnceLock<crate::events::outbox::Outbox>,
    /// Lent credentials by scan id, taken when the scan resolves its manifest.
    lent: Mutex<HashMap<String, RegistryCredential>>,
    /// The coordinator's background tasks: scans run among them and stop with them.
    pub tasks: Tasks,
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Runner {
    pub fn new(
        store: ScanStore,
        fanout: LayerFanout,
        db: Option<Arc<DbHandle>>,
        policy: Arc<ConfiguredPolicy>,
        registry: RegistrySettings,
        max_concurrent: usize,
        tasks: Tasks,
    ) -> Arc<Self> {
        Arc::new(Runner {
            store,
            fanout,
            db,
            policy,
            registry,
            clients: Mutex::default(),
            owner: uuid::Uuid::new_v4().to_string(),
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            running: Mutex::default(),
            outbox: std::sync::OnceLock::new(),
            events: std::sync::OnceLock::new(),
            lent: Mutex::default(),
            tasks,
        })
    }

    /// Records a new scan and starts it. `traceparent` is the submitter's trace context; without one (and
    /// with traces on) the scan's trace starts at a `submit` span of its own.
    pub async fn submit(
        self: &Arc<Self>,
        reference: String,
        options: ScanOptions,
        traceparent: Option<String>,
    ) -> Result<String> {
        self.submit_with(reference, options, None, traceparent).await
    }

    /// As [`submit`](Self::submit), resolving the manifest with `credential` instead of the coordinator's
    /// own when this replica runs the scan (a replica resuming it after a restart uses its own).
    pub async fn submit_with(
        self: &Arc<Self>,
        reference: String,
        mut options: ScanOptions,
        credential: Option<RegistryCredential>,
        traceparent: Option<String>,
    ) -> Result<String> {
        if reference.trim().is_empty() {
            return Err(CoordinatorError::Invalid("empty image reference".into()));
        }
        self.check_registry(&reference)?;
        let platform = if options.platform.is_empty() { "linux/amd64" } else { options.platform.as_str() };
        platform.parse::<Platform>()?;
        for s in &options.severities {
            s.parse::<Severity>().map_err(CoordinatorError::Invalid)?;
        }
        for s in &options.scanners {
            s.parse::<Scanner>().map_err(CoordinatorError::Invalid)?;
        }
        crate::policy::store_submitted(&self.store, &mut options).await?;
        let now = now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        let traceparent =
            traceparent.or_else(|| telemetry::traceparent(&info_span!("submit", scan.id = %id))).unwrap_or_default();
        let scan = Scan {
            id,
            traceparent,
            reference,
            status: ScanStatus::Queued as i32,
            labels: options.labels.clone(),
            options: Some(options),
            created_unix_ms: now,
            updated_unix_ms: now,
            ..Scan::default()
        };
        self.store.save(&scan).await?;
        if let (Some(credential), Ok(mut lent)) = (credential, self.lent.lock()) {
            lent.insert(scan.id.clone(), credential);
        }
        metrics::counter!("strata_scans_submitted_total").increment(1);
        info!(scan = %scan.id, image = %scan.reference, "scan submitted");
        self.spawn(scan.id.clone());
        Ok(scan.id)
    }

    pub fn spawn(self: &Arc<Self>, id: String) {
        let runner = self.clone();
        self.tasks.spawn_graceful(async move {
            let slot = tokio::select! {
                slot = runner.slots.clone().acquire_owned() => slot,
                _ = runner.tasks.stopped() => return,
            };
            let Ok(_slot) = slot else { return };
            if let Err(e) = runner.run(&id).await {
                warn!(scan = %id, error = %e, "scan did not complete");
            }
            // Whatever happened (another replica ran it, it failed before resolving), a lent credential
            // does not outlive the attempt.
            if let Ok(mut lent) = runner.lent.lock() {
                lent.remove(&id);
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
        self.tasks.spawn(async move {
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
        let _heartbeat = {
            let (store, owner, id) = (self.store.clone(), self.owner.clone(), id.to_string());
            AbortOnDropHandle::new(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(LEASE / 3).await;
                    let _ = store.lease(&id, &owner, LEASE).await;
                }
            }))
        };
        tokio::select! {
            result = self.run_leased(id) => result,
            _ = self.tasks.stopped() => {
                // Unfinished, as a crash would leave it, but released: the next replica to look resumes it
                // at once rather than after the lease runs out.
                info!(scan = %id, "coordinator stopping: the scan is left to be resumed");
                self.store.release(id).await
            }
        }
    }

    async fn run_leased(&self, id: &str) -> Result<()> {
        let mut scan = self.store.get(id).await?;
        if is_terminal(scan.status) {
            self.store.release(id).await?;
            return Ok(());
        }
        // One span per run of the scan: a resumed scan (another replica, a restart) adds a second run to
        // the same trace, under the same submit.
        let span = info_span!(
            "scan",
            scan.id = %scan.id,
            image.reference = %scan.reference,
            image.digest = Empty,
            scan.status = Empty,
            otel.status_code = Empty,
            scan.error = Empty,
            trace_id = Empty,
        );
        telemetry::set_parent(&span, &scan.traceparent);
        let reference = scan.reference.clone();
        let outcome = self.execute(&mut scan).instrument(span.clone()).await;
        span.record("image.digest", scan.image_digest.as_str());
        let mut status = scan.status;
        let mut error = String::new();
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
            status = latest.status;
            if latest.status != ScanStatus::Cancelled as i32 {
                let mut failed = latest;
                failed.status = ScanStatus::Failed as i32;
                failed.error = e.to_string();
                error.clone_from(&failed.error);
                status = failed.status;
                span.record("otel.status_code", "error");
                span.record("scan.error", failed.error.as_str());
                metrics::counter!("strata_scans_completed_total", "status" => "failed").increment(1);
                failed.updated_unix_ms = now_ms();
                self.store.save(&failed).await?;
            }
        }
        span.record("scan.status", strata_proto::status::name(status).as_str());
        // One line per scan at INFO: what an operator tails to follow a night's run.
        if error.is_empty() {
            info!(scan = %id, image = %reference, status = %strata_proto::status::name(status), "scan finished");
        } else {
            info!(scan = %id, image = %reference, status = %strata_proto::status::name(status), error = %error, "scan finished");
        }
        self.store.release(id).await
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
        let lent = self.lent.lock().ok().and_then(|mut lent| lent.remove(&scan.id));
        let is_lent = lent.is_some();
        let client = match lent {
            Some(credential) => self.lent_client(&scan.reference, &platform, credential)?,
            None => self.client(&platform)?,
        };
        let image = client.resolve(&scan.reference).await?;
        // The workers get the lent credential's pull token, never the password nor their own credential.
        let pull_token = if is_lent { Some(lent_pull_token(&client, &scan.reference).await?) } else { None };
        drop(client);
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
        // Each layer job is a child of this run's span (the workers continue the trace from the job).
        let traceparent = telemetry::current_traceparent().unwrap_or_default();
        let results =
            self.fanout.collect(&scan.id, &repository, &image, &traceparent, pull_token.as_deref(), &progress).await?;
        let (cached, analyzed, failed) = counts.lock().map(|c| *c).unwrap_or_default();
        self.update(scan, |s| {
            s.status = ScanStatus::Matching as i32;
            (s.layers_cached, s.layers_analyzed, s.layers_failed) = (cached, analyzed, failed);
        })
        .await?;

        let db = self.db.clone();
        let report_options = report_options(&options)?;
        let policy = crate::policy::of_scan(&self.store, &self.policy, &options).await?;
        let span = info_span!("assemble", image.packages = Empty, scan.findings = Empty);
        let built = tokio::task::spawn_blocking(move || -> Result<(Report, StoredImage)> {
            let _entered = span.enter();
            let inventory = assemble::inventory(&image, &results).map_err(CoordinatorError::Internal)?;
            let report = finished(db.as_deref(), &image, &inventory, &report_options, &policy)?;
            span.record("image.packages", inventory.packages.len());
            span.record("scan.findings", report.summary.total);
            Ok((report, StoredImage { image, inventory, analyzer_version: strata_scanner::ANALYZER_VERSION }))
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
        self.finish_with(scan, report, Vec::new()).await
    }

    /// As [`finish`](Self::finish), running `extra` (a rescan's events) in the MULTI that marks it done.
    async fn finish_with(&self, scan: &mut Scan, report: &Report, extra: Vec<redis::Cmd>) -> Result<()> {
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
            |s| {
                let mut cmds = outbox.map(|o| o.prepare(s, report)).unwrap_or_default();
                cmds.extend(extra);
                // The fleet query index, superseding the reference's previous scan: a done scan is answerable.
                cmds.push(crate::query::index::prepare(&self.store, s, report));
                cmds
            },
        )
        .await
    }

    /// The vulnerability DB scans are matched with, if one is configured.
    pub fn db(&self) -> Option<&Arc<DbHandle>> {
        self.db.as_ref()
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

/// The finished report of a scan (the same step as `strata image`'s). Blocking: CPU work, and the DB may
/// be read again.
fn finished(
    db: Option<&DbHandle>,
    image: &ResolvedImage,
    inventory: &ImageInventory,
    options: &ReportOptions,
    policy: &Policy,
) -> Result<Report> {
    let db = match (finish::needs_db(policy), db) {
        (false, _) => None,
        (true, Some(db)) => Some(db.current()?),
        (true, None) => {
            return Err(CoordinatorError::Invalid(
                "no vulnerability DB is configured (STRATA_DB): only scans without the vuln scanner run".into(),
            ));
        }
    };
    finish::report(image, inventory, db.as_deref(), options, policy, Vec::new())
        .map_err(|e| CoordinatorError::Internal(e.to_string()))
}

fn report_options(options: &ScanOptions) -> Result<ReportOptions> {
    let severities = if options.severities.is_empty() {
        Severity::ALL.into_iter().collect()
    } else {
        options
            .severities
            .iter()
            .map(|s| s.parse::<Severity>().map_err(CoordinatorError::Invalid))
            .collect::<Result<_>>()?
    };
    // A finished report lists every package whatever this says: stored once, it serves every format.
    Ok(ReportOptions {
        severities,
        ignore_unfixed: options.ignore_unfixed,
        list_packages: true,
        reachable_only: options.reachable_only,
    })
}

/// Gaps of an incomplete report listed in a scan's summary.
const SUMMARY_GAPS: usize = 10;

fn summary(report: &Report) -> ReportSummary {
    let count = |s: Severity| report.summary.by_severity.get(&s).copied().unwrap_or(0) as u32;
    ReportSummary {
        total: report.summary.total as u32,
        critical: count(Severity::Critical),
        high: count(Severity::High),
        medium: count(Severity::Medium),
        low: count(Severity::Low),
        unknown: count(Severity::Unknown),
        // A scan list shows that a report is a lower bound, and why; the report has every gap.
        incomplete: report.incomplete_lines().into_iter().take(SUMMARY_GAPS).collect(),
        incomplete_total: report.incomplete.len() as u32,
    }
}
