//! Facts about a layer's files that misconfiguration rules need and the merged inventory does not keep:
//! setuid/setgid and world-writable files, and package-manager caches. Collected from tar headers during
//! the layer walk (no file is read), so they cost nothing next to decompression.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Paths kept per kind; beyond that only the count grows, so an inventory stays small whatever the layer.
const KEEP: usize = 20;

/// Directories whose files are package-manager caches, with the manager's name for messages.
const CACHES: [(&str, &str); 4] = [
    ("var/lib/apt/lists/", "apt package lists"),
    ("var/cache/apt/archives/", "apt downloaded .deb files"),
    ("var/cache/apk/", "apk index cache"),
    ("root/.cache/pip/", "pip cache"),
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerFacts {
    /// Regular files with the setuid or setgid bit (`usr/bin/passwd`).
    #[serde(default, skip_serializing_if = "PathSample::is_empty")]
    pub setuid: PathSample,
    /// Regular files and directories anyone may write, directories with the sticky bit (`/tmp`) excepted.
    #[serde(default, skip_serializing_if = "PathSample::is_empty")]
    pub world_writable: PathSample,
    /// Cache directory → files and bytes left in it by this layer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub caches: BTreeMap<String, CacheUse>,
}

/// A count with the first few paths, for messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathSample {
    pub count: u64,
    pub paths: Vec<String>,
}

impl PathSample {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn add(&mut self, path: &str) {
        self.count += 1;
        if self.paths.len() < KEEP {
            self.paths.push(format!("/{path}"));
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheUse {
    pub files: u64,
    pub bytes: u64,
}

impl LayerFacts {
    /// Records one tar entry (`path` normalised, without a leading `/`).
    pub fn observe(&mut self, path: &str, header: &tar::Header) {
        let kind = header.entry_type();
        let (is_file, is_dir) = (kind.is_file(), kind.is_dir());
        if !is_file && !is_dir {
            return;
        }
        let mode = header.mode().unwrap_or(0);
        if is_file && mode & 0o6000 != 0 {
            self.setuid.add(path);
        }
        if mode & 0o002 != 0 && !(is_dir && mode & 0o1000 != 0) {
            self.world_writable.add(path);
        }
        if is_file
            && let Some((dir, _)) = CACHES.iter().find(|(dir, _)| path.starts_with(dir))
            && !path.ends_with("/lock")
            && !path.contains("/partial/")
        {
            let entry = self.caches.entry((*dir).trim_end_matches('/').to_string()).or_default();
            entry.files += 1;
            entry.bytes += header.size().unwrap_or(0);
        }
    }

    pub fn cache_label(dir: &str) -> &'static str {
        CACHES.iter().find(|(d, _)| d.trim_end_matches('/') == dir).map_or("package cache", |(_, label)| label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h
    }

    #[test]
    fn observes_modes_and_caches() {
        let mut facts = LayerFacts::default();
        for (path, kind, mode, size) in [
            ("usr/bin/passwd", tar::EntryType::Regular, 0o4755, 10),
            ("usr/bin/wall", tar::EntryType::Regular, 0o2755, 10),
            ("tmp", tar::EntryType::Directory, 0o1777, 0),
            ("app/data", tar::EntryType::Directory, 0o777, 0),
            ("app/log.txt", tar::EntryType::Regular, 0o666, 1),
            ("usr/bin/vi", tar::EntryType::Symlink, 0o777, 0),
            ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", tar::EntryType::Regular, 0o644, 150),
            ("var/lib/apt/lists/lock", tar::EntryType::Regular, 0o640, 0),
            ("var/lib/apt/lists/partial", tar::EntryType::Directory, 0o700, 0),
            ("var/cache/apk/APKINDEX.1.tar.gz", tar::EntryType::Regular, 0o644, 900),
        ] {
            facts.observe(path, &header(kind, mode, size));
        }
        assert_eq!(facts.setuid.paths, ["/usr/bin/passwd", "/usr/bin/wall"]);
        assert_eq!(facts.world_writable.paths, ["/app/data", "/app/log.txt"]);
        assert_eq!(facts.caches["var/lib/apt/lists"], CacheUse { files: 1, bytes: 150 });
        assert_eq!(facts.caches["var/cache/apk"], CacheUse { files: 1, bytes: 900 });
    }
}
