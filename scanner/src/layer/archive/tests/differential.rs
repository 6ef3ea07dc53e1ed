//! Our reader against GNU tar, on archives GNU tar (gnu and posix formats, every sparse version) and
//! Python's `tarfile` (gnu and pax) write from one directory of awkward files: long names and link
//! targets, hard links, symlinks, sparse files, a name that is not UTF-8, an empty file. GNU tar extracts
//! each archive; every extracted file must be what our reader says the entry is — name, type, size, link
//! target, and content (sparse files expanded).

use std::collections::BTreeMap;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use super::{Seen, read_all};

fn make_tree(root: &Path) {
    let long_dir = root.join("l".repeat(60)).join("o".repeat(60)).join("n".repeat(60));
    fs::create_dir_all(&long_dir).unwrap();
    fs::write(long_dir.join("g".repeat(90)), b"a file past every name field\n").unwrap();
    fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    fs::write(root.join("var/lib/dpkg/status.d-real"), b"Package: x\nVersion: 1\n\n").unwrap();
    fs::hard_link(root.join("var/lib/dpkg/status.d-real"), root.join("var/lib/dpkg/status")).unwrap();
    std::os::unix::fs::symlink("../".repeat(40) + "target", root.join("far-link")).unwrap();
    std::os::unix::fs::symlink("var/lib", root.join("near-link")).unwrap();
    fs::write(root.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt")), b"latin-1 name").unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    let mut sparse = fs::File::create(root.join("sparse")).unwrap();
    sparse.seek(SeekFrom::Start(1 << 20)).unwrap();
    sparse.write_all(b"in the middle").unwrap();
    sparse.seek(SeekFrom::Start(3 << 20)).unwrap();
    sparse.write_all(b"at the end").unwrap();
    fs::File::create(root.join("all-hole")).unwrap().set_len(2 << 20).unwrap();
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn normal(path: &[u8]) -> Vec<u8> {
    let mut p = path;
    while let Some(rest) = p.strip_prefix(b"./") {
        p = rest;
    }
    p.strip_suffix(b"/").unwrap_or(p).to_vec()
}

const PYTHON: &str = r#"
import sys, tarfile, os
fmt = {"gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}[sys.argv[3]]
os.chdir(sys.argv[1])
with tarfile.open(sys.argv[2], "w", format=fmt) as t:
    t.add(".")
"#;

/// GNU tar's extraction of `archive` compared with our reading of it.
fn compare(archive: &Path, work: &Path) {
    let name = archive.file_name().unwrap().to_string_lossy().into_owned();
    let out = work.join(format!("x-{name}"));
    fs::create_dir(&out).unwrap();
    run(Command::new("tar").arg("-xf").arg(archive).arg("-C").arg(&out));
    let ours: BTreeMap<Vec<u8>, Seen> = read_all(&fs::read(archive).unwrap())
        .into_iter()
        .map(|s| (normal(&s.path), s))
        .filter(|(p, _)| !p.is_empty() && p != b".")
        .collect();
    let mut checked = 0;
    for found in walkdir::WalkDir::new(&out).min_depth(1) {
        let found = found.unwrap();
        let rel = found.path().strip_prefix(&out).unwrap().as_os_str().as_bytes().to_vec();
        let seen = ours.get(&rel).unwrap_or_else(|| panic!("{name}: {:?} not read", String::from_utf8_lossy(&rel)));
        let what = format!("{name}: {}", String::from_utf8_lossy(&rel));
        let kind = found.file_type();
        if kind.is_dir() {
            assert_eq!(seen.kind, tar::EntryType::Directory, "{what}");
        } else if kind.is_symlink() {
            assert_eq!(seen.kind, tar::EntryType::Symlink, "{what}");
            let target = fs::read_link(found.path()).unwrap();
            assert_eq!(seen.link.as_deref(), Some(target.as_os_str().as_bytes()), "{what}");
        } else {
            let content = fs::read(found.path()).unwrap();
            let file = match seen.kind {
                tar::EntryType::Link => &ours[&normal(seen.link.as_deref().unwrap())],
                _ => seen,
            };
            assert_eq!(file.kind, tar::EntryType::Regular, "{what}");
            assert_eq!(file.size, content.len() as u64, "{what}");
            assert!(file.content == content, "{what}: content differs");
        }
        checked += 1;
    }
    assert_eq!(checked, ours.len(), "{name}: we read entries GNU tar did not extract");
    assert!(checked >= 12, "{name}: only {checked} entries");
}

#[test]
fn reads_what_gnu_tar_extracts() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src);
    let mut archives = Vec::new();
    let mut gnu_tar = |file: &str, args: &[&str]| {
        let archive = work.path().join(file);
        run(Command::new("tar").args(args).arg("-cf").arg(&archive).arg("-C").arg(&src).arg("."));
        archives.push(archive);
    };
    gnu_tar("gnu.tar", &["--format=gnu", "--sparse"]);
    for version in ["0.0", "0.1", "1.0"] {
        gnu_tar(&format!("pax-{version}.tar"), &["--format=posix", "--sparse", &format!("--sparse-version={version}")]);
    }
    gnu_tar("gnu-dense.tar", &["--format=gnu"]);
    for format in ["gnu", "pax"] {
        let archive = work.path().join(format!("python-{format}.tar"));
        run(Command::new("python3").args(["-c", PYTHON]).arg(&src).arg(&archive).arg(format));
        archives.push(archive);
    }
    let sparse_types: Vec<_> = archives.iter().map(|a| fs::read(a).unwrap()).collect();
    // The corpus does exercise the sparse formats: GNU `S` entries and PAX sparse records.
    assert!(sparse_types[0].chunks(512).any(|b| b[156] == b'S'));
    assert!(sparse_types[3].windows(16).any(|w| w == b"GNU.sparse.major"));
    for archive in &archives {
        compare(archive, work.path());
    }
}
