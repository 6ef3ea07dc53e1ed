//! The real content the population is built from, read once from the fixtures (`scripts/fixtures.sh`):
//! two Debian bases (the debootstrapped bullseye root filesystem, and the same with three source packages
//! at older point-release versions, as an image built a few months earlier has them), a Node.js runtime
//! layer (the machine's real global `node_modules`: npm and corepack), a Python runtime layer, the real
//! npm packages and Python distributions apps pick their dependencies from, and chunks of real
//! JavaScript that make up bundles and app code.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use strata_testkit::fixtures;

use strata_testkit::tarball::TarBuilder;

use crate::blob::{Blob, LayerWriter, Piece, gzip, sha256};

/// Source versions of the older base (real Debian bullseye security updates).
const OLDER_BASE: [(&str, &str); 3] =
    [("openssl", "1.1.1k-1+deb11u1"), ("zlib", "1:1.2.11.dfsg-2+deb11u1"), ("gnutls28", "3.7.1-5+deb11u2")];
const CHUNK: usize = 64 * 1024;

/// A package an app can depend on: its real files as one compressed piece.
pub struct Package {
    pub name: String,
    pub version: String,
    pub piece: Piece,
}

pub struct Materials {
    /// `[bullseye, bullseye with older openssl, zlib and gnutls]`.
    pub bases: [Blob; 2],
    /// `[node, python]`.
    pub runtimes: [Blob; 2],
    pub npm: Vec<Package>,
    pub python: Vec<Package>,
    pub chunks: Vec<Piece>,
}

impl Materials {
    pub fn load() -> Result<Materials> {
        let rootfs = fixtures::bullseye_rootfs();
        let tar = std::fs::read(&rootfs).with_context(|| format!("reading {}", rootfs.display()))?;
        let older = older_base(&tar)?;
        let bases = [whole_blob(tar)?, whole_blob(older)?];
        let npm_app = fixtures::dir().join("npm-app");
        let node_gz = std::fs::read(npm_app.join("global-node_modules.tar.gz")).context("the npm fixture")?;
        let mut node_tar = Vec::new();
        flate2::read::MultiGzDecoder::new(&node_gz[..]).read_to_end(&mut node_tar)?;
        let node = Blob {
            digest: sha256(&node_gz),
            diff_id: sha256(&node_tar),
            raw_len: node_tar.len() as u64,
            gz: node_gz.into(),
        };
        let site = fixtures::dir().join("python-site");
        let python = python_packages(&site, "usr/local/lib/python3.9/site-packages")?;
        let mut runtime = LayerWriter::default();
        for package in python_packages(&site, "usr/lib/python3/dist-packages")? {
            runtime.piece(&package.piece)?;
        }
        Ok(Materials {
            bases,
            runtimes: [node, runtime.finish()?],
            npm: npm_packages(&npm_app.join("app/node_modules"))?,
            python,
            chunks: js_chunks(&npm_app.join("app/node_modules"))?,
        })
    }
}

fn whole_blob(tar: Vec<u8>) -> Result<Blob> {
    let gz = gzip(&tar)?;
    Ok(Blob { digest: sha256(&gz), diff_id: sha256(&tar), raw_len: tar.len() as u64, gz: gz.into() })
}

/// The base with its dpkg status rewritten to the older versions, entry for entry otherwise.
fn older_base(tar: &[u8]) -> Result<Vec<u8>> {
    let mut archive = tar::Archive::new(tar);
    let mut out = tar::Builder::new(Vec::with_capacity(tar.len()));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let mut header = entry.header().clone();
        let path = entry.path()?.into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        if path.to_string_lossy().trim_start_matches("./") == "var/lib/dpkg/status" {
            let status = String::from_utf8(data).context("dpkg status")?;
            let aged = OLDER_BASE
                .iter()
                .fold(status, |s, (source, version)| strata_testkit::debian::with_source_version(&s, source, version));
            data = aged.into_bytes();
            header.set_size(data.len() as u64);
            header.set_cksum();
        }
        let link = entry.link_name()?.map(|l| l.into_owned());
        match link {
            Some(target) => out.append_link(&mut header, &path, target)?,
            None => out.append_data(&mut header, &path, &data[..])?,
        }
    }
    Ok(out.into_inner()?)
}

/// Every file below `dir`, as (path relative to `dir`, bytes), in a stable order.
fn files_below(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(dir.join(&rel))
            .with_context(|| format!("reading {}", dir.join(&rel).display()))?
            .collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = rel.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                out.push((path.to_string_lossy().into_owned(), std::fs::read(entry.path())?));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn piece_of(files: &[(String, Vec<u8>)], prefix: &str) -> Result<Piece> {
    let fragment =
        files.iter().fold(TarBuilder::new(), |tar, (path, data)| tar.file(&format!("{prefix}/{path}"), data));
    Piece::new(fragment.fragment())
}

/// Each installed package (`node_modules/NAME`, `node_modules/@SCOPE/NAME`) with its real package.json.
fn npm_packages(node_modules: &Path) -> Result<Vec<Package>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(node_modules)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        if name.starts_with('@') {
            for scoped in std::fs::read_dir(entry.path())? {
                dirs.push(format!("{name}/{}", scoped?.file_name().to_string_lossy()));
            }
        } else {
            dirs.push(name);
        }
    }
    dirs.sort();
    let mut packages = Vec::new();
    for name in dirs {
        let dir = node_modules.join(&name);
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("package.json"))?)
            .with_context(|| format!("{}/package.json", dir.display()))?;
        let version = manifest["version"].as_str().unwrap_or_default().to_string();
        let piece = piece_of(&files_below(&dir)?, &format!("app/node_modules/{name}"))?;
        packages.push(Package { name, version, piece });
    }
    if packages.is_empty() {
        bail!("no npm packages in {}", node_modules.display());
    }
    Ok(packages)
}

/// Each distribution (`NAME-VERSION.dist-info` with the modules its `top_level.txt` names), installed
/// under `prefix`.
fn python_packages(site: &Path, prefix: &str) -> Result<Vec<Package>> {
    let mut infos: Vec<String> = std::fs::read_dir(site)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".dist-info"))
        .collect();
    infos.sort();
    let mut packages = Vec::new();
    for info in infos {
        let stem = info.trim_end_matches(".dist-info");
        let (name, version) = stem.split_once('-').with_context(|| format!("dist-info name {info}"))?;
        let mut files: Vec<(String, Vec<u8>)> =
            files_below(&site.join(&info))?.into_iter().map(|(p, d)| (format!("{info}/{p}"), d)).collect();
        let top = std::fs::read_to_string(site.join(&info).join("top_level.txt")).unwrap_or_default();
        for module in top.lines().map(str::trim).filter(|m| !m.is_empty()) {
            if site.join(module).is_dir() {
                files.extend(files_below(&site.join(module))?.into_iter().map(|(p, d)| (format!("{module}/{p}"), d)));
            }
        }
        packages.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            piece: piece_of(&files, prefix)?,
        });
    }
    if packages.is_empty() {
        bail!("no Python distributions in {}", site.display());
    }
    Ok(packages)
}

/// The fixture's JavaScript, cut into 64 KiB chunks (whole chunks keep tar padding simple).
fn js_chunks(node_modules: &Path) -> Result<Vec<Piece>> {
    let text: Vec<u8> =
        files_below(node_modules)?.into_iter().filter(|(p, _)| p.ends_with(".js")).flat_map(|(_, d)| d).collect();
    let chunks: Vec<Piece> = text.chunks_exact(CHUNK).map(|c| Piece::new(c.to_vec())).collect::<Result<_>>()?;
    if chunks.len() < 8 {
        bail!("too little JavaScript in {} to make bundles", node_modules.display());
    }
    Ok(chunks)
}
