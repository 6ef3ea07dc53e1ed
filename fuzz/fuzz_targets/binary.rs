//! An executable as a stream: ELF sections, Go build information, cargo-auditable's compressed section.
#![no_main]
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use strata_scanner::analyze::{self, FileKind};

fuzz_target!(|data: &[u8]| {
    let started = Instant::now();
    let mut reader = data;
    let budget = strata_scanner::budget::Budget::default();
    let _ = analyze::analyze_stream(FileKind::Executable, "usr/local/bin/app", &mut reader, data.len() as u64, &budget);
    strata_fuzz::assert_slow(started, data.len());
});
