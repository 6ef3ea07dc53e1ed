//! `NAME@RANGE` package selectors (`libssl1.1@<1.1.1n`, `@babel/core@>=7.0.0,<7.23.2`), compared in the
//! version ordering of the package's ecosystem: the engine's, so a query agrees with the matcher.

use std::cmp::Ordering;

use strata_scanner::version::{compare, scheme_for};

use crate::error::{CoordinatorError, Result};

/// A range selector longer than this is not a query anyone types.
const MAX_SELECTOR: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSelector {
    pub name: String,
    /// Every constraint must hold; none: any version.
    pub constraints: Vec<(Op, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl PackageSelector {
    /// Parses `NAME` or `NAME@RANGE`; the `@` of an npm scope (`@babel/core`) is part of the name.
    pub fn parse(given: &str) -> Result<Self> {
        let given = given.trim();
        if given.is_empty() || given.len() > MAX_SELECTOR {
            return Err(CoordinatorError::Invalid("a package selector is NAME or NAME@RANGE".into()));
        }
        let (name, range) = match given.rfind('@') {
            Some(at) if at > 0 => (&given[..at], Some(&given[at + 1..])),
            _ => (given, None),
        };
        let mut constraints = Vec::new();
        for part in range.into_iter().flat_map(|r| r.split(',')).map(str::trim) {
            let (op, version) = if let Some(v) = part.strip_prefix("<=") {
                (Op::Le, v)
            } else if let Some(v) = part.strip_prefix(">=") {
                (Op::Ge, v)
            } else if let Some(v) = part.strip_prefix("!=") {
                (Op::Ne, v)
            } else if let Some(v) = part.strip_prefix("==") {
                (Op::Eq, v)
            } else if let Some(v) = part.strip_prefix('<') {
                (Op::Lt, v)
            } else if let Some(v) = part.strip_prefix('>') {
                (Op::Gt, v)
            } else if let Some(v) = part.strip_prefix('=') {
                (Op::Eq, v)
            } else {
                (Op::Eq, part)
            };
            let version = version.trim();
            if version.is_empty() {
                return Err(CoordinatorError::Invalid(format!(
                    "package selector {given:?}: a constraint without a version"
                )));
            }
            constraints.push((op, version.to_string()));
        }
        Ok(PackageSelector { name: name.to_string(), constraints })
    }

    /// Whether `version` (of `ecosystem`) is in the range. A version the ecosystem's ordering cannot
    /// compare is outside it: a query names what it is sure of.
    pub fn contains(&self, ecosystem: Option<&str>, version: &str) -> bool {
        self.constraints.iter().all(|(op, bound)| {
            let order = match ecosystem {
                Some(e) => compare(scheme_for(e), version, bound),
                None => None,
            };
            let order = order.or_else(|| (version == bound).then_some(Ordering::Equal));
            match (op, order) {
                (Op::Lt, Some(o)) => o.is_lt(),
                (Op::Le, Some(o)) => o.is_le(),
                (Op::Gt, Some(o)) => o.is_gt(),
                (Op::Ge, Some(o)) => o.is_ge(),
                (Op::Eq, Some(o)) => o.is_eq(),
                (Op::Ne, Some(o)) => o.is_ne(),
                (_, None) => false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let s = PackageSelector::parse("libssl1.1@<1.1.1n").unwrap();
        assert_eq!(s.name, "libssl1.1");
        assert!(s.contains(Some("Debian:11"), "1.1.1k-1+deb11u1"));
        assert!(!s.contains(Some("Debian:11"), "1.1.1n-0+deb11u3"));
        let scoped = PackageSelector::parse("@babel/core@>=7.0.0,<7.23.2").unwrap();
        assert_eq!(scoped.name, "@babel/core");
        assert!(scoped.contains(Some("npm"), "7.20.0"));
        assert!(!scoped.contains(Some("npm"), "7.23.2"));
        let bare = PackageSelector::parse("@babel/core").unwrap();
        assert_eq!((bare.name.as_str(), bare.constraints.len()), ("@babel/core", 0));
        assert!(PackageSelector::parse("zlib@").is_err());
        assert!(PackageSelector::parse("").is_err());
        // Not comparable in the ecosystem: outside the range.
        assert!(!s.contains(None, "1.1.1k"));
    }
}
