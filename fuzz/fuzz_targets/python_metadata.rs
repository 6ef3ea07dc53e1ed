//! An installed Python distribution's METADATA.
#![no_main]
use libfuzzer_sys::fuzz_target;
#[allow(unused_imports)]
use strata_scanner::analyze::{FileKind, java, npm, python, rpm, ruby, rust};

fuzz_target!(|data: &[u8]| strata_fuzz::file(
    FileKind::Python(python::Kind::Installed),
    "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
    data
));
