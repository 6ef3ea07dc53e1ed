//! rpm's SQLite database (rpm ≥ 4.16): opened from attacker bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
#[allow(unused_imports)]
use strata_scanner::analyze::{FileKind, java, npm, python, rpm, ruby, rust};

fuzz_target!(|data: &[u8]| strata_fuzz::file(FileKind::Rpm(rpm::Kind::Sqlite), "var/lib/rpm/rpmdb.sqlite", data));
