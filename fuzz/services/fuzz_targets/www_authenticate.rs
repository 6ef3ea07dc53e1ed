//! A registry's `WWW-Authenticate` value, which a hostile registry controls.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata_registry::{Challenge, parse_challenge};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else { return };
    if let Some(Challenge::Bearer { realm, service }) = parse_challenge(header) {
        // Parameters are substrings of the header (unquoted), never longer than it.
        assert!(realm.len() <= header.len());
        assert!(service.is_none_or(|s| s.len() <= header.len()));
    }
});
