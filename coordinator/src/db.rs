//! The vulnerability DB the coordinator matches with. A new file dropped in place (`strata db update`
//! writes atomically) is picked up at the next match: nightly DB updates need no restart.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use strata_scanner::vulndb::VulnDb;

use crate::error::{CoordinatorError, Result};

pub struct DbHandle {
    path: PathBuf,
    loaded: RwLock<(Option<SystemTime>, Arc<VulnDb>)>,
}

impl DbHandle {
    pub fn load(path: PathBuf) -> Result<Self> {
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let db = VulnDb::load(&path)?;
        Ok(DbHandle { path, loaded: RwLock::new((modified, Arc::new(db))) })
    }

    /// The current DB, reloaded first if the file changed since it was read. Blocking: call it on the
    /// blocking pool.
    pub fn current(&self) -> Result<Arc<VulnDb>> {
        let modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        {
            let loaded = self.loaded.read().map_err(|_| CoordinatorError::Internal("DB lock poisoned".into()))?;
            if loaded.0 == modified {
                return Ok(loaded.1.clone());
            }
        }
        let db = Arc::new(VulnDb::load(&self.path)?);
        let mut loaded = self.loaded.write().map_err(|_| CoordinatorError::Internal("DB lock poisoned".into()))?;
        *loaded = (modified, db.clone());
        tracing::info!(path = %self.path.display(), digest = %db.header().content_digest, "vulnerability DB reloaded");
        Ok(db)
    }
}
