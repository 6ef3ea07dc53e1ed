//! Scan on push: the endpoint the Distribution registry's `notifications` section posts events to
//! (`POST /v1/registry/events`). A manifest push becomes a scan of `registry/repository@digest`; pulls,
//! blobs and other media types are ignored.
//!
//! - [`event`]: the envelope and the scan-or-ignore decision (pure);
//! - [`inbox`]: accepted events in Redis — persisted before the registry gets its 200, deduplicated per
//!   reference inside a window, handed to the drainer and removed only once their scan is recorded;
//! - [`drainer`]: submits them at a bounded rate, one replica at a time;
//! - [`endpoint`]: the HTTP handler (shared secret, fast answer, 503 when Redis fails so the registry
//!   retries).
//!
//! It does not list registries (that is the nightly sweep) and never pulls anything itself: scans run
//! through the same [`Runner`](crate::runner::Runner) as every other.

pub mod drainer;
pub mod endpoint;
pub mod event;
pub mod inbox;

use std::fmt;
use std::time::Duration;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::{CoordinatorError, Result};

/// Which repositories are scanned on push: all unless `include` is given; never those in `exclude`.
/// Patterns are globs on the repository name (`team/*` one level, `team/**` any depth).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl Filter {
    /// Comma-separated patterns; empty strings mean "no such list".
    pub fn new(include: &str, exclude: &str) -> Result<Filter> {
        Ok(Filter { include: glob_set(include)?, exclude: glob_set(exclude)? })
    }

    pub fn allows(&self, repository: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(repository))
            && !self.exclude.as_ref().is_some_and(|set| set.is_match(repository))
    }
}

fn glob_set(patterns: &str) -> Result<Option<GlobSet>> {
    let patterns: Vec<&str> = patterns.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| CoordinatorError::Invalid(format!("repository pattern {pattern:?}: {e}")))?;
        builder.add(glob);
    }
    builder.build().map(Some).map_err(|e| CoordinatorError::Invalid(format!("repository patterns: {e}")))
}

/// The endpoint's settings (`STRATA_NOTIFY_*`, docs/continuous.md).
#[derive(Clone)]
pub struct Settings {
    /// The shared secret the registry sends as `Authorization: Bearer …`.
    pub token: String,
    /// The registry's address as the fleet reaches it (`STRATA_NOTIFY_REGISTRY`, required): never the
    /// event's own host, which the pusher chooses.
    pub registry: String,
    /// Pushes of the same `registry/repository@digest` inside this window start one scan.
    pub dedup_window: Duration,
    /// Scans submitted per second at most, across replicas.
    pub rate: f64,
    pub filter: Filter,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("token", &"<redacted>")
            .field("registry", &self.registry)
            .field("dedup_window", &self.dedup_window)
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::Filter;

    #[test]
    fn include_and_exclude_patterns() {
        let all = Filter::default();
        assert!(all.allows("anything/at/all"));
        let f = Filter::new("team/*, prod/**", "team/scratch*,**/tmp").unwrap();
        assert!(f.allows("team/app"));
        assert!(!f.allows("team/app/sub"), "* stays within one path segment");
        assert!(f.allows("prod/a/b/c"));
        assert!(!f.allows("team/scratch-1"));
        assert!(!f.allows("prod/x/tmp"));
        assert!(!f.allows("other/app"));
        assert!(Filter::new("[", "").is_err());
    }
}
