//! A whole layer blob (tar, gzip or zstd) through the tar walk and every analyser, with a tight budget.
#![no_main]
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use strata_scanner::budget::Budget;
use strata_scanner::layer;
use strata_scanner::secret::Scanner;

fuzz_target!(|data: &[u8]| {
    // The real digest, so that a result (rather than a digest mismatch at the end) is the common outcome.
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
    let budget = Budget {
        wall: Duration::from_secs(2),
        decompressed_bytes: 256 * 1024 * 1024,
        entries: 100_000,
        header_bytes: 64 * 1024,
        ..Budget::default()
    };
    let started = Instant::now();
    let result = layer::analyze_layer_with(data, &digest, Scanner::builtin(), &budget);
    let elapsed = started.elapsed();
    // The wall budget is 2 s: anything far past it means a loop that never checks it.
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?} on a {}-byte layer", data.len());
    if let Ok(inventory) = result {
        assert_eq!(inventory.digest, digest);
    }
});
