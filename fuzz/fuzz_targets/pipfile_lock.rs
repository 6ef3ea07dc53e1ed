//! Pipfile.lock.
#![no_main]
use libfuzzer_sys::fuzz_target;
#[allow(unused_imports)]
use strata_scanner::analyze::{FileKind, java, npm, python, rpm, ruby, rust};

fuzz_target!(|data: &[u8]| strata_fuzz::file(FileKind::Python(python::Kind::PipfileLock), "app/Pipfile.lock", data));
