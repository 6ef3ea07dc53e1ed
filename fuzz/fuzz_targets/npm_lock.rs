//! npm's package-lock.json (v1–v3) and its dependency graph.
#![no_main]
use libfuzzer_sys::fuzz_target;
#[allow(unused_imports)]
use strata_scanner::analyze::{FileKind, java, npm, python, rpm, ruby, rust};

fuzz_target!(|data: &[u8]| strata_fuzz::file(FileKind::Npm(npm::Kind::PackageLock), "app/package-lock.json", data));
