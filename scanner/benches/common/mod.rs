//! The benches' shared input: the real bullseye minbase root filesystem (`scripts/fixtures.sh`),
//! gzip-compressed once at the default level, as `docker push` does, and cached beside it.

pub mod cpu_time;

use std::io::{self, Write};
use std::path::PathBuf;

#[allow(dead_code)] // not every bench reads the bullseye layer
/// The gzip blob and the uncompressed tar size, or `None` (with a message) when the fixture is missing.
pub fn bullseye_gz() -> Option<(Vec<u8>, u64)> {
    let dir = std::env::var_os("STRATA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/strata-fixtures"));
    let tar = dir.join("bullseye-minbase.tar");
    let gz = dir.join("bullseye-minbase.tar.gz");
    if !tar.is_file() {
        eprintln!("{} missing: run scripts/fixtures.sh; skipping", tar.display());
        return None;
    }
    let uncompressed = std::fs::metadata(&tar).ok()?.len();
    if !gz.is_file() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        io::copy(&mut std::fs::File::open(&tar).ok()?, &mut enc).ok()?;
        let bytes = enc.finish().ok()?;
        std::fs::File::create(&gz).ok()?.write_all(&bytes).ok()?;
    }
    Some((std::fs::read(&gz).ok()?, uncompressed))
}
