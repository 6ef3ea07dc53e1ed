//! Installed gem specifications. RubyGems writes them as Ruby code (`s.name = "rack".freeze`); evaluating
//! Ruby is out of the question, and the generated form is regular, so the two assignments are read by
//! pattern. The file name (`NAME-VERSION[-PLATFORM].gemspec`) is the fallback RubyGems itself relies on.

use std::sync::LazyLock;

use regex::Regex;

use crate::package::{Package, PackageKind};

static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?m)^\s*\w+\.name\s*=\s*["']([^"']+)["']"#).expect("static regex"));
static VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?m)^\s*\w+\.version\s*=\s*(?:Gem::Version\.new\(\s*)?["']([^"']+)["']"#).expect("static regex")
});

pub fn parse(file_name: &str, bytes: &[u8]) -> Result<Package, String> {
    if bytes.contains(&0) {
        return Err("binary content, not a gem specification".into());
    }
    let text = String::from_utf8_lossy(bytes);
    let capture = |re: &Regex| re.captures(&text).map(|c| c[1].trim().to_string()).filter(|s| !s.is_empty());
    let (name, version) = match (capture(&NAME), capture(&VERSION)) {
        (Some(n), Some(v)) => (n, v),
        (n, v) => {
            let (file_n, file_v) = from_file_name(file_name)
                .ok_or("no `name`/`version` assignment, and the file name is not NAME-VERSION.gemspec")?;
            (n.unwrap_or(file_n), v.unwrap_or(file_v))
        }
    };
    Ok(Package::new(PackageKind::Gem, name, version))
}

/// `rack-protection-2.0.8.1.gemspec` → (`rack-protection`, `2.0.8.1`); `nokogiri-1.13.10-x86_64-linux` →
/// (`nokogiri`, `1.13.10`): the version is the first `-`-separated part that starts with a digit.
fn from_file_name(file_name: &str) -> Option<(String, String)> {
    let stem = file_name.strip_suffix(".gemspec")?;
    let parts: Vec<&str> = stem.split('-').collect();
    let at = parts.iter().position(|p| p.starts_with(|c: char| c.is_ascii_digit())).filter(|&i| i > 0)?;
    Some((parts[..at].join("-"), parts[at].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_gemspecs() {
        // Debian bullseye's ruby-rack, ruby-sinatra, ruby-rack-protection; bookworm's ruby-ruby2-keywords;
        // Ruby 3.1's default cgi gem.
        let table = [
            ("rack-2.1.4.gemspec", "rack", "2.1.4"),
            ("sinatra-2.0.8.1.gemspec", "sinatra", "2.0.8.1"),
            ("rack-protection-2.0.8.1.gemspec", "rack-protection", "2.0.8.1"),
            ("ruby2_keywords-0.0.5.gemspec", "ruby2_keywords", "0.0.5"),
            ("cgi-0.3.5.gemspec", "cgi", "0.3.5"),
        ];
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ruby/");
        for (file, name, version) in table {
            let bytes = std::fs::read(format!("{dir}{file}")).unwrap();
            let p = parse(file, &bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!((p.name.as_str(), p.version.as_str(), p.kind), (name, version, PackageKind::Gem), "{file}");
        }
    }

    #[test]
    fn file_name_fallback_and_errors() {
        let p = parse("nokogiri-1.13.10-x86_64-linux.gemspec", b"# no assignments").unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("nokogiri", "1.13.10"));
        let p = parse("rack-protection-2.0.8.1.gemspec", b"Gem::Specification.new do |s|\nend\n").unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("rack-protection", "2.0.8.1"));
        assert!(parse("weird.gemspec", b"nothing").is_err());
        assert!(parse("x-1.0.gemspec", b"\0\x7fELF").is_err());
    }
}
