//! Tar entry paths: normalised to `etc/os-release` form, unsafe ones refused, whiteouts recognised as the
//! OCI image layer spec defines them.

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
    /// `dir/.wh.` with nothing after the prefix: names no file, so it is not a whiteout (never "delete
    /// everything in `dir`").
    EmptyWhiteout(String),
    /// `dir/.wh..wh.*` other than the opaque marker: AUFS metadata (`.wh..wh.plnk`, `.wh..wh.aufs`), which
    /// runtimes neither extract nor apply.
    AufsMeta,
}

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const META_PREFIX: &str = ".wh..wh.";

/// A classified path, and whether its bytes were not valid UTF-8 (then each invalid sequence is shown
/// as U+FFFD: the file is still analysed, under that name).
#[derive(Debug, PartialEq, Eq)]
pub struct Classified {
    pub path: EntryPath,
    pub not_utf8: bool,
}

/// Normalises a tar entry path. `Err` carries the reason for paths that could escape the root (`..`) or
/// are absolute, which no image builder writes and which are an attack on tools that unpack.
pub fn classify(raw: &[u8]) -> Result<Classified, &'static str> {
    let text = String::from_utf8_lossy(raw);
    let not_utf8 = matches!(text, std::borrow::Cow::Owned(_));
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("path contains `..`"),
            _ => parts.push(part),
        }
    }
    if text.starts_with('/') && !parts.is_empty() {
        return Err("path is absolute");
    }
    let Some(last) = parts.pop() else { return Ok(Classified { path: EntryPath::Root, not_utf8 }) };
    let dir = parts.join("/");
    let join = |name: &str| if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") };
    let path = if last == OPAQUE_MARKER {
        EntryPath::Opaque(dir)
    } else if last.starts_with(META_PREFIX) {
        EntryPath::AufsMeta
    } else if last == WHITEOUT_PREFIX {
        EntryPath::EmptyWhiteout(dir)
    } else if let Some(name) = last.strip_prefix(WHITEOUT_PREFIX) {
        EntryPath::Whiteout(join(name))
    } else {
        EntryPath::Normal(join(last))
    };
    Ok(Classified { path, not_utf8 })
}

/// Whether `path` is `dir` or lies below it (`dir` empty means the root, which holds everything).
pub fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// `path` and each directory above it, deepest first, then the root (`""`): the keys a whiteout or opaque
/// directory that covers `path` is stored under.
pub fn self_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let cuts = path.match_indices('/').map(|(i, _)| &path[..i]).collect::<Vec<_>>();
    std::iter::once(path).chain(cuts.into_iter().rev()).chain(std::iter::once(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let ok = |p: &[u8]| classify(p).unwrap().path;
        assert_eq!(ok(b"./"), EntryPath::Root);
        assert_eq!(ok(b"/"), EntryPath::Root);
        assert_eq!(ok(b"./etc/os-release"), EntryPath::Normal("etc/os-release".into()));
        assert_eq!(ok(b"etc//./os-release"), EntryPath::Normal("etc/os-release".into()));
        assert_eq!(ok(b"var/lib/dpkg/"), EntryPath::Normal("var/lib/dpkg".into()));
        assert_eq!(ok(b"./usr/share/doc/.wh.curl"), EntryPath::Whiteout("usr/share/doc/curl".into()));
        assert_eq!(ok(b".wh.opt"), EntryPath::Whiteout("opt".into()));
        assert_eq!(ok(b"app/node_modules/.wh..wh..opq"), EntryPath::Opaque("app/node_modules".into()));
        assert_eq!(ok(b"app/.wh."), EntryPath::EmptyWhiteout("app".into()));
        assert_eq!(ok(b".wh."), EntryPath::EmptyWhiteout(String::new()));
        assert_eq!(ok(b".wh..wh.plnk/123.456"), EntryPath::Normal(".wh..wh.plnk/123.456".into()));
        assert_eq!(ok(b".wh..wh.plnk"), EntryPath::AufsMeta);
        assert_eq!(classify(b"../etc/passwd"), Err("path contains `..`"));
        assert_eq!(classify(b"etc/../../x"), Err("path contains `..`"));
        assert_eq!(classify(b"/etc/passwd"), Err("path is absolute"));
        let odd = classify(b"usr/bin/caf\xe9").unwrap();
        assert_eq!(odd, Classified { path: EntryPath::Normal("usr/bin/caf\u{fffd}".into()), not_utf8: true });
    }

    #[test]
    fn within() {
        assert!(is_within("var/lib/dpkg/status", "var/lib/dpkg"));
        assert!(is_within("var/lib/dpkg", "var/lib/dpkg"));
        assert!(!is_within("var/lib/dpkg2/status", "var/lib/dpkg"));
        assert!(is_within("anything", ""));
        assert_eq!(self_and_ancestors("a/b/c").collect::<Vec<_>>(), ["a/b/c", "a/b", "a", ""]);
    }
}
