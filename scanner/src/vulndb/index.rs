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
use std::collections::HashMap;

use super::Advisory;

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
            match (nums.next(), nums.next()) {
                (Some(major), Some(minor)) if is_number(major) && is_number(minor) => {
                    let short = format!("Alpine:v{major}.{minor}");
                    if short == ecosystem { Cow::Borrowed(ecosystem) } else { Cow::Owned(short) }
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

/// The name an index key uses for `name` in `ecosystem`.
pub fn normalize_name<'a>(ecosystem: &str, name: &'a str) -> Cow<'a, str> {
    if ecosystem != "PyPI" {
        return Cow::Borrowed(name);
    }
    let already = name.bytes().all(|c| !c.is_ascii_uppercase() && c != b'_' && c != b'.') && !name.contains("--");
    if already {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.extend(c.to_lowercase());
        }
    }
    Cow::Owned(out)
}

/// (ecosystem → package name → (advisory index, affected index)), nested so that lookups need no owned key.
#[derive(Debug, Default)]
pub(super) struct Index {
    by_ecosystem: HashMap<String, HashMap<String, Vec<(u32, u32)>>>,
}

impl Index {
    pub fn build(advisories: &[Advisory]) -> Index {
        let mut by_ecosystem: HashMap<String, HashMap<String, Vec<(u32, u32)>>> = HashMap::new();
        for (ai, advisory) in advisories.iter().enumerate() {
            for (fi, affected) in advisory.affected.iter().enumerate() {
                // Stored ecosystems are normalised at ingest; normalising again costs little and keeps DB
                // files written by older builds consistent with today's rules.
                let eco = normalize_ecosystem(&affected.ecosystem);
                let name = normalize_name(&eco, &affected.name).into_owned();
                let names = match by_ecosystem.get_mut(eco.as_ref()) {
                    Some(names) => names,
                    None => by_ecosystem.entry(eco.into_owned()).or_default(),
                };
                names.entry(name).or_default().push((ai as u32, fi as u32));
            }
        }
        Index { by_ecosystem }
    }

    pub fn has_ecosystem(&self, ecosystem: &str) -> bool {
        self.by_ecosystem.contains_key(normalize_ecosystem(ecosystem).as_ref())
    }

    /// The (advisory, affected) entries naming `name` in `ecosystem` (both normalised here).
    pub fn lookup(&self, ecosystem: &str, name: &str) -> &[(u32, u32)] {
        let eco = normalize_ecosystem(ecosystem);
        self.by_ecosystem
            .get(eco.as_ref())
            .and_then(|names| names.get(normalize_name(&eco, name).as_ref()))
            .map_or(&[], Vec::as_slice)
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
