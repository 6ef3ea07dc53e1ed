//! Real binaries, built by scripts/fixtures.d/binaries.sh, against their makers' own accounts of them:
//! `go version -m` for Go, the `.dep-v0` section inflated by Python's zlib for `cargo auditable`.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

use super::*;
use crate::package::{Package, PackageKind};

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("STRATA_FIXTURES").map(PathBuf::from).unwrap_or("/var/tmp/strata-fixtures".into());
    let dir = dir.join("binaries");
    assert!(dir.join("stamp").is_file(), "{} is missing: run scripts/fixtures.sh", dir.display());
    dir
}

/// Hands out at most `step` bytes per read, counting what was read, so buffer seams fall everywhere.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    read: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len() - self.read);
        buf[..n].copy_from_slice(&self.data[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

fn scan(data: &[u8], step: usize) -> (Result<Option<FileContent>, String>, usize) {
    let mut reader = Trickle { data, step, read: 0 };
    let got = analyze("usr/local/bin/x", &mut reader, data.len() as u64).map(|a| a.content);
    (got, reader.read)
}

fn packages(data: &[u8]) -> Vec<Package> {
    match scan(data, usize::MAX).0 {
        Ok(Some(FileContent::Packages { packages, group: None })) => packages,
        other => panic!("not packages: {other:?}"),
    }
}

/// (name, version) per module from `go version -m` output, replacements applied; plus `stdlib`.
fn go_oracle(text: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut last: Option<(String, String)> = None;
    let go = text.lines().next().and_then(|l| l.rsplit(' ').next()).expect("first line names the Go version");
    out.insert(("stdlib".to_string(), go.trim_start_matches("go").to_string()));
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.trim_start().split('\t').collect();
        match f[0] {
            "dep" => {
                out.extend(last.replace((f[1].to_string(), f[2].to_string())));
            }
            "=>" => last = Some((f[1].to_string(), f[2].to_string())),
            _ => {}
        }
    }
    out.extend(last);
    out
}

fn names(packages: &[Package]) -> BTreeSet<(String, String)> {
    packages.iter().map(|p| (p.name.clone(), p.version.clone())).collect()
}

#[test]
fn go_binary_matches_go_version_m() {
    let dir = fixtures();
    let data = std::fs::read(dir.join("goapp")).unwrap();
    let oracle = go_oracle(&std::fs::read_to_string(dir.join("goapp.modinfo")).unwrap());
    assert!(oracle.contains(&("golang.org/x/text".into(), "v0.7.0".into())), "the replacement is in the oracle");
    for step in [usize::MAX, 4093, 7] {
        let (got, read) = scan(&data, step);
        let Ok(Some(FileContent::Packages { packages, .. })) = got else { panic!("step {step}: {got:?}") };
        assert_eq!(names(&packages), oracle, "step {step}");
        assert!(read < data.len(), "reading stops after the build info ({read} of {})", data.len());
        assert!(packages.iter().all(|p| p.kind == PackageKind::Go));
        let net = packages.iter().find(|p| p.name == "golang.org/x/net").unwrap();
        assert_eq!(net.dependency_paths, ["example.com/strata/goapp › golang.org/x/net@v0.7.0"]);
        // The stripped binary's function table, split by module: x/net's functions on x/net, and so on.
        for p in &packages {
            let symbols = p.go_symbols.as_ref().unwrap_or_else(|| panic!("step {step}: no symbols on {}", p.name));
            assert_eq!((symbols.goos.as_deref(), symbols.goarch.as_deref()), (Some("linux"), Some("amd64")));
            let prefix = if p.name == "stdlib" { "runtime." } else { p.name.as_str() };
            assert!(symbols.names().any(|n| n.starts_with(prefix)), "step {step}: {}", p.name);
            if p.name != "stdlib" {
                assert!(symbols.names().all(|n| n.starts_with(&format!("{}/", p.name))), "{}", p.name);
            }
        }
        let net_names: Vec<&str> = net.go_symbols.as_ref().unwrap().names().collect();
        assert!(net_names.contains(&"golang.org/x/net/html.Parse"), "{net_names:?}");
    }
}

/// Debian's own Go programs (built in GOPATH mode: no modules, only the toolchain and the main path).
#[test]
fn debian_go_binaries() {
    let mut seen = 0;
    for bin in ["/usr/bin/skopeo", "/usr/bin/docker-registry", "/usr/bin/umoci"] {
        let Ok(data) = std::fs::read(bin) else { continue };
        let Ok(out) = std::process::Command::new("go").args(["version", "-m", bin]).output() else { continue };
        seen += 1;
        assert_eq!(names(&packages(&data)), go_oracle(&String::from_utf8_lossy(&out.stdout)), "{bin}");
    }
    assert!(seen > 0 || std::env::var_os("CI").is_none(), "no Debian Go binary with `go` to check against");
}

/// (name, version) of every non-local crate in the auditable JSON.
fn auditable_oracle(json: &str) -> BTreeSet<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"] != "local")
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["version"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn auditable_binary_matches_its_section() {
    let dir = fixtures();
    let data = std::fs::read(dir.join("rustapp")).unwrap();
    let oracle = auditable_oracle(&std::fs::read_to_string(dir.join("rustapp.json")).unwrap());
    assert!(oracle.contains(&("smallvec".into(), "1.6.0".into())));
    for step in [usize::MAX, 65_537, 5] {
        let (got, _) = scan(&data, step);
        let Ok(Some(FileContent::Packages { packages, .. })) = got else { panic!("step {step}: {got:?}") };
        assert_eq!(names(&packages), oracle, "step {step}");
        let libc = packages.iter().find(|p| p.name == "libc").unwrap();
        assert_eq!(libc.dependency_paths, [format!("rustapp@0.1.0 › time@0.1.43 › libc@{}", libc.version)]);
        assert!(packages.iter().all(|p| p.kind == PackageKind::Cargo));
    }
}

/// Without its section table (zeroed `e_shoff`), the one auditable stream in the file is trusted alone.
#[test]
fn auditable_without_section_table() {
    let mut data = std::fs::read(fixtures().join("rustapp")).unwrap();
    data[0x28..0x30].fill(0);
    assert_eq!(packages(&data).len(), 3);
}

#[test]
fn not_go_nor_auditable() {
    let script = b"#!/bin/sh\nexec /usr/bin/true \"$@\"\n".repeat(1000);
    let tar_c = std::fs::read("/bin/tar").expect("Debian's tar, a C program");
    let mut truncated_rust = std::fs::read(fixtures().join("rustapp")).unwrap();
    truncated_rust.truncate(100_000);
    type Check = fn(&Result<Option<FileContent>, String>) -> bool;
    let cases: [(&str, &[u8], Check); 5] = [
        ("script", &script, |r| matches!(r, Ok(None))),
        ("C program", &tar_c, |r| matches!(r, Ok(None))),
        ("empty", b"", |r| matches!(r, Ok(None))),
        ("just the magic", b"\x7fELF", |r| matches!(r, Err(e) if e.contains("ELF header"))),
        ("truncated", &truncated_rust, |r| matches!(r, Err(e) if e.contains("truncated ELF"))),
    ];
    for (what, data, ok) in cases {
        let (got, read) = scan(data, usize::MAX);
        assert!(ok(&got), "{what}: {got:?}");
        if what == "script" {
            assert_eq!(read, 4, "a non-ELF file is dropped after its magic");
        }
    }
}

#[test]
fn candidates() {
    for (mode, size, want) in
        [(0o755, 1 << 20, true), (0o700, 1 << 20, true), (0o644, 1 << 20, false), (0o755, 100, false)]
    {
        assert_eq!(is_candidate("usr/bin/x", mode, size), want, "{mode:o} {size}");
    }
}

/// The section table captured at the end names `.dep-v0` where `readelf` says it is.
#[test]
fn section_table_finds_dep_v0() {
    let path = fixtures().join("rustapp");
    let data = std::fs::read(&path).unwrap();
    let layout = elf::Layout::parse(&data[..elf::HEAD], data.len() as u64).unwrap();
    let capture = layout.section_capture().expect("a section table");
    let captured = &data[capture.start as usize..capture.end as usize];
    let found = layout.find_section(captured, auditable::SECTION).unwrap().expect(".dep-v0");
    let readelf = std::process::Command::new("readelf").arg("-SW").arg(&path).output().expect("binutils' readelf");
    let line = String::from_utf8_lossy(&readelf.stdout).lines().find(|l| l.contains(".dep-v0")).unwrap().to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let at = fields.iter().position(|f| *f == ".dep-v0").unwrap();
    let (offset, size) =
        (u64::from_str_radix(fields[at + 3], 16).unwrap(), u64::from_str_radix(fields[at + 4], 16).unwrap());
    assert_eq!(found, offset..offset + size);
    assert_eq!(layout.find_section(captured, b".no-such").unwrap(), None);
}
