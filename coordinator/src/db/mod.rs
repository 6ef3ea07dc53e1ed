//! The vulnerability DB the coordinator matches with. A new file dropped in place (`strata db update`
//! writes atomically) is picked up at the next match: nightly DB updates need no restart. With a source
//! configured (`STRATA_DB_SOURCE`), [`refresh`] fetches, checks and swaps in new DBs itself; [`metrics`]
//! says how old the data is.

pub mod metrics;
pub mod refresh;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use strata_scanner::vulndb::VulnDb;

use crate::error::{CoordinatorError, Result};

pub struct DbHandle {
    path: PathBuf,
    loaded: RwLock<(Option<SystemTime>, Arc<VulnDb>)>,
    /// Held while a replaced file is read: the hundreds of scans that notice the new file at once wait
    /// for one load instead of each loading their own copy (measured: 200 at once took 13 GiB).
    reloading: Mutex<()>,
    reloads: AtomicU64,
}

impl DbHandle {
    pub fn load(path: PathBuf) -> Result<Self> {
        // The mtime from before the read: a file replaced while it is read is read again.
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let db = VulnDb::load(&path)?;
        Ok(DbHandle::holding(path, modified, db))
    }

    /// A handle on `db`, which the caller has just written to `path` (it is not read back).
    pub fn written(path: PathBuf, db: VulnDb) -> Self {
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        DbHandle::holding(path, modified, db)
    }

    fn holding(path: PathBuf, modified: Option<SystemTime>, db: VulnDb) -> Self {
        metrics::describe(&db);
        DbHandle {
            path,
            loaded: RwLock::new((modified, Arc::new(db))),
            reloading: Mutex::new(()),
            reloads: AtomicU64::new(0),
        }
    }

    fn modified(&self) -> Option<SystemTime> {
        std::fs::metadata(&self.path).and_then(|m| m.modified()).ok()
    }

    /// The loaded DB if it is the one on disk now.
    fn fresh(&self) -> Result<Option<Arc<VulnDb>>> {
        let modified = self.modified();
        let loaded = self.loaded.read().map_err(|_| CoordinatorError::Internal("DB lock poisoned".into()))?;
        Ok((loaded.0 == modified).then(|| loaded.1.clone()))
    }

    /// The current DB, reloaded first if the file changed since it was read. Blocking: call it on the
    /// blocking pool.
    pub fn current(&self) -> Result<Arc<VulnDb>> {
        if let Some(db) = self.fresh()? {
            return Ok(db);
        }
        let _one_at_a_time =
            self.reloading.lock().map_err(|_| CoordinatorError::Internal("DB reload lock poisoned".into()))?;
        // Whoever held the lock before us may have loaded it already.
        if let Some(db) = self.fresh()? {
            return Ok(db);
        }
        let modified = self.modified();
        let db = Arc::new(VulnDb::load(&self.path)?);
        *self.loaded.write().map_err(|_| CoordinatorError::Internal("DB lock poisoned".into()))? =
            (modified, db.clone());
        self.reloads.fetch_add(1, Ordering::Relaxed);
        ::metrics::counter!("strata_db_reloads_total").increment(1);
        metrics::describe(&db);
        tracing::info!(path = %self.path.display(), digest = %db.header().content_digest, "vulnerability DB reloaded");
        Ok(db)
    }

    /// The DB in memory, without looking at the file: for readiness and metrics, which must not block.
    pub fn loaded(&self) -> Result<Arc<VulnDb>> {
        let loaded = self.loaded.read().map_err(|_| CoordinatorError::Internal("DB lock poisoned".into()))?;
        Ok(loaded.1.clone())
    }

    /// Swaps in `db`, which the caller has just written to the file (so the file's new mtime is taken as
    /// loaded, and it is not read again). Blocking (a stat): call it on the blocking pool.
    pub fn replace(&self, db: Arc<VulnDb>) -> Result<()> {
        let _one_at_a_time =
            self.reloading.lock().map_err(|_| CoordinatorError::Internal("DB reload lock poisoned".into()))?;
        let modified = self.modified();
        *self.loaded.write().map_err(|_| CoordinatorError::Internal("DB lock poisoned".into()))? = (modified, db);
        Ok(())
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// How many times a replaced file was loaded since start.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, SystemTime};

    use strata_scanner::vulndb::VulnDb;

    use super::DbHandle;

    #[test]
    fn a_replaced_file_is_loaded_once_however_many_scans_ask_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.db");
        let db = VulnDb::build(&[strata_testkit::debian::minbase_osv()]).unwrap();
        db.write(&path).unwrap();
        let handle = DbHandle::load(path.clone()).unwrap();
        let digest = handle.current().unwrap().header().content_digest.clone();

        // The nightly update: a new file renamed over the old one (a later mtime).
        let staged = dir.path().join("staged.db");
        db.write(&staged).unwrap();
        let later = SystemTime::now() + Duration::from_secs(60);
        std::fs::File::options().write(true).open(&staged).unwrap().set_modified(later).unwrap();
        std::fs::rename(&staged, &path).unwrap();

        let barrier = Arc::new(Barrier::new(16));
        std::thread::scope(|scope| {
            for _ in 0..16 {
                let (handle, barrier, digest) = (&handle, barrier.clone(), &digest);
                scope.spawn(move || {
                    barrier.wait();
                    assert_eq!(&handle.current().unwrap().header().content_digest, digest);
                });
            }
        });
        assert_eq!(handle.reloads(), 1, "16 scans asking at once load the new file once");
        handle.current().unwrap();
        assert_eq!(handle.reloads(), 1, "an unchanged file is not read again");
    }
}
