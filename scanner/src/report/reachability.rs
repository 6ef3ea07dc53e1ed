//! Whether a Go finding's vulnerable code is in the binary, decided as govulncheck decides it in binary
//! mode: an advisory entry's `imports` name packages (and within them symbols, or none: then every function
//! of the package counts); one of them among the functions the linker kept (the pclntab) makes the finding
//! reachable. Entries for another GOOS/GOARCH than the binary's do not count.
//!
//! Function table names are turned into the advisories' form: the package path unescaped
//! (`gopkg.in/yaml%2ev3` → `gopkg.in/yaml.v3`), type arguments dropped (`F[...]` → `F`), pointer receivers
//! unwrapped (`(*T).M` → `T.M`). A closure (`F.func1`, `T.M.func2`) stands for the function it is in.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use crate::model::{Affected, Reachability};
use crate::package::{GoSymbols, split_go_name, unescape_go_path};

/// A binary's functions by package path, in the advisories' symbol form; built once per package.
#[derive(Debug, Default)]
pub struct SymbolIndex<'a> {
    goos: &'a str,
    goarch: &'a str,
    packages: HashMap<Cow<'a, str>, HashSet<Cow<'a, str>>>,
}

impl<'a> SymbolIndex<'a> {
    pub fn new(symbols: &'a GoSymbols) -> Self {
        let mut packages: HashMap<Cow<'a, str>, HashSet<Cow<'a, str>>> = HashMap::new();
        for name in symbols.names() {
            if let Some((package, symbol)) = split(name) {
                let entry = packages.entry(package).or_default();
                if let Some(outer) = enclosing(&symbol) {
                    entry.insert(Cow::Owned(outer.to_owned()));
                }
                entry.insert(symbol);
            }
        }
        SymbolIndex {
            goos: symbols.goos.as_deref().unwrap_or_default(),
            goarch: symbols.goarch.as_deref().unwrap_or_default(),
            packages,
        }
    }

    /// Whether any of `affected` (the advisory entries that matched the package) names code the binary has.
    fn reaches(&self, affected: &Affected) -> bool {
        affected.imports.iter().any(|import| {
            let platform = (import.goos.is_empty() || import.goos.iter().any(|g| g == self.goos))
                && (import.goarch.is_empty() || import.goarch.iter().any(|a| a == self.goarch));
            let Some(present) = self.packages.get(import.path.as_str()) else { return false };
            platform && (import.symbols.is_empty() || import.symbols.iter().any(|s| present.contains(s.as_str())))
        })
    }
}

/// The reachability of a finding on a Go package: `index` is `None` when the binary's function table could
/// not be read; `affected` are the advisory's entries that matched.
pub fn reachability(index: Option<&SymbolIndex<'_>>, affected: &[&Affected]) -> Reachability {
    let Some(index) = index else { return Reachability::Unknown };
    if affected.iter().any(|a| index.reaches(a)) {
        Reachability::Reachable
    } else if affected.is_empty() || affected.iter().any(|a| a.imports.is_empty()) {
        // An entry without import data says nothing about which code is vulnerable.
        Reachability::Unknown
    } else {
        Reachability::Unreachable
    }
}

/// `net/http.(*Client).Do` → (`net/http`, `Client.Do`); `None` for names without a package.
fn split(name: &str) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
    let (package, rest) = split_go_name(name)?;
    let package = unescape_go_path(package);
    Some((package, without_pointer_receiver(without_type_arguments(rest))))
}

/// `(*T).M` → `T.M`: advisories name methods by type, whatever the receiver.
fn without_pointer_receiver(name: Cow<'_, str>) -> Cow<'_, str> {
    match name.strip_prefix("(*").and_then(|r| r.split_once(')')) {
        Some((receiver, method)) => Cow::Owned(format!("{receiver}{method}")),
        None => name,
    }
}

/// Drops bracketed type arguments, nested ones included; a name without brackets is borrowed.
fn without_type_arguments(name: &str) -> Cow<'_, str> {
    if !name.contains('[') {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    Cow::Owned(out)
}

/// `F.func1` → `F`, `T.M.func2.1` → `T.M`: the function a closure is in.
fn enclosing(symbol: &str) -> Option<&str> {
    let at = symbol.find(".func")?;
    let tail = &symbol[at + 5..];
    let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && tail[digits..].bytes().all(|b| b.is_ascii_digit() || b == b'.')).then(|| &symbol[..at])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GoImport;

    fn symbols(names: &[&str]) -> GoSymbols {
        GoSymbols::new(Some("linux".into()), Some("amd64".into()), names.iter().copied())
    }

    fn entry(imports: Vec<GoImport>) -> Affected {
        Affected { ecosystem: "Go".into(), name: "m".into(), ranges: vec![], versions: vec![], imports }
    }

    fn import(path: &str, symbols: &[&str]) -> GoImport {
        GoImport { path: path.into(), symbols: symbols.iter().map(|s| s.to_string()).collect(), ..GoImport::default() }
    }

    #[test]
    fn names_in_the_advisories_form() {
        let split = |n| split(n).map(|(p, s)| (p.into_owned(), s.into_owned()));
        let pair = |p: &str, s: &str| Some((p.to_string(), s.to_string()));
        assert_eq!(split("net/http.(*Client).Do"), pair("net/http", "Client.Do"));
        assert_eq!(split("gopkg.in/yaml%2ev3.Unmarshal"), pair("gopkg.in/yaml.v3", "Unmarshal"));
        assert_eq!(split("golang.org/x/exp/slices.Sort[go.shape.string_0]"), pair("golang.org/x/exp/slices", "Sort"));
        assert_eq!(split("a/b.(*T[...]).M"), pair("a/b", "T.M"));
        assert_eq!(split("main.main.func1"), pair("main", "main.func1"));
        assert_eq!(split("nodot"), None);
        assert_eq!(enclosing("F.func1"), Some("F"));
        assert_eq!(enclosing("T.M.func2.1"), Some("T.M"));
        assert_eq!(enclosing("funcX"), None);
        assert_eq!(enclosing("F.function"), None);
    }

    #[test]
    fn decisions() {
        let s = symbols(&["net/http.(*Client).Do", "crypto/tls.(*Conn).Read.func1", "fmt.Println"]);
        let index = SymbolIndex::new(&s);
        let r = |affected: &[&Affected]| reachability(Some(&index), affected);
        assert_eq!(r(&[&entry(vec![import("net/http", &["Client.Do"])])]), Reachability::Reachable);
        assert_eq!(r(&[&entry(vec![import("net/http", &["Server.Serve"])])]), Reachability::Unreachable);
        assert_eq!(r(&[&entry(vec![import("crypto/tls", &["Conn.Read"])])]), Reachability::Reachable, "closure");
        assert_eq!(r(&[&entry(vec![import("fmt", &[])])]), Reachability::Reachable, "any function of fmt");
        assert_eq!(r(&[&entry(vec![import("net/url", &[])])]), Reachability::Unreachable, "net/url is absent");
        assert_eq!(r(&[&entry(vec![])]), Reachability::Unknown, "no import data");
        let windows = GoImport { goos: vec!["windows".into()], ..import("net/http", &["Client.Do"]) };
        assert_eq!(r(&[&entry(vec![windows])]), Reachability::Unreachable, "another GOOS");
        let arch = GoImport { goarch: vec!["amd64".into()], ..import("fmt", &["Println"]) };
        assert_eq!(r(&[&entry(vec![arch])]), Reachability::Reachable);
        assert_eq!(reachability(None, &[&entry(vec![import("fmt", &[])])]), Reachability::Unknown, "no table");
    }
}
