//! The built-in secret rules over one file; findings per file stay bounded.
#![no_main]
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use strata_scanner::secret::Scanner;

fuzz_target!(|data: &[u8]| {
    let started = Instant::now();
    let found = Scanner::builtin().scan("app/config/settings.env", data);
    // A finding is at least a line of input; more findings than lines would be duplicates.
    assert!(found.len() <= data.len() / 8 + 1, "{} findings from {} bytes", found.len(), data.len());
    strata_fuzz::assert_slow(started, data.len());
});
