//! Registry sweeps: everything a registry holds, checked against the current DB. A sweep lists the
//! repositories (optionally only those matching glob patterns) and their tags, resolves each tag to its
//! manifest digest, and groups tags by digest. A digest whose stored inventory is current is re-matched
//! (the rescan path: no registry pull, no layer job); a digest without one is submitted as a scan of
//! `host/repo@digest`, once however many tags point at it; a digest whose scan is still running is left
//! alone. The report counts each case and names every failure.
//!
//! Listing goes through [`strata_registry::Catalog`] (auth, paging, rate limits, a per-registry cap on
//! requests in flight) with the coordinator's own registry credentials. The schedule that runs sweeps
//! unattended is [`crate::schedule`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{StreamExt, stream};
use strata_proto::status::is_terminal;
use strata_proto::v1::{Scan, ScanOptions, ScanStatus, SweepFailure, SweepImage, SweepReport, SweepRequest};
use strata_registry::{Catalog, CatalogOptions, RetryPolicy};

use crate::error::{CoordinatorError, Result};
use crate::runner::{RegistrySettings, Runner, now_ms};

/// How sweeps talk to registries.
#[derive(Clone, Debug)]
pub struct SweepSettings {
    /// Registry requests in flight per registry.
    pub concurrency: usize,
    /// Catalog and tag-list page size when a request names none.
    pub page_size: usize,
    pub retry: RetryPolicy,
    /// How long a sweep that waits waits for its scans; those unfinished by then count as failures (they
    /// go on running).
    pub max_wait: Duration,
}

impl Default for SweepSettings {
    fn default() -> Self {
        SweepSettings {
            concurrency: 8,
            page_size: 100,
            retry: RetryPolicy::default(),
            max_wait: Duration::from_secs(6 * 3600),
        }
    }
}

pub struct Sweeper {
    runner: Arc<Runner>,
    registry: RegistrySettings,
    settings: SweepSettings,
    /// One catalog client per (registry, page size), so its concurrency cap and tokens are shared by
    /// every sweep of that registry on this replica.
    catalogs: Mutex<HashMap<(String, usize), Arc<Catalog>>>,
}

/// What happened to one digest.
enum Action {
    Submitted,
    Rescanned,
    Skipped(String),
    Failed(String),
}

/// What the store already knows about a digest.
#[derive(Default)]
struct Known {
    /// The latest finished scan, to re-match.
    done: Option<Scan>,
    /// A scan in progress.
    active: Option<String>,
}

impl Sweeper {
    pub fn new(runner: Arc<Runner>, registry: RegistrySettings, settings: SweepSettings) -> Self {
        Sweeper { runner, registry, settings, catalogs: Mutex::default() }
    }

    async fn catalog(&self, registry: &str, page_size: usize) -> Result<Arc<Catalog>> {
        let key = (registry.to_string(), page_size);
        if let Some(catalog) = self.catalogs.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(catalog);
        }
        let options = CatalogOptions {
            insecure: self.registry.insecure,
            credentials: self.registry.credentials.clone(),
            allowed: self.registry.allowed.clone(),
            page_size,
            concurrency: self.settings.concurrency,
            retry: self.settings.retry,
        };
        let catalog = Arc::new(Catalog::new(registry, options).await?);
        let mut catalogs =
            self.catalogs.lock().map_err(|_| CoordinatorError::Internal("catalog lock poisoned".into()))?;
        Ok(catalogs.entry(key).or_insert(catalog).clone())
    }

    /// Runs one sweep. Fails as a whole only when the request is invalid or the catalog cannot be listed;
    /// anything that fails for one repository, tag or digest is in the report's failures.
    pub async fn sweep(&self, request: &SweepRequest, trigger: &'static str) -> Result<SweepReport> {
        let outcome = self.run(request).await;
        let label = if outcome.is_ok() { "ok" } else { "error" };
        metrics::counter!("strata_sweep_runs_total", "trigger" => trigger, "outcome" => label).increment(1);
        if let Ok(report) = &outcome {
            for (name, value) in [
                ("strata_sweep_repositories_total", report.repositories),
                ("strata_sweep_tags_total", report.tags),
                ("strata_sweep_submitted_total", report.submitted),
                ("strata_sweep_rescanned_total", report.rescanned),
                ("strata_sweep_skipped_total", report.skipped),
                ("strata_sweep_failed_total", report.failed),
            ] {
                metrics::counter!(name).increment(u64::from(value));
            }
            let seconds = (report.finished_unix_ms - report.started_unix_ms) as f64 / 1000.0;
            metrics::gauge!("strata_sweep_last_duration_seconds").set(seconds);
            tracing::info!(
                registry = %report.registry, trigger, repositories = report.repositories, tags = report.tags,
                digests = report.digests, submitted = report.submitted, rescanned = report.rescanned,
                skipped = report.skipped, failed = report.failed, seconds, "sweep finished"
            );
        }
        outcome
    }

    async fn run(&self, request: &SweepRequest) -> Result<SweepReport> {
        let started = now_ms();
        let include = patterns(&request.repositories)?;
        let page_size = if request.page_size > 0 { request.page_size as usize } else { self.settings.page_size };
        let catalog = self.catalog(&request.registry, page_size).await?;
        let host = catalog.host().to_string();
        let mut failures = Vec::new();
        let mut fail = |subject: String, error: String| failures.push(SweepFailure { subject, error });

        let repositories: Vec<String> = catalog
            .repositories()
            .await?
            .into_iter()
            .filter(|r| include.as_ref().is_none_or(|g| g.is_match(r)))
            .collect();
        let concurrency = self.settings.concurrency.max(1);
        let listed: Vec<_> = stream::iter(repositories.clone())
            .map(|repo| {
                let catalog = catalog.clone();
                async move {
                    let tags = catalog.tags(&repo).await;
                    (repo, tags)
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut tags: Vec<(String, String)> = Vec::new();
        for (repo, listing) in listed {
            match listing {
                Ok(names) => tags.extend(names.into_iter().map(|tag| (repo.clone(), tag))),
                Err(e) => fail(format!("{host}/{repo}"), e.to_string()),
            }
        }
        let resolved: Vec<_> = stream::iter(tags.clone())
            .map(|(repo, tag)| {
                let catalog = catalog.clone();
                async move {
                    let digest = catalog.digest(&repo, &tag).await;
                    (repo, tag, digest)
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        // Digest → the (repository, tag) pairs that point at it, sorted, so the scanned repository is stable.
        let mut by_digest: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (repo, tag, digest) in resolved {
            match digest {
                Ok(digest) => by_digest.entry(digest).or_default().push((repo, tag)),
                Err(e) => fail(format!("{host}/{repo}:{tag}"), e.to_string()),
            }
        }
        let known = self.known().await?;
        let platform = if request.platform.is_empty() { "linux/amd64" } else { request.platform.as_str() };
        let host_ref = host.as_str();
        let images: Vec<SweepImage> = stream::iter(by_digest)
            .map(|(digest, mut refs)| {
                refs.sort();
                let known = known.get(&digest);
                async move { self.handle(host_ref, digest, refs, known, platform).await }
            })
            .buffered(32)
            .collect()
            .await;
        let mut report = SweepReport {
            registry: host.clone(),
            repositories: repositories.len() as u32,
            tags: tags.len() as u32,
            digests: images.len() as u32,
            started_unix_ms: started,
            ..SweepReport::default()
        };
        report.images = images;
        if request.wait {
            report.waited = self.wait(&mut report.images).await?;
        }
        for image in &report.images {
            match image.action.as_str() {
                "submitted" => report.submitted += 1,
                "rescanned" => report.rescanned += 1,
                "skipped" => report.skipped += 1,
                _ => {}
            }
            let scan_failed = image.action == "submitted" && request.wait && image.status != ScanStatus::Done.name();
            if image.action == "failed" || scan_failed {
                fail(image.reference.clone(), image.detail.clone());
            }
        }
        report.failed = failures.len() as u32;
        report.failures = failures;
        report.finished_unix_ms = now_ms();
        Ok(report)
    }

    /// Every scan the store holds, by the digests it answers for: the image manifest's, and the one in its
    /// reference (an index digest, for a multi-platform image).
    async fn known(&self) -> Result<HashMap<String, Known>> {
        let mut known: HashMap<String, Known> = HashMap::new();
        for scan in self.runner.store.list().await? {
            let by_reference = scan.reference.rsplit_once('@').map(|(_, d)| d.to_string());
            let keys = [Some(scan.image_digest.clone()).filter(|d| !d.is_empty()), by_reference];
            for key in keys.into_iter().flatten() {
                let entry = known.entry(key).or_default();
                if scan.status == ScanStatus::Done as i32 {
                    if entry.done.as_ref().is_none_or(|d| d.created_unix_ms < scan.created_unix_ms) {
                        entry.done = Some(scan.clone());
                    }
                } else if !is_terminal(scan.status) {
                    entry.active = Some(scan.id.clone());
                }
            }
        }
        Ok(known)
    }

    async fn handle(
        &self,
        host: &str,
        digest: String,
        refs: Vec<(String, String)>,
        known: Option<&Known>,
        platform: &str,
    ) -> SweepImage {
        let repository = refs.first().map(|(repo, _)| repo.clone()).unwrap_or_default();
        let reference = format!("{host}/{repository}@{digest}");
        let mut image = SweepImage {
            digest: digest.clone(),
            reference: reference.clone(),
            tags: refs.iter().map(|(repo, tag)| format!("{repo}:{tag}")).collect(),
            ..SweepImage::default()
        };
        let action = match self.rescan(known).await {
            Some(Ok(scan)) => {
                image.reference = scan.reference.clone();
                image.scan_id = scan.id.clone();
                image.status = ScanStatus::Done.name();
                Action::Rescanned
            }
            Some(Err(e)) => Action::Failed(format!("re-matching the stored inventory: {e}")),
            None => match known.and_then(|k| k.active.clone()) {
                Some(id) => {
                    image.scan_id = id.clone();
                    Action::Skipped(format!("scan {id} is in progress"))
                }
                None => {
                    let tags: Vec<&str> =
                        refs.iter().filter(|(repo, _)| *repo == repository).map(|(_, t)| t.as_str()).collect();
                    let labels = HashMap::from([
                        ("trigger".to_string(), "sweep".to_string()),
                        ("registry".to_string(), host.to_string()),
                        ("repository".to_string(), repository.clone()),
                        ("tag".to_string(), tags.join(",")),
                    ]);
                    let options = ScanOptions { platform: platform.to_string(), labels, ..ScanOptions::default() };
                    match self.runner.submit(reference, options, None).await {
                        Ok(id) => {
                            image.scan_id = id;
                            image.status = ScanStatus::Queued.name();
                            Action::Submitted
                        }
                        Err(e) => Action::Failed(format!("submitting the scan: {e}")),
                    }
                }
            },
        };
        (image.action, image.detail) = match action {
            Action::Submitted => ("submitted".into(), String::new()),
            Action::Rescanned => ("rescanned".into(), String::new()),
            Action::Skipped(why) => ("skipped".into(), why),
            Action::Failed(why) => ("failed".into(), why),
        };
        image
    }

    /// Re-matches the latest finished scan of the digest, if its stored inventory is current. `None`: there
    /// is none to re-match (never scanned, or the inventory is gone or from an older analyser).
    async fn rescan(&self, known: Option<&Known>) -> Option<Result<Scan>> {
        let scan = known?.done.clone()?;
        let stored = match self.runner.store.get_image(&scan.image_digest).await {
            Ok(stored) if stored.is_current() => stored,
            Ok(_) | Err(CoordinatorError::NotFound(_)) => return None,
            Err(e) => return Some(Err(e)),
        };
        Some(self.runner.rematch(scan.clone(), stored).await.map(|_| scan))
    }

    /// Waits until every submitted scan has finished (at most [`SweepSettings::max_wait`]), and records
    /// how each ended. `false`: some had not finished by then.
    async fn wait(&self, images: &mut [SweepImage]) -> Result<bool> {
        let ids: Vec<String> = images.iter().filter(|i| i.action == "submitted").map(|i| i.scan_id.clone()).collect();
        let mut finished: HashMap<String, Scan> = HashMap::new();
        let deadline = tokio::time::Instant::now() + self.settings.max_wait;
        while finished.len() < ids.len() && tokio::time::Instant::now() < deadline {
            let pending: Vec<String> = ids.iter().filter(|id| !finished.contains_key(*id)).cloned().collect();
            for scan in self.runner.store.get_many(&pending).await? {
                if is_terminal(scan.status) {
                    finished.insert(scan.id.clone(), scan);
                }
            }
            if finished.len() < ids.len() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        for image in images.iter_mut().filter(|i| i.action == "submitted") {
            match finished.get(&image.scan_id) {
                Some(scan) => {
                    image.status = strata_proto::status::name(scan.status);
                    image.detail = scan.error.clone();
                }
                None => image.detail = format!("not finished after {} s of waiting", self.settings.max_wait.as_secs()),
            }
        }
        Ok(finished.len() == ids.len())
    }
}

/// Include patterns: `team/*` matches the repositories directly under `team/`, `team/**` all below it.
pub(crate) fn patterns(given: &[String]) -> Result<Option<globset::GlobSet>> {
    let given: Vec<&String> = given.iter().filter(|p| !p.trim().is_empty()).collect();
    if given.is_empty() {
        return Ok(None);
    }
    let mut set = globset::GlobSetBuilder::new();
    for pattern in given {
        let glob = globset::GlobBuilder::new(pattern.trim())
            .literal_separator(true)
            .build()
            .map_err(|e| CoordinatorError::Invalid(format!("repository pattern {pattern:?}: {e}")))?;
        set.add(glob);
    }
    set.build().map(Some).map_err(|e| CoordinatorError::Invalid(format!("repository patterns: {e}")))
}

#[cfg(test)]
mod tests {
    use super::patterns;

    #[test]
    fn repository_patterns() {
        let set = patterns(&["team/*".into(), "base".into(), "apps/**".into()]).unwrap().unwrap();
        for yes in ["team/app", "base", "apps/a", "apps/a/b"] {
            assert!(set.is_match(yes), "{yes}");
        }
        for no in ["team/a/b", "teams/app", "base/x", "other"] {
            assert!(!set.is_match(no), "{no}");
        }
        assert!(patterns(&[]).unwrap().is_none());
        assert!(patterns(&[" ".into()]).unwrap().is_none());
        assert!(patterns(&["team/[".into()]).is_err());
    }
}
