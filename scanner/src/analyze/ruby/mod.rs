//! Ruby gems: installed gem specifications (`<gem dir>/specifications/NAME-VERSION.gemspec`, also the
//! `specifications/default/` of gems that ship with Ruby), grouped into their `specifications` directory
//! as the report target; and `Gemfile.lock`, its own target, with dependency paths.

mod gemspec;
mod lockfile;

use crate::analyze::FileContent;

/// The Ruby files this analyser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Gemspec,
    GemfileLock,
}

pub fn classify(path: &str) -> Option<Kind> {
    let mut parts = path.rsplit('/');
    let name = parts.next()?;
    let parent = parts.next();
    let grandparent = parts.next();
    if name.ends_with(".gemspec") {
        let in_specs =
            parent == Some("specifications") || (parent == Some("default") && grandparent == Some("specifications"));
        return in_specs.then_some(Kind::Gemspec);
    }
    if name == "Gemfile.lock" || name == "gems.locked" {
        // `<gem dir>/gems/NAME-VERSION/Gemfile.lock` is the lock a gem's authors committed, not this image's.
        let in_installed_gem = grandparent == Some("gems");
        let in_node_modules = path.split('/').any(|c| c == "node_modules");
        return (!in_installed_gem && !in_node_modules).then_some(Kind::GemfileLock);
    }
    None
}

pub fn size_cap(kind: Kind) -> u64 {
    match kind {
        // Generated gemspecs list every file of the gem; the largest (rails-sized gems) are ~100 KiB.
        Kind::Gemspec => 4 * 1024 * 1024,
        Kind::GemfileLock => 16 * 1024 * 1024,
    }
}

pub fn analyze(kind: Kind, path: &str, bytes: &[u8]) -> Result<FileContent, String> {
    match kind {
        Kind::Gemspec => {
            let file_name = path.rsplit('/').next().unwrap_or(path);
            let package = gemspec::parse(file_name, bytes)?;
            let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
            let dir = dir.strip_suffix("/default").unwrap_or(dir);
            Ok(FileContent::Packages { packages: vec![package], group: Some(format!("/{dir}")) })
        }
        Kind::GemfileLock => lockfile::parse(bytes).map(FileContent::packages),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let table = [
            ("usr/local/bundle/specifications/rack-2.2.3.gemspec", Some(Kind::Gemspec)),
            ("var/lib/gems/2.7.0/specifications/rack-2.1.4.gemspec", Some(Kind::Gemspec)),
            ("usr/lib/ruby/gems/3.1.0/specifications/default/cgi-0.3.5.gemspec", Some(Kind::Gemspec)),
            ("usr/share/rubygems-integration/all/specifications/rack-2.1.4.gemspec", Some(Kind::Gemspec)),
            // A gem's own source tree carries its gemspec and its authors' lock; neither is installed state.
            ("usr/local/bundle/gems/rack-2.2.3/rack.gemspec", None),
            ("usr/local/bundle/gems/rack-2.2.3/Gemfile.lock", None),
            ("app/Gemfile.lock", Some(Kind::GemfileLock)),
            ("app/gems.locked", Some(Kind::GemfileLock)),
            ("app/Gemfile", None),
            ("app/node_modules/x/Gemfile.lock", None),
        ];
        for (path, want) in table {
            assert_eq!(classify(path), want, "{path}");
            assert_eq!(crate::analyze::classify(path), want.map(crate::analyze::FileKind::Ruby), "{path}");
        }
    }

    #[test]
    fn gemspec_groups_into_its_specifications_dir() {
        let bytes = include_bytes!("../../../tests/fixtures/ruby/cgi-0.3.5.gemspec");
        let path = "usr/lib/ruby/gems/3.1.0/specifications/default/cgi-0.3.5.gemspec";
        match analyze(Kind::Gemspec, path, bytes) {
            Ok(FileContent::Packages { packages, group }) => {
                assert_eq!(group.as_deref(), Some("/usr/lib/ruby/gems/3.1.0/specifications"));
                assert_eq!((packages[0].name.as_str(), packages[0].version.as_str()), ("cgi", "0.3.5"));
            }
            other => panic!("{other:?}"),
        }
    }
}
