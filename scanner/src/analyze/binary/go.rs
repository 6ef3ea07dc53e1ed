//! Go build information: the `\xff Go buildinf:` blob the Go linker (1.18+) writes at the start of the
//! `.go.buildinfo` section, holding the toolchain version and the module list that `go version -m` prints.
//!
//! Go's own reader (`debug/buildinfo`) looks for the blob, 16-byte aligned, in the `.go.buildinfo` section
//! or else the first writable segment. Section headers usually come last in the file, so we search every
//! writable, non-executable loadable segment (known from the program headers at the start) at 16-byte
//! aligned file offsets, and take the first blob whose header is well formed. Rodata copies of the magic
//! (in `debug/buildinfo` itself) are in read-only segments and never looked at.

use std::collections::HashMap;
use std::ops::Range;

use super::Capture;
use super::pclntab::Table;
use crate::package::{GoSymbols, Package, PackageKind, split_go_name, unescape_go_path};

const MAGIC: &[u8] = b"\xff Go buildinf:";
const ALIGN: u64 = 16;
const HEADER_LEN: usize = 32;
/// Flag bit: version and module strings follow the header inline (Go 1.18+), rather than as pointers.
const FLAG_INLINE: u8 = 0x2;
/// The module list of the largest real programs (Kubernetes, Docker) is under 100 KiB.
const MAX_BLOB: u64 = 4 << 20;
/// `runtime/debug` brackets the module string with these 16-byte sentinels.
const SENTINEL_LEN: usize = 16;

/// Searches the streamed bytes for the blob and keeps it once found.
pub struct Scanner {
    segments: Vec<Range<u64>>,
    /// Absolute offset below which aligned positions were already checked.
    checked: u64,
    blob: Option<Capture>,
}

/// What the blob says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub go_version: String,
    pub modinfo: String,
}

impl Scanner {
    pub fn new(segments: Vec<Range<u64>>) -> Self {
        Scanner { segments, checked: 0, blob: None }
    }

    /// Looks at `buf`, whose first byte is at absolute offset `base`.
    pub fn feed(&mut self, base: u64, buf: &[u8]) {
        if let Some(blob) = &mut self.blob {
            blob.feed(base, buf);
            return;
        }
        let end = base + buf.len() as u64;
        let mut pos = self.checked.max(base).next_multiple_of(ALIGN);
        // Only positions whose whole magic is in `buf` are decided now; the rest wait for the next buffer.
        while pos + MAGIC.len() as u64 <= end {
            let at = (pos - base) as usize;
            if buf[at] == MAGIC[0] && buf[at..].starts_with(MAGIC) && self.in_segment(pos) {
                let mut blob = Capture::new(pos..pos.saturating_add(MAX_BLOB));
                blob.feed(base, buf);
                self.blob = Some(blob);
                return;
            }
            pos += ALIGN;
        }
        self.checked = pos;
    }

    fn in_segment(&self, pos: u64) -> bool {
        self.segments.iter().any(|s| s.contains(&pos))
    }

    /// Whether the blob is complete, so the rest of the file need not be read.
    pub fn done(&self) -> bool {
        self.blob.as_ref().is_some_and(|b| !matches!(parse(b.bytes()), Err(Incomplete::NeedMore)))
    }

    /// `Ok(None)`: not a Go binary (of 1.18 or later, or any at all).
    pub fn finish(&self) -> Result<Option<BuildInfo>, String> {
        let Some(blob) = &self.blob else { return Ok(None) };
        match parse(blob.bytes()) {
            Ok(info) => Ok(Some(info)),
            Err(Incomplete::NeedMore) => Err("Go build information is cut short by the end of the file".into()),
            Err(Incomplete::Invalid(why)) => Err(why),
        }
    }
}

enum Incomplete {
    NeedMore,
    Invalid(String),
}

fn parse(blob: &[u8]) -> Result<BuildInfo, Incomplete> {
    let header = blob.get(..HEADER_LEN).ok_or(Incomplete::NeedMore)?;
    let (ptr_size, flags) = (header[MAGIC.len()], header[MAGIC.len() + 1]);
    if ptr_size != 4 && ptr_size != 8 {
        return Err(Incomplete::Invalid(format!("Go build information with a pointer size of {ptr_size}")));
    }
    if flags & FLAG_INLINE == 0 {
        return Err(Incomplete::Invalid(
            "Go build information in the pre-1.18 format (pointers into the data segment) is not read; \
             this binary's modules are not reported"
                .into(),
        ));
    }
    let (version, rest) = read_string(&blob[HEADER_LEN..])?;
    let (modinfo, _) = read_string(rest)?;
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec()).map_err(|_| Incomplete::Invalid("Go build information is not UTF-8".into()))
    };
    let modinfo = match modinfo.len() {
        n if n > 2 * SENTINEL_LEN && modinfo[n - SENTINEL_LEN - 1] == b'\n' => &modinfo[SENTINEL_LEN..n - SENTINEL_LEN],
        _ => modinfo,
    };
    Ok(BuildInfo { go_version: text(version)?, modinfo: text(modinfo)? })
}

/// A uvarint length and that many bytes, as `encoding/binary` writes them.
fn read_string(data: &[u8]) -> Result<(&[u8], &[u8]), Incomplete> {
    let (mut len, mut shift, mut used) = (0u64, 0u32, 0usize);
    loop {
        let byte = *data.get(used).ok_or(Incomplete::NeedMore)?;
        used += 1;
        if shift > 63 {
            return Err(Incomplete::Invalid("Go build information has an overlong length".into()));
        }
        len |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    if len > MAX_BLOB {
        return Err(Incomplete::Invalid(format!("Go build information claims a {len} byte string")));
    }
    let end = used + len as usize;
    let s = data.get(used..end).ok_or(Incomplete::NeedMore)?;
    Ok((s, &data[end..]))
}

/// The toolchain as the Go vulnerability database names it: package `stdlib`, version without the `go`
/// prefix in SemVer form (`go1.21rc2` → `1.21.0-rc.2`, `go1.20` → `1.20.0`). `None` for development builds.
pub fn stdlib_version(go_version: &str) -> Option<String> {
    // Experiments and FIPS builds append ` X:boringcrypto`; only the release matters.
    let release = go_version.split_whitespace().next()?.strip_prefix("go")?;
    let split = release.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(release.len());
    let (core, pre) = release.split_at(split);
    let mut parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    parts.resize(3, "0");
    let pre = match pre.find(|c: char| c.is_ascii_digit()) {
        _ if pre.is_empty() => String::new(),
        Some(i) => format!("-{}.{}", &pre[..i], &pre[i..]),
        None => format!("-{pre}"),
    };
    Some(format!("{}{pre}", parts.join(".")))
}

/// The packages of a binary: every module it was built from (replacements honoured), the main module when
/// it has a version, and the toolchain as `stdlib`. Go records a flat module list, not a graph, so each
/// module's path is `main › module`. With the function table, each gets the functions of its packages.
pub fn packages(info: &BuildInfo, table: Option<&Table>) -> Vec<Package> {
    let mut main: Option<(String, String)> = None;
    let mut modules: Vec<(String, String)> = Vec::new();
    for line in info.modinfo.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or_default().to_string();
        match fields[0] {
            "mod" => main = Some((field(1), field(2))),
            "dep" => modules.push((field(1), field(2))),
            // A replacement applies to the `dep` line above it; a local directory has no version.
            "=>" => {
                if let Some(last) = modules.last_mut() {
                    *last = if field(2).is_empty() { (last.0.clone(), DEVEL.into()) } else { (field(1), field(2)) };
                }
            }
            _ => {}
        }
    }
    let root = main.as_ref().map(|(path, version)| {
        if version.is_empty() || version == DEVEL { path.clone() } else { format!("{path}@{version}") }
    });
    let mut packages = Vec::new();
    if let Some((path, version)) = &main
        && !version.is_empty()
        && version != DEVEL
    {
        packages.push(Package::new(PackageKind::Go, path.clone(), version.clone()));
    }
    for (path, version) in modules {
        let mut p = Package::new(PackageKind::Go, path, version);
        if let Some(root) = &root {
            p.dependency_paths = vec![format!("{root} › {}@{}", p.name, p.version)];
        }
        packages.push(p);
    }
    if let Some(version) = stdlib_version(&info.go_version) {
        packages.push(Package::new(PackageKind::Go, STDLIB, version));
    }
    if let Some(table) = table {
        attach_symbols(&mut packages, info, table);
    }
    packages
}

/// Splits the function names by module (the longest module path that is a prefix of the package's, as
/// import paths nest; the standard library's packages have no dot in their first element) and stores each
/// module's share on its package. Names of no listed module (the main package of a development build, linker
/// symbols) are dropped.
fn attach_symbols(packages: &mut [Package], info: &BuildInfo, table: &Table) {
    let setting = |key: &str| {
        info.modinfo
            .lines()
            .find_map(|l| l.strip_prefix("build\t")?.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
    };
    let (goos, goarch) = (setting("GOOS"), setting("GOARCH"));
    let index: HashMap<&str, usize> =
        packages.iter().enumerate().filter(|(_, p)| p.name != STDLIB).map(|(i, p)| (p.name.as_str(), i)).collect();
    let stdlib = packages.iter().position(|p| p.name == STDLIB);
    let mut shares: Vec<Vec<&str>> = vec![Vec::new(); packages.len()];
    for name in table.names() {
        let Some((package, _)) = split_go_name(name) else { continue };
        let path = unescape_go_path(package);
        let owner = if path.split('/').next().is_some_and(|first| !first.contains('.')) {
            stdlib
        } else {
            let mut prefix: &str = &path;
            loop {
                if let Some(&i) = index.get(prefix) {
                    break Some(i);
                }
                match prefix.rfind('/') {
                    Some(cut) => prefix = &prefix[..cut],
                    None => break None,
                }
            }
        };
        if let Some(i) = owner {
            shares[i].push(name);
        }
    }
    for (package, share) in packages.iter_mut().zip(shares) {
        package.go_symbols = Some(GoSymbols::new(goos.clone(), goarch.clone(), share));
    }
}

/// The package name the Go vulnerability database gives the toolchain's packages.
const STDLIB: &str = "stdlib";

/// The version Go gives modules built from a checkout without a usable tag, and local replacements.
const DEVEL: &str = "(devel)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdlib_versions_as_the_go_vulndb_writes_them() {
        for (go, want) in [
            ("go1.19.8", Some("1.19.8")),
            ("go1.20", Some("1.20.0")),
            ("go1.21rc2", Some("1.21.0-rc.2")),
            ("go1.18beta1", Some("1.18.0-beta.1")),
            ("go1.22.1 X:boringcrypto", Some("1.22.1")),
            ("devel go1.23-abc123 Mon Jan 1", None),
            ("", None),
            ("go1.x", None),
        ] {
            assert_eq!(stdlib_version(go).as_deref(), want, "{go}");
        }
    }

    #[test]
    fn truncated_and_malformed_blobs() {
        let mut blob = MAGIC.to_vec();
        blob.extend([8, FLAG_INLINE]);
        blob.resize(HEADER_LEN, 0);
        assert!(matches!(parse(&blob[..20]), Err(Incomplete::NeedMore)));
        assert!(matches!(parse(&blob), Err(Incomplete::NeedMore)));
        let mut long = blob.clone();
        long.extend([0xff; 12]);
        assert!(matches!(parse(&long), Err(Incomplete::Invalid(_))));
        let mut old = blob.clone();
        old[MAGIC.len() + 1] = 0;
        assert!(matches!(parse(&old), Err(Incomplete::Invalid(w)) if w.contains("pre-1.18")));
        let mut ok = blob.clone();
        ok.extend([8]);
        ok.extend(b"go1.19.8");
        ok.extend([0]);
        assert_eq!(parse(&ok).ok(), Some(BuildInfo { go_version: "go1.19.8".into(), modinfo: String::new() }));
    }
}
