//! Inputs the fuzz targets (fuzz/) found crashing the engine, kept as regression tests. Each is the
//! minimal file libFuzzer saved, committed under tests/fixtures/fuzz/; the analyser must return a result
//! or an error for it, never panic.

use strata_scanner::analyze::{self, FileKind, rust};
use strata_scanner::budget::Budget;

/// `cargo_lock` target: a `checksum` with a multi-byte character where a hex digit belongs made the
/// `cargo-lock` crate slice a `str` inside a character and panic (cargo-lock 11.1.0, checksum.rs:48).
#[test]
fn cargo_lock_checksum_with_a_multibyte_character_does_not_panic() {
    let lock = include_bytes!("fixtures/fuzz/cargo-lock-checksum-char-boundary.lock");
    let budget = Budget::default();
    let outcome = std::panic::catch_unwind(|| {
        analyze::analyze(FileKind::Rust(rust::Kind::CargoLock), "app/Cargo.lock", lock, &budget)
    });
    let analysed = outcome.expect("the Cargo.lock analyser panicked on a malformed checksum");
    assert!(analysed.is_err_and(|why| why.contains("checksum")), "refused, naming the checksum");
}
