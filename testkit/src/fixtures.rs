//! Content built once per machine by `scripts/fixtures.sh` (debootstrap needs a minute; tests reuse it).

use std::path::PathBuf;

pub fn dir() -> PathBuf {
    std::env::var_os("STRATA_FIXTURES").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/tmp/strata-fixtures"))
}

/// The root filesystem of `debootstrap --variant=minbase bullseye`, as an uncompressed tar.
///
/// # Panics
/// When the fixture is missing: tests that need it must fail loudly, not pass vacuously.
pub fn bullseye_rootfs() -> PathBuf {
    let path = dir().join("bullseye-minbase.tar");
    assert!(path.is_file(), "{} is missing: run scripts/fixtures.sh (the README's test command does)", path.display());
    path
}

/// Set (to anything) by scripts/test.sh for one extra pass of the tests that use `../shared`: a user's clone
/// has no `../shared`, and the checks those tests fall back to must be seen to run in CI too.
pub const WITHOUT_SHARED_ENV: &str = "STRATA_TEST_WITHOUT_SHARED";

/// `../shared/vulndb` next to the checkout, when this machine has it (and [`WITHOUT_SHARED_ENV`] is unset).
pub fn shared_vulndb() -> Option<PathBuf> {
    if std::env::var_os(WITHOUT_SHARED_ENV).is_some() {
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vulndb");
    dir.is_dir().then(|| dir.canonicalize().unwrap_or(dir))
}

/// The repo root (for committed fixtures and binaries' paths).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `root`, as (path relative to it, bytes).
pub fn files_under(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}
