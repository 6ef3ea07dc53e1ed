//! Packages as the analysers find them, independent of where they were found.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Which package manager a package belongs to; decides the OSV ecosystem, the version ordering and the
/// purl type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    Deb,
    Apk,
    Rpm,
    Npm,
    Python,
    Go,
    Cargo,
    Gem,
    Maven,
}

impl PackageKind {
    /// OS package managers: their ecosystem depends on the detected distro release.
    pub fn is_os(self) -> bool {
        matches!(self, PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm)
    }

    /// The OSV ecosystem of a language package (`None` for OS packages, which depend on the release).
    pub fn language_ecosystem(self) -> Option<&'static str> {
        match self {
            PackageKind::Npm => Some("npm"),
            PackageKind::Python => Some("PyPI"),
            PackageKind::Go => Some("Go"),
            PackageKind::Cargo => Some("crates.io"),
            PackageKind::Gem => Some("RubyGems"),
            PackageKind::Maven => Some("Maven"),
            PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm => None,
        }
    }

    /// The purl type (purl-spec).
    pub fn purl_type(self) -> &'static str {
        match self {
            PackageKind::Deb => "deb",
            PackageKind::Apk => "apk",
            PackageKind::Rpm => "rpm",
            PackageKind::Npm => "npm",
            PackageKind::Python => "pypi",
            PackageKind::Go => "golang",
            PackageKind::Cargo => "cargo",
            PackageKind::Gem => "gem",
            PackageKind::Maven => "maven",
        }
    }
}

/// One package, installed or locked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    pub kind: PackageKind,
    /// As the ecosystem writes it: `libc6`, `@babel/core`, `github.com/gin-gonic/gin`, and for Maven
    /// `group:artifact`.
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// The source package (dpkg `Source:`, apk origin `o:`, rpm source rpm). Advisories name source packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// The source version when it differs from the binary version (binNMUs: `Source: glibc (2.31-13)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// A development-only dependency (npm `dev`, Poetry `develop` groups): not shipped to production.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dev: bool,
    /// How the application reaches this package, `npm ls` style: `acme@1.0.0 › express@4.16.0 › qs@6.5.1`.
    /// Empty for OS packages and for the application itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependency_paths: Vec<String>,
    /// How many further distinct paths exist beyond those kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dependency_paths_cut: u32,
    /// A Go module's (or `stdlib`'s) functions that the binary's function table lists: what decides
    /// whether a vulnerable symbol is in the program. `None`: not a Go binary's, or the table was unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_symbols: Option<GoSymbols>,
}

/// Function names as a Go binary's function table (pclntab) writes them (`net/http.(*Client).Do`), with the
/// platform they were built for. Kept as one sorted, deduplicated, newline-joined string: a program has tens
/// of thousands of functions and this is cached with every layer inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GoSymbols {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goos: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goarch: Option<String>,
    names: String,
}

impl GoSymbols {
    pub fn new<'a>(goos: Option<String>, goarch: Option<String>, names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut names: Vec<&str> = names.into_iter().filter(|n| !n.is_empty() && !n.contains('\n')).collect();
        names.sort_unstable();
        names.dedup();
        GoSymbols { goos, goarch, names: names.join("\n") }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.split('\n').filter(|n| !n.is_empty())
    }

    pub fn len(&self) -> usize {
        self.names().count()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Package {
    pub fn new(kind: PackageKind, name: impl Into<String>, version: impl Into<String>) -> Self {
        Package {
            kind,
            name: name.into(),
            version: version.into(),
            arch: None,
            source_name: None,
            source_version: None,
            dev: false,
            dependency_paths: Vec::new(),
            dependency_paths_cut: 0,
            go_symbols: None,
        }
    }

    /// The name advisories use for this package: the source package where there is one.
    pub fn advisory_name(&self) -> &str {
        self.source_name.as_deref().unwrap_or(&self.name)
    }

    /// The version advisories compare against: the source version where it differs.
    pub fn advisory_version(&self) -> &str {
        self.source_version.as_deref().unwrap_or(&self.version)
    }
}

/// `name` as `ecosystem` compares package names: PyPI's in their PEP 503 form (lower case, runs of `-`, `_`
/// and `.` as one `-`), as pip does; every other ecosystem's exactly as written. The DB's index keys and
/// the Python analysers both use it.
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

/// A Go function name as the linker writes it, split into its package path and the rest:
/// `net/http.(*Client).Do` → (`net/http`, `(*Client).Do`). The package ends at the first `.` after the last
/// `/`, type arguments (`F[go.shape.*a/b.T]`, which may hold both) left out of the search.
pub fn split_go_name(name: &str) -> Option<(&str, &str)> {
    let head = &name[..name.find('[').unwrap_or(name.len())];
    let last_slash = head.rfind('/').map_or(0, |i| i + 1);
    let dot = last_slash + head[last_slash..].find('.')?;
    Some((&name[..dot], &name[dot + 1..]))
}

/// The linker escapes `.`, `%` and control characters of a package path's last element as `%xx`
/// (`gopkg.in/yaml%2ev3`); the import path, borrowed when nothing is escaped.
pub fn unescape_go_path(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8(out).unwrap_or_else(|_| path.to_owned()))
}
