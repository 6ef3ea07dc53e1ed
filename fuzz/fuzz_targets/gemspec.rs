//! An installed gem's specification.
#![no_main]
use libfuzzer_sys::fuzz_target;
#[allow(unused_imports)]
use strata_scanner::analyze::{FileKind, java, npm, python, rpm, ruby, rust};

fuzz_target!(|data: &[u8]| strata_fuzz::file(
    FileKind::Ruby(ruby::Kind::Gemspec),
    "usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec",
    data
));
