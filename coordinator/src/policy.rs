//! Fleet policy: the coordinator's own ignore files and VEX documents (`STRATA_IGNOREFILE`, `STRATA_VEX`:
//! files or directories), read again when they change, and each submission's own, stored with its scans.
//! A scan is finished with the coordinator's documents first, then its own (docs/fleet.md, Policy).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use prost::Message;
use sha2::Digest as _;
use strata_pipeline::policy::{self, Document, Documents};
use strata_proto::v1::{PolicyDocument, ScanOptions, ScanPolicy};
use strata_scanner::report::policy::{Policy, Scanner};

use crate::error::{CoordinatorError, Result};
use crate::store::ScanStore;

#[derive(Clone, Debug, Default)]
pub struct PolicySettings {
    pub ignorefiles: Vec<PathBuf>,
    pub vex: Vec<PathBuf>,
}

/// What the configured paths looked like when they were read: each file's path, size and mtime (a
/// directory's files included), so an edit, a new file or a removed one is noticed.
type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

pub struct ConfiguredPolicy {
    settings: PolicySettings,
    loaded: Mutex<(Fingerprint, Arc<Documents>)>,
}

impl ConfiguredPolicy {
    /// Reads the documents now: a configuration that does not read or parse stops the coordinator's start.
    pub fn load(settings: PolicySettings) -> Result<Self> {
        let fingerprint = fingerprint(&settings);
        let documents = read(&settings)?;
        Ok(ConfiguredPolicy { settings, loaded: Mutex::new((fingerprint, Arc::new(documents))) })
    }

    /// The documents as they are on disk now, read again when anything changed. A changed document that
    /// no longer reads or parses fails the scans that need it (as a typo fails `strata image`) rather than
    /// letting them finish without it. Blocking: call it on the blocking pool.
    pub fn current(&self) -> Result<Arc<Documents>> {
        let now = fingerprint(&self.settings);
        let mut loaded = self.loaded.lock().map_err(|_| CoordinatorError::Internal("policy lock poisoned".into()))?;
        if loaded.0 != now {
            let documents = Arc::new(read(&self.settings)?);
            tracing::info!(
                ignorefiles = documents.ignorefiles.len(),
                vex = documents.vex.len(),
                "policy documents reloaded"
            );
            *loaded = (now, documents);
        }
        Ok(loaded.1.clone())
    }
}

fn read(settings: &PolicySettings) -> Result<Documents> {
    let all = |paths: &[PathBuf]| -> Result<Vec<Document>> {
        let mut documents = Vec::new();
        for path in paths {
            documents.extend(policy::read_documents(path).map_err(invalid)?);
        }
        Ok(documents)
    };
    let documents = Documents { ignorefiles: all(&settings.ignorefiles)?, vex: all(&settings.vex)? };
    documents.check().map_err(invalid)?;
    Ok(documents)
}

fn fingerprint(settings: &PolicySettings) -> Fingerprint {
    let stat = |p: PathBuf| {
        let meta = std::fs::metadata(&p).ok();
        let modified = meta.as_ref().and_then(|m| m.modified().ok());
        (p, modified, meta.map_or(0, |m| m.len()))
    };
    let mut seen = Vec::new();
    for path in settings.ignorefiles.iter().chain(&settings.vex) {
        seen.push(stat(path.clone()));
        if let Ok(entries) = std::fs::read_dir(path) {
            let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            seen.extend(files.into_iter().take(policy::MAX_DIRECTORY_FILES + 1).map(stat));
        }
    }
    seen
}

fn invalid(e: policy::PolicyError) -> CoordinatorError {
    CoordinatorError::Invalid(format!("policy: {e}"))
}

/// A submission's documents, checked, stored once under their digest and replaced in `options` by it.
pub async fn store_submitted(store: &ScanStore, options: &mut ScanOptions) -> Result<()> {
    let Some(submitted) = options.policy.take() else { return Ok(()) };
    let documents = from_proto(&submitted);
    if documents.is_empty() {
        return Ok(());
    }
    documents.check().map_err(invalid)?;
    let bytes = submitted.encode_to_vec();
    let digest = hex::encode(sha2::Sha256::digest(&bytes));
    store.put_policy(&digest, &bytes).await?;
    options.policy_digest = digest;
    Ok(())
}

/// The policy a scan is finished with: its scanners, the coordinator's documents, then its own.
pub async fn of_scan(store: &ScanStore, configured: &Arc<ConfiguredPolicy>, options: &ScanOptions) -> Result<Policy> {
    let scanners = options
        .scanners
        .iter()
        .map(|s| s.parse::<Scanner>().map_err(CoordinatorError::Invalid))
        .collect::<Result<Vec<_>>>()?;
    let own = match options.policy_digest.as_str() {
        "" => Documents::default(),
        digest => {
            let bytes = store.get_policy(digest).await?;
            from_proto(&ScanPolicy::decode(&bytes[..]).map_err(|e| CoordinatorError::Internal(e.to_string()))?)
        }
    };
    let configured = configured.clone();
    tokio::task::spawn_blocking(move || -> Result<Policy> {
        let configured = configured.current()?;
        policy::build(&scanners, &[&configured, &own], policy::today()).map_err(invalid)
    })
    .await
    .map_err(|e| CoordinatorError::Internal(e.to_string()))?
}

fn from_proto(p: &ScanPolicy) -> Documents {
    let documents = |list: &[PolicyDocument]| {
        list.iter().map(|d| Document { name: d.name.clone(), text: d.text.clone() }).collect()
    };
    Documents { ignorefiles: documents(&p.ignorefiles), vex: documents(&p.vex) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IGNORE: &str = "ignore:\n  - id: CVE-2023-0464\n    reason: not reachable\n";

    #[test]
    fn configured_documents_are_read_again_when_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let vex_dir = dir.path().join("vex");
        std::fs::create_dir(&vex_dir).unwrap();
        let ignore = dir.path().join("ignore.yaml");
        std::fs::write(&ignore, IGNORE).unwrap();
        let settings = PolicySettings { ignorefiles: vec![ignore.clone()], vex: vec![vex_dir.clone()] };
        let configured = ConfiguredPolicy::load(settings).unwrap();
        let first = configured.current().unwrap();
        assert_eq!((first.ignorefiles.len(), first.vex.len()), (1, 0));
        assert!(Arc::ptr_eq(&first, &configured.current().unwrap()), "unchanged files are not read again");

        let vex = r#"{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,"statements":[]}"#;
        std::fs::write(vex_dir.join("a.json"), vex).unwrap();
        assert_eq!(configured.current().unwrap().vex.len(), 1, "a new file in the directory is read");

        std::fs::write(&ignore, "ignore:\n  - id: CVE-1\n").unwrap();
        assert!(configured.current().is_err(), "a broken document fails, it is not skipped");
        std::fs::write(&ignore, IGNORE.replace("0464", "0465")).unwrap();
        assert!(configured.current().unwrap().ignorefiles[0].text.contains("0465"));
    }

    #[test]
    fn a_broken_configuration_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let ignore = dir.path().join("ignore.yaml");
        std::fs::write(&ignore, "ignore:\n  - id: CVE-1\n").unwrap();
        assert!(ConfiguredPolicy::load(PolicySettings { ignorefiles: vec![ignore], vex: Vec::new() }).is_err());
        let missing = PolicySettings { ignorefiles: Vec::new(), vex: vec![dir.path().join("none")] };
        assert!(ConfiguredPolicy::load(missing).is_err());
    }
}
