//! Debian test content: the debootstrapped bullseye root filesystem's dpkg data, rewrites of it as real
//! package operations would leave it, the committed subset of real Debian advisories, and an independent
//! oracle (Debian's own `dpkg --compare-versions`) for which advisories apply.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::fixtures;

/// The committed OSV subset: every real Debian advisory (from ../shared/vulndb) that names a source
/// package of the bullseye minbase image.
pub fn minbase_osv() -> PathBuf {
    fixtures::repo_root().join("testkit/fixtures/osv/debian-bullseye-minbase.jsonl.gz")
}

/// What the tests need from the real root filesystem: its status file and which paths are files.
pub struct Rootfs {
    pub tar: PathBuf,
    pub status: String,
    pub lists: std::collections::BTreeMap<String, String>,
    pub files: BTreeSet<String>,
}

impl Rootfs {
    pub fn bullseye() -> Rootfs {
        let tar = fixtures::bullseye_rootfs();
        let mut archive = tar::Archive::new(std::fs::File::open(&tar).expect("open rootfs"));
        let (mut status, mut lists, mut files) = (String::new(), std::collections::BTreeMap::new(), BTreeSet::new());
        for entry in archive.entries().expect("tar") {
            let mut entry = entry.expect("entry");
            let path = entry.path().expect("path").to_string_lossy().trim_start_matches("./").to_string();
            if entry.header().entry_type().is_file() {
                files.insert(path.clone());
            }
            if path == "var/lib/dpkg/status" {
                entry.read_to_string(&mut status).expect("status");
            } else if let Some(pkg) = path.strip_prefix("var/lib/dpkg/info/").and_then(|p| p.strip_suffix(".list")) {
                let mut list = String::new();
                entry.read_to_string(&mut list).expect("list");
                lists.insert(pkg.split(':').next().unwrap_or(pkg).to_string(), list);
            }
        }
        assert!(status.contains("Package: libc6"), "the fixture has no dpkg status");
        Rootfs { tar, status, lists, files }
    }

    /// A regular file of the root filesystem, by path (`usr/lib/os-release`): real content for small
    /// images that need only a few of its files.
    pub fn file(&self, path: &str) -> Vec<u8> {
        let mut archive = tar::Archive::new(std::fs::File::open(&self.tar).expect("open rootfs"));
        for entry in archive.entries().expect("tar") {
            let mut entry = entry.expect("entry");
            let name = entry.path().expect("path").to_string_lossy().trim_start_matches("./").to_string();
            if name == path && entry.header().entry_type().is_file() {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).expect("read");
                return bytes;
            }
        }
        panic!("the rootfs has no regular file {path}")
    }

    /// What `dpkg --purge PKG` leaves: the status file without the package's stanza, and a whiteout for
    /// every file the package owned.
    pub fn purge(&self, package: &str) -> (String, Vec<String>) {
        let status: Vec<&str> =
            stanzas(&self.status).filter(|s| field(s, "Package").as_deref() != Some(package)).collect();
        let list = self.lists.get(package).unwrap_or_else(|| panic!("no file list for {package}"));
        let mut gone: Vec<String> =
            list.lines().map(|l| l.trim_start_matches('/').to_string()).filter(|p| self.files.contains(p)).collect();
        gone.extend(self.files.iter().filter(|f| f.starts_with(&format!("var/lib/dpkg/info/{package}."))).cloned());
        (status.join("\n\n") + "\n", gone)
    }
}

pub fn stanzas(status: &str) -> impl Iterator<Item = &str> {
    status.split("\n\n").map(str::trim).filter(|s| !s.is_empty())
}

pub fn field(stanza: &str, name: &str) -> Option<String> {
    stanza.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
}

/// Rewrites the versions of every binary built from `source` to `version`, as a downgrade to a version
/// that an earlier advisory shipped would leave the status file.
pub fn with_source_version(status: &str, source: &str, version: &str) -> String {
    let rewritten: Vec<String> = stanzas(status)
        .map(|s| {
            let package = field(s, "Package").unwrap_or_default();
            let src =
                field(s, "Source").map(|v| v.split(' ').next().unwrap_or_default().to_string()).unwrap_or(package);
            if src != source {
                return s.to_string();
            }
            s.lines()
                .filter(|l| !l.starts_with("Source: "))
                .map(|l| {
                    if l.starts_with("Version: ") {
                        format!("Version: {version}\nSource: {source}")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    rewritten.join("\n\n") + "\n"
}

/// The oracle: for each installed binary package, the Debian advisories for `ecosystem` whose range
/// covers its source version, decided by the real `dpkg --compare-versions`. Returns (advisory, package).
pub fn dpkg_oracle(status: &str, osv_gz: &[PathBuf], ecosystem: &str) -> BTreeSet<(String, String)> {
    let mut installed: Vec<(String, String, String)> = Vec::new(); // (binary, source, source version)
    for s in stanzas(status) {
        if !field(s, "Status").is_some_and(|st| st.ends_with(" installed")) {
            continue;
        }
        let package = field(s, "Package").expect("Package");
        let version = field(s, "Version").expect("Version");
        let (source, source_version) = match field(s, "Source") {
            Some(src) => match src.split_once(' ') {
                Some((name, v)) => (name.to_string(), v.trim_matches(|c| c == '(' || c == ')').to_string()),
                None => (src, version.clone()),
            },
            None => (package.clone(), version.clone()),
        };
        installed.push((package, source, source_version));
    }
    let mut hits = BTreeSet::new();
    for file in osv_gz {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(file).expect("open osv"))
            .read_to_string(&mut text)
            .expect("gz");
        for line in text.lines() {
            let record: Value = serde_json::from_str(line).expect("osv json");
            if record.get("withdrawn").is_some() {
                continue;
            }
            let id = record["id"].as_str().expect("id");
            for affected in record["affected"].as_array().into_iter().flatten() {
                if affected["package"]["ecosystem"] != ecosystem {
                    continue;
                }
                let name = affected["package"]["name"].as_str().unwrap_or_default();
                for (binary, source, version) in installed.iter().filter(|(_, s, _)| s == name) {
                    let _ = source;
                    if affected["ranges"].as_array().into_iter().flatten().any(|r| in_range(version, r)) {
                        hits.insert((id.to_string(), binary.clone()));
                    }
                }
            }
        }
    }
    hits
}

/// Debian records use only `introduced: "0"` and at most one `fixed` per range.
fn in_range(version: &str, range: &Value) -> bool {
    let events = range["events"].as_array().expect("events");
    let introduced =
        events.iter().filter_map(|e| e["introduced"].as_str()).all(|i| i == "0" || dpkg_cmp(version, "ge", i));
    let fixed = events.iter().filter_map(|e| e["fixed"].as_str()).all(|f| dpkg_cmp(version, "lt", f));
    introduced && fixed
}

fn dpkg_cmp(a: &str, op: &str, b: &str) -> bool {
    Command::new("dpkg").args(["--compare-versions", a, op, b]).status().expect("dpkg").success()
}

/// Reads a gzip stream (OSV `.jsonl.gz` files).
pub fn gunzip(reader: impl std::io::Read) -> impl std::io::Read {
    flate2::read::GzDecoder::new(reader)
}

/// Writes a gzip stream, finished when dropped.
pub fn gzip_writer(writer: impl std::io::Write) -> impl std::io::Write {
    flate2::write::GzEncoder::new(writer, flate2::Compression::default())
}
