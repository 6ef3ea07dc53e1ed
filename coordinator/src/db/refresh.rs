//! The scheduled DB refresh (`STRATA_DB_SOURCE`, every `STRATA_DB_REFRESH`): fetch a candidate from the
//! source — OSV exports (osv.dev or a mirror, the same download as `strata db update`) or an OCI artifact
//! published by `strata db push`, pulled by digest — check it, write it beside the current file and
//! rename it over, then swap it in. A candidate is refused, and the current DB kept, when it does not
//! decode (format version, content digest) or falls below the sanity floor against the current DB
//! ([`strata_dbsource::floor`]); the refusal is logged at WARN with the reason and counted.
//!
//! Replicas converge: each pulls the same artifact (or builds the same advisories into the same content
//! digest), so after one interval every replica reports one `content_digest` — in every report's `db`
//! and in `strata_db_info`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_dbsource::artifact::{self, Pulled};
use strata_dbsource::floor::Floor;
use strata_dbsource::{Source, osv};
use strata_registry::{RegistryClient, RegistryOptions};
use strata_scanner::source::sha256_digest;
use strata_scanner::vulndb::VulnDb;

use super::DbHandle;
use super::metrics;
use crate::error::{CoordinatorError, Result};
use crate::runner::{RegistrySettings, Runner};
use crate::tasks::Tasks;

/// The age gauge is refreshed at least this often, whatever the refresh interval.
const TICK: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct RefreshSettings {
    pub source: Source,
    pub interval: Duration,
    pub floor: Floor,
    /// An artifact's DB file larger than this is not downloaded.
    pub max_bytes: u64,
    /// Credentials and allow-list for an OCI source (the coordinator's own, as for scans).
    pub registry: RegistrySettings,
    /// Re-match the latest scan of every image once per new DB (`STRATA_DB_RESCAN`): the rescan delta is
    /// what new-vulnerability events announce, and DefectDojo gets the re-matched reports.
    pub rescan: bool,
}

/// What one refresh did.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Updated { content_digest: String },
    Unchanged,
    Refused(String),
}

/// A DB fetched from the source, not yet checked against the current one.
struct Candidate {
    db: VulnDb,
    /// The file image that is written in place when the candidate is taken.
    bytes: Vec<u8>,
    /// `sha256:` of `bytes`: what an OCI source's artifact names, so the held file is not pulled again.
    digest: String,
}

struct Refresher {
    path: PathBuf,
    settings: RefreshSettings,
    client: Option<RegistryClient>,
    /// The file digest of the DB file in use, for skipping an artifact that is the one held.
    held_file: Option<String>,
    /// The last artifact file refused and why: not downloaded again while the tag still names it.
    refused: Option<(String, String)>,
}

impl Refresher {
    fn new(path: PathBuf, settings: RefreshSettings) -> Result<Refresher> {
        let client = match &settings.source {
            Source::Oci { reference } => {
                let registry = strata_registry::registry_of(reference)?;
                Some(RegistryClient::new(RegistryOptions {
                    insecure: settings.registry.insecure,
                    platform: Default::default(),
                    credentials: settings.registry.credentials.clone(),
                    // The operator named this registry: it is allowed whatever the scan allow-list says.
                    allowed: settings.registry.allowed.clone().with_registries([registry]),
                })?)
            }
            Source::Osv { .. } => None,
        };
        Ok(Refresher { path, settings, client, held_file: None, refused: None })
    }

    /// A candidate DB, its file image and that image's digest, or `None` when the source holds what is in
    /// use. The digest comes with the image so that hashing never runs on the async runtime: an artifact's
    /// file was hashed when it was read, an export's is hashed where it is encoded.
    async fn candidate(&mut self, current: Option<&VulnDb>) -> Result<Option<Candidate>> {
        match &self.settings.source {
            Source::Osv { base_url, ecosystems } => {
                let work = self.path.with_file_name(format!(".strata-db-download-{}", std::process::id()));
                let fetched = osv::fetch(base_url, ecosystems, &work).await.map_err(internal)?;
                if current.is_some_and(|c| c.header().content_digest == fetched.db.header().content_digest) {
                    return Ok(None);
                }
                let db = fetched.db;
                blocking(move || {
                    let bytes = db.to_bytes()?;
                    let digest = sha256_digest(&bytes);
                    Ok(Candidate { db, bytes, digest })
                })
                .await
                .map(Some)
            }
            Source::Oci { reference } => {
                let client =
                    self.client.as_ref().ok_or_else(|| CoordinatorError::Internal("no registry client".into()))?;
                let skip: Vec<&str> = current
                    .and(self.held_file.as_deref())
                    .into_iter()
                    .chain(self.refused.as_ref().map(|(file, _)| file.as_str()))
                    .collect();
                match artifact::pull(client, reference, &skip, self.settings.max_bytes).await.map_err(internal)? {
                    Pulled::Unchanged { artifact } => match &self.refused {
                        Some((file, why)) if *file == artifact.file.digest => Err(CoordinatorError::Invalid(format!(
                            "{why} (refused before; not downloaded again until the tag names another DB)"
                        ))),
                        _ => Ok(None),
                    },
                    Pulled::New { artifact, bytes } => {
                        tracing::info!(reference = %reference, digest = %artifact.digest, bytes = bytes.len(),
                            "downloaded a DB artifact");
                        let file = artifact.file.digest.clone();
                        let digest = file.clone();
                        let decoded = blocking(move || {
                            let refuse = |why: String| {
                                CoordinatorError::Invalid(format!(
                                    "the artifact {} is not a usable DB: {why}",
                                    artifact.digest
                                ))
                            };
                            let db = VulnDb::from_bytes(&bytes).map_err(|e| refuse(e.to_string()))?;
                            // The annotation says what was published; a file that decodes to other data is not it.
                            match artifact.annotations.get(artifact::CONTENT_DIGEST_ANNOTATION) {
                                Some(claimed) if *claimed != db.header().content_digest => Err(refuse(format!(
                                    "its content digest {} is not the {claimed} its annotation names",
                                    db.header().content_digest
                                ))),
                                _ => Ok(Candidate { db, bytes, digest }),
                            }
                        })
                        .await;
                        if let Err(CoordinatorError::Invalid(why)) = &decoded {
                            self.refused = Some((file, why.clone()));
                        }
                        decoded.map(Some)
                    }
                }
            }
        }
    }

    /// One refresh against `handle`'s current DB.
    async fn refresh(&mut self, handle: &Arc<DbHandle>) -> Result<Outcome> {
        let current = handle.loaded()?;
        let Candidate { db: candidate, bytes, digest } = match self.candidate(Some(&current)).await {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(Outcome::Unchanged),
            Err(CoordinatorError::Invalid(why)) => return Ok(Outcome::Refused(why)),
            Err(e) => return Err(e),
        };
        if candidate.header().content_digest == current.header().content_digest {
            self.held_file = Some(digest);
            return Ok(Outcome::Unchanged);
        }
        if let Err(why) = self.settings.floor.check(&current, &candidate) {
            let why = format!("content digest {}: {why}", candidate.header().content_digest);
            self.refused = Some((digest, why.clone()));
            return Ok(Outcome::Refused(why));
        }
        let content_digest = candidate.header().content_digest.clone();
        let candidate = Arc::new(candidate);
        let (handle, swapped) = (handle.clone(), candidate.clone());
        // Both block: the write, and the swap (a stat, and the reload lock a scan's reload may hold).
        blocking(move || {
            VulnDb::write_image(handle.path(), &bytes)?;
            handle.replace(swapped)
        })
        .await?;
        metrics::describe(&candidate);
        self.held_file = Some(digest);
        Ok(Outcome::Updated { content_digest })
    }

    /// The first DB, when there is no file yet: fetched and written without a floor (there is nothing to
    /// compare with), retried until it succeeds or the coordinator stops.
    async fn first(&mut self, tasks: &Tasks) -> Result<DbHandle> {
        loop {
            let attempt = async {
                let Candidate { db, bytes, digest } = self
                    .candidate(None)
                    .await?
                    .ok_or_else(|| CoordinatorError::Internal("the DB source returned nothing".into()))?;
                let path = self.path.clone();
                blocking(move || {
                    VulnDb::write_image(&path, &bytes)?;
                    Ok(DbHandle::written(path, db))
                })
                .await
                .map(|handle| (handle, digest))
            };
            match attempt.await {
                Ok((handle, digest)) => {
                    self.held_file = Some(digest);
                    record("updated");
                    tracing::info!(source = %self.settings.source, path = %self.path.display(),
                        digest = %handle.loaded()?.header().content_digest, "vulnerability DB fetched");
                    return Ok(handle);
                }
                Err(e) => {
                    record("failed");
                    tracing::warn!(source = %self.settings.source, error = %e,
                        "no vulnerability DB yet: fetching the first one failed; retrying");
                }
            }
            if !tasks.sleep(self.settings.interval.min(TICK)).await {
                return Err(CoordinatorError::Internal("stopped before the first vulnerability DB was fetched".into()));
            }
        }
    }
}

fn internal(e: strata_dbsource::DbSourceError) -> CoordinatorError {
    match e {
        // A file that is not a DB, or of another format version: the data is refused, the source is fine.
        strata_dbsource::DbSourceError::Invalid(why) => CoordinatorError::Invalid(why),
        strata_dbsource::DbSourceError::Db(e) => CoordinatorError::Invalid(e.to_string()),
        strata_dbsource::DbSourceError::Registry(e) => CoordinatorError::Registry(e),
        other => CoordinatorError::Internal(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| CoordinatorError::Internal(e.to_string()))?
}

fn record(result: &'static str) {
    ::metrics::counter!("strata_db_refresh_total", "result" => result).increment(1);
    ::metrics::gauge!("strata_db_last_refresh_success").set(if matches!(result, "failed" | "refused") {
        0.0
    } else {
        1.0
    });
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    ::metrics::gauge!("strata_db_last_refresh_timestamp_seconds").set(now);
}

/// Opens the DB at `path`: loads the file, or — when a source is configured and there is no usable file
/// (none yet, or one left corrupt on a persistent volume) — fetches the first one (waiting for it). Then
/// starts the refresh task when a source is configured, and the age gauge's tick in any case.
pub async fn open(path: PathBuf, settings: Option<RefreshSettings>, tasks: &Tasks) -> Result<Arc<DbHandle>> {
    let mut refresher = settings.map(|s| Refresher::new(path.clone(), s)).transpose()?;
    let load = |path: PathBuf| blocking(move || DbHandle::load(path));
    let handle = match refresher.as_mut() {
        None => load(path.clone()).await?,
        Some(refresher) if !path.exists() => refresher.first(tasks).await?,
        Some(refresher) => match load(path.clone()).await {
            Ok(handle) => {
                if matches!(refresher.settings.source, Source::Oci { .. }) {
                    refresher.held_file = Some(hash_file(&path).await?);
                }
                handle
            }
            // Without a source an unusable file stops the coordinator (there is nothing to match with);
            // with one, the file is replaced like a missing one, and readiness waits for it.
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e,
                    "the vulnerability DB file cannot be used; fetching a new one from the source");
                refresher.first(tasks).await?
            }
        },
    };
    let handle = Arc::new(handle);
    tasks.spawn(run(handle.clone(), refresher, tasks.clone()));
    Ok(handle)
}

async fn hash_file(path: &Path) -> Result<String> {
    let path = path.to_path_buf();
    blocking(move || {
        let bytes =
            std::fs::read(&path).map_err(|e| CoordinatorError::Internal(format!("reading {}: {e}", path.display())))?;
        Ok(sha256_digest(&bytes))
    })
    .await
}

/// Ticks the age gauge and, when a source is configured, refreshes every interval until the stop.
async fn run(handle: Arc<DbHandle>, mut refresher: Option<Refresher>, tasks: Tasks) {
    let mut due = refresher.as_ref().map(|r| Instant::now() + r.settings.interval);
    loop {
        if let Ok(db) = handle.loaded() {
            metrics::set_age(&db);
        }
        if let (Some(refresher), Some(at)) = (refresher.as_mut(), due)
            && Instant::now() >= at
        {
            let source = refresher.settings.source.to_string();
            match refresher.refresh(&handle).await {
                Ok(Outcome::Updated { content_digest }) => {
                    record("updated");
                    tracing::info!(source = %source, digest = %content_digest, "vulnerability DB refreshed");
                }
                Ok(Outcome::Unchanged) => {
                    record("unchanged");
                    tracing::debug!(source = %source, "vulnerability DB unchanged");
                }
                Ok(Outcome::Refused(why)) => {
                    record("refused");
                    tracing::warn!(source = %source, reason = %why, "new vulnerability DB refused; keeping the current one");
                }
                Err(e) => {
                    record("failed");
                    tracing::warn!(source = %source, error = %e, "vulnerability DB refresh failed; keeping the current one");
                }
            }
            due = Some(Instant::now() + refresher.settings.interval);
        }
        let wait = due.map_or(TICK, |at| at.saturating_duration_since(Instant::now()).min(TICK));
        if !tasks.sleep(wait.max(Duration::from_millis(100))).await {
            return;
        }
    }
}

/// How often a replica looks whether the DB in use has had its rescan pass.
const RESCAN_POLL: Duration = Duration::from_secs(2);
/// The lease id of the replica running a rescan pass (one at a time across the fleet).
const RESCAN_LEASE: &str = "db-rescan";
/// Image rescans in flight during a pass.
const RESCAN_CONCURRENCY: usize = 8;

/// After each new DB, re-matches the latest done scan of every image against it, once across the fleet:
/// `{prefix}:db:rescanned` holds the content digest of the last DB whose pass completed, and the replica
/// running a pass holds a lease. A pass cut short (a crash, a stop) leaves the marker on the previous DB,
/// so the next holder runs it again; rescans are idempotent and events are deduplicated by their ids and
/// the announced sets, so a repeated pass announces nothing twice.
pub fn start_rescans(handle: Arc<DbHandle>, runner: Arc<Runner>, tasks: &Tasks) {
    let owner = uuid::Uuid::new_v4().to_string();
    let stop = tasks.clone();
    tasks.spawn(async move {
        loop {
            if let Err(e) = rescan_pass(&handle, &runner, &owner).await {
                tracing::warn!(error = %e, "rescan after a DB update");
            }
            if !stop.sleep(RESCAN_POLL).await {
                return;
            }
        }
    });
}

/// Runs the pass for the DB in use if no replica has completed it and none runs it now.
async fn rescan_pass(handle: &DbHandle, runner: &Arc<Runner>, owner: &str) -> Result<()> {
    use futures_util::StreamExt;
    use redis::AsyncCommands;
    let digest = handle.loaded()?.header().content_digest.clone();
    let store = &runner.store;
    let marker = store.key("db:rescanned");
    let done: Option<String> = store.conn().get(&marker).await?;
    if done.as_deref() == Some(digest.as_str()) || !store.lease(RESCAN_LEASE, owner, RESCAN_LEASE_TTL).await? {
        return Ok(());
    }
    let _renew = {
        let (store, owner) = (store.clone(), owner.to_string());
        tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
            loop {
                tokio::time::sleep(RESCAN_LEASE_TTL / 3).await;
                let _ = store.lease(RESCAN_LEASE, &owner, RESCAN_LEASE_TTL).await;
            }
        }))
    };
    // Read again under the lease: the previous holder may have completed it a moment ago.
    let done: Option<String> = store.conn().get(&marker).await?;
    if done.as_deref() == Some(digest.as_str()) {
        return store.release(RESCAN_LEASE).await;
    }
    let latest = latest_done(store.list().await?);
    tracing::info!(digest = %digest, images = latest.len(), "rescanning the latest scans against the new DB");
    let outcomes: Vec<Option<bool>> = futures_util::stream::iter(latest)
        .map(|scan| rescan_one(runner, scan))
        .buffer_unordered(RESCAN_CONCURRENCY)
        .collect()
        .await;
    let rescanned = outcomes.iter().filter(|o| **o == Some(true)).count();
    let failed = outcomes.iter().filter(|o| **o == Some(false)).count();
    let _: () = store.conn().set(&marker, &digest).await?;
    store.release(RESCAN_LEASE).await?;
    ::metrics::counter!("strata_db_rescan_passes_total").increment(1);
    ::metrics::counter!("strata_db_rescan_scans_total").increment(rescanned as u64);
    tracing::info!(digest = %digest, rescanned, failed, "rescan after the DB update done");
    Ok(())
}

const RESCAN_LEASE_TTL: Duration = Duration::from_secs(30);

/// The latest done scan of each image digest.
fn latest_done(scans: Vec<strata_proto::v1::Scan>) -> Vec<strata_proto::v1::Scan> {
    let mut latest: std::collections::HashMap<String, strata_proto::v1::Scan> = std::collections::HashMap::new();
    for scan in scans {
        if scan.status != strata_proto::v1::ScanStatus::Done as i32 || scan.image_digest.is_empty() {
            continue;
        }
        match latest.get(&scan.image_digest) {
            Some(kept) if kept.created_unix_ms >= scan.created_unix_ms => {}
            _ => {
                latest.insert(scan.image_digest.clone(), scan);
            }
        }
    }
    latest.into_values().collect()
}

/// `Some(true)` rescanned, `Some(false)` failed (logged), `None` nothing to re-match (the inventory is
/// gone or from an older analyser: the next scan of the image brings it up to date).
async fn rescan_one(runner: &Arc<Runner>, scan: strata_proto::v1::Scan) -> Option<bool> {
    let stored = match runner.store.get_image(&scan.image_digest).await {
        Ok(stored) if stored.is_current() => stored,
        Ok(_) | Err(CoordinatorError::NotFound(_)) => return None,
        Err(e) => {
            tracing::warn!(scan = %scan.id, error = %e, "rescan after a DB update: reading the inventory");
            return Some(false);
        }
    };
    let id = scan.id.clone();
    match runner.rematch(scan, stored).await {
        Ok(_) => Some(true),
        Err(e) => {
            tracing::warn!(scan = %id, error = %e, "rescan after a DB update");
            Some(false)
        }
    }
}
