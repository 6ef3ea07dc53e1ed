//! The lookup index, built at load time, and the ecosystem and package-name normalisation both sides of a
//! lookup go through.
//!
//! Ecosystem rules (applied to advisory data and to queries alike):
//! - `Ubuntu:…` becomes `Ubuntu:<YY.MM>`: `Ubuntu:22.04:LTS`, `Ubuntu:Pro:22.04:LTS` and
//!   `Ubuntu:Pro:FIPS-updates:22.04:LTS` are all found by an image's `Ubuntu:22.04`. Pro (ESM) records are
//!   folded in on purpose: for releases past standard support they are the only fixes there are, and a
//!   package below an ESM fix is vulnerable whether or not the image is attached to Pro.
//! - `Alpine:…` becomes `Alpine:v<major>.<minor>` (`3.17.2` and `v3.17.2` read as `v3.17`); `edge` stays.
//! - Everything else is kept as written (`Debian:11`, `PyPI`, `crates.io`).
//!
//! Package names are exact, except PyPI's, which are compared in their PEP 503 form (lowercase, runs of
//! `-`, `_` and `.` as one `-`), as pip does.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::hash::Hasher;

use rayon::prelude::*;

use super::Advisory;
pub use crate::package::normalize_name;

pub fn normalize_ecosystem(ecosystem: &str) -> Cow<'_, str> {
    let mut parts = ecosystem.split(':');
    match parts.next() {
        Some("Ubuntu") => match parts.find(|p| is_release_number(p)) {
            Some(release) => Cow::Owned(format!("Ubuntu:{release}")),
            None => Cow::Borrowed(ecosystem),
        },
        Some("Alpine") => {
            let release = ecosystem["Alpine".len()..].trim_start_matches(':');
            let digits = release.strip_prefix('v').unwrap_or(release);
            let mut nums = digits.split('.');
            match (nums.next(), nums.next(), nums.next()) {
                // Already `Alpine:v3.17`: the common case (every stored entry), so no allocation.
                (Some(major), Some(minor), None)
                    if release.starts_with('v') && is_number(major) && is_number(minor) =>
                {
                    Cow::Borrowed(ecosystem)
                }
                (Some(major), Some(minor), _) if is_number(major) && is_number(minor) => {
                    Cow::Owned(format!("Alpine:v{major}.{minor}"))
                }
                _ => Cow::Borrowed(ecosystem),
            }
        }
        _ => Cow::Borrowed(ecosystem),
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

fn is_release_number(s: &str) -> bool {
    s.split_once('.').is_some_and(|(a, b)| is_number(a) && is_number(b))
}

/// A multiply-rotate hasher (the Fx hash of rustc) for index keys: short package names, where SipHash would
/// cost more than the rest of the index build. HashDoS resistance is not needed: keys come from the DB, and
/// colliding query names only cost comparisons.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn key_hash(ecosystem: &str, name: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(ecosystem.as_bytes());
    h.write_u8(0xff);
    h.write(name.as_bytes());
    h.finish()
}

/// (hash of the normalised ecosystem and name, advisory index, affected index), sorted. A flat sorted
/// vector rather than a map of owned names: it is built without allocating a key per package, which matters
/// because the index is rebuilt on every load. Lookups check the entries' real names, so a hash collision
/// can cost a comparison but never a wrong match.
#[derive(Debug, Default)]
pub(super) struct Index {
    entries: Vec<(u64, u32, u32)>,
    ecosystems: BTreeSet<String>,
}

impl Index {
    pub fn build(advisories: &[Advisory]) -> Index {
        let mut entries: Vec<(u64, u32, u32)> = advisories
            .par_iter()
            .enumerate()
            .flat_map_iter(|(ai, advisory)| {
                advisory.affected.iter().enumerate().map(move |(fi, affected)| {
                    // Stored ecosystems are normalised at ingest; normalising again costs little and keeps
                    // DB files written by older builds consistent with today's rules.
                    let eco = normalize_ecosystem(&affected.ecosystem);
                    (key_hash(&eco, &normalize_name(&eco, &affected.name)), ai as u32, fi as u32)
                })
            })
            .collect();
        entries.par_sort_unstable();
        let ecosystems = advisories
            .iter()
            .flat_map(|a| &a.affected)
            .map(|a| normalize_ecosystem(&a.ecosystem).into_owned())
            .collect();
        Index { entries, ecosystems }
    }

    pub fn has_ecosystem(&self, ecosystem: &str) -> bool {
        self.ecosystems.contains(normalize_ecosystem(ecosystem).as_ref())
    }

    /// The (advisory, affected) entries naming `name` in `ecosystem` (both normalised here), in advisory order.
    pub fn lookup(&self, advisories: &[Advisory], ecosystem: &str, name: &str) -> Vec<(usize, usize)> {
        let eco = normalize_ecosystem(ecosystem);
        let name = normalize_name(&eco, name);
        let hash = key_hash(&eco, &name);
        let start = self.entries.partition_point(|e| e.0 < hash);
        self.entries[start..]
            .iter()
            .take_while(|e| e.0 == hash)
            .map(|&(_, ai, fi)| (ai as usize, fi as usize))
            .filter(|&(ai, fi)| {
                let a = &advisories[ai].affected[fi];
                let a_eco = normalize_ecosystem(&a.ecosystem);
                a_eco == eco && normalize_name(&a_eco, &a.name) == name
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems() {
        for (raw, want) in [
            ("Ubuntu:22.04:LTS", "Ubuntu:22.04"),
            ("Ubuntu:Pro:22.04:LTS", "Ubuntu:22.04"),
            ("Ubuntu:Pro:FIPS-updates:18.04:LTS", "Ubuntu:18.04"),
            ("Ubuntu:23.10", "Ubuntu:23.10"),
            ("Ubuntu", "Ubuntu"),
            ("Alpine:v3.17", "Alpine:v3.17"),
            ("Alpine:3.17.2", "Alpine:v3.17"),
            ("Alpine:v3.9.6", "Alpine:v3.9"),
            ("Alpine:edge", "Alpine:edge"),
            ("Debian:11", "Debian:11"),
            ("Debian:3.0", "Debian:3.0"),
            ("PyPI", "PyPI"),
            ("crates.io", "crates.io"),
        ] {
            assert_eq!(normalize_ecosystem(raw), want, "{raw}");
        }
    }

    #[test]
    fn pypi_names_follow_pep_503() {
        for (raw, want) in [
            ("Django", "django"),
            ("zope.interface", "zope-interface"),
            ("Flask_SQLAlchemy", "flask-sqlalchemy"),
            ("a-_.b", "a-b"),
            ("a--b", "a-b"),
            ("requests", "requests"),
        ] {
            assert_eq!(normalize_name("PyPI", raw), want, "{raw}");
        }
        assert_eq!(normalize_name("npm", "Foo_Bar"), "Foo_Bar");
        assert_eq!(normalize_name("crates.io", "serde_json"), "serde_json");
    }
}
