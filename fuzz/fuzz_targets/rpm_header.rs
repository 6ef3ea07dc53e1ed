//! One rpm header blob: index entries, tag types, offsets and counts into the data store.
#![no_main]
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use strata_scanner::analyze::rpm;

fuzz_target!(|data: &[u8]| {
    let started = Instant::now();
    let _ = rpm::parse_header(data);
    strata_fuzz::assert_slow(started, data.len());
});
