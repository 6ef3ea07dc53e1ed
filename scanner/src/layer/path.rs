//! Tar entry paths: normalised to `etc/os-release` form, unsafe ones refused, whiteouts recognised.

use std::path::{Component, Path};

/// What a tar entry path means for the merged filesystem.
#[derive(Debug, PartialEq, Eq)]
pub enum EntryPath {
    /// The root directory itself (`./`, `/`): carries nothing.
    Root,
    /// A normal path, normalised (no leading `./` or `/`, no `.` components).
    Normal(String),
    /// `dir/.wh.name`: `dir/name` and everything below it are deleted.
    Whiteout(String),
    /// `dir/.wh..wh..opq`: everything below `dir` from lower layers is hidden.
    Opaque(String),
}

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Normalises a tar entry path. `Err` carries the reason for paths that could escape the root (`..`) or
/// are absolute, which no image builder writes and which are an attack on tools that unpack.
pub fn classify(raw: &Path) -> Result<EntryPath, &'static str> {
    let mut parts: Vec<&str> = Vec::new();
    for (i, component) in raw.components().enumerate() {
        match component {
            Component::CurDir => {}
            Component::Normal(p) => parts.push(p.to_str().ok_or("path is not valid UTF-8")?),
            Component::ParentDir => return Err("path contains `..`"),
            Component::RootDir if i == 0 && raw.as_os_str().len() == 1 => {}
            Component::RootDir | Component::Prefix(_) => return Err("path is absolute"),
        }
    }
    let Some(last) = parts.pop() else { return Ok(EntryPath::Root) };
    let dir = parts.join("/");
    let join = |name: &str| if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") };
    Ok(if last == OPAQUE_MARKER {
        EntryPath::Opaque(dir)
    } else if let Some(name) = last.strip_prefix(WHITEOUT_PREFIX) {
        EntryPath::Whiteout(join(name))
    } else {
        EntryPath::Normal(join(last))
    })
}

/// Whether `path` is `dir` or lies below it (`dir` empty means the root, which holds everything).
pub fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let ok = |p: &str| classify(Path::new(p)).unwrap();
        assert_eq!(ok("./"), EntryPath::Root);
        assert_eq!(ok("/"), EntryPath::Root);
        assert_eq!(ok("./etc/os-release"), EntryPath::Normal("etc/os-release".into()));
        assert_eq!(ok("etc//./os-release"), EntryPath::Normal("etc/os-release".into()));
        assert_eq!(ok("var/lib/dpkg/"), EntryPath::Normal("var/lib/dpkg".into()));
        assert_eq!(ok("./usr/share/doc/.wh.curl"), EntryPath::Whiteout("usr/share/doc/curl".into()));
        assert_eq!(ok(".wh.opt"), EntryPath::Whiteout("opt".into()));
        assert_eq!(ok("app/node_modules/.wh..wh..opq"), EntryPath::Opaque("app/node_modules".into()));
        assert_eq!(classify(Path::new("../etc/passwd")), Err("path contains `..`"));
        assert_eq!(classify(Path::new("etc/../../x")), Err("path contains `..`"));
        assert_eq!(classify(Path::new("/etc/passwd")), Err("path is absolute"));
    }

    #[test]
    fn within() {
        assert!(is_within("var/lib/dpkg/status", "var/lib/dpkg"));
        assert!(is_within("var/lib/dpkg", "var/lib/dpkg"));
        assert!(!is_within("var/lib/dpkg2/status", "var/lib/dpkg"));
        assert!(is_within("anything", ""));
    }
}
