//! Shared bodies of the fuzz targets: each target is a thin call into a public engine function, and the
//! properties asserted are the ones issue #14 asks of every parser — no panic, no hang, memory bounded by the
//! budgets (libFuzzer's `-rss_limit_mb` and `-timeout` enforce the last two; see scripts/fuzz.sh).

use std::time::{Duration, Instant};

use strata_scanner::analyze::{self, FileContent, FileKind};
use strata_scanner::budget::Budget;

/// One file through its analyser, as layer analysis hands it over (the path decides nothing here but is
/// passed as a real one so that path-dependent code runs).
pub fn file(kind: FileKind, path: &str, data: &[u8]) {
    if data.len() as u64 > kind.size_cap() {
        return;
    }
    let started = Instant::now();
    let result = analyze::analyze(kind, path, data, &Budget::default());
    if let Ok(analyze::Analysis { content: Some(FileContent::Packages { packages, .. }), .. }) = &result {
        // A parser may not invent more packages than its input could describe.
        assert!(packages.len() <= data.len() + 1, "{} packages from {} bytes", packages.len(), data.len());
    }
    assert_slow(started, data.len());
}

/// Work must stay near-linear: a few seconds for the largest inputs libFuzzer generates (≤ 1 MiB with
/// scripts/fuzz.sh's `-max_len`) is already a finding, well before `-timeout` fires.
pub fn assert_slow(started: Instant, len: usize) {
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?} for {len} input bytes: super-linear work");
}
