//! The engine reads as layers — model → analysers → layer walk → merge → match → report — and this test keeps
//! it so: every `crate::` path in the engine's sources (tests aside) must name a module placed no later in
//! [`ORDER`] than the module of the file it is written in. A new module must be placed in the order first.

use std::path::{Path, PathBuf};

/// Modules, lowest first. A file belongs to the longest entry its module path starts with
/// (`misconfig/image.rs` to `misconfig::image`, `misconfig/facts.rs` to `misconfig`).
const ORDER: &[(&str, &[&str])] = &[
    ("model", &["error", "severity", "version", "package", "budget", "model", "image"]),
    ("analysers", &["secret", "misconfig", "analyze"]),
    ("layer walk", &["layer", "source"]),
    // The image-config checks read the merged image; the rest of `misconfig` is what the walk collects.
    ("merge", &["merge", "misconfig::image"]),
    ("match", &["matcher", "vulndb"]),
    ("report", &["report"]),
];

fn rank(module: &str) -> Option<(usize, &'static str)> {
    let under = |entry: &str| module == entry || module.starts_with(&format!("{entry}::"));
    ORDER
        .iter()
        .flat_map(|(_, entries)| entries.iter())
        .enumerate()
        .filter(|(_, entry)| under(entry))
        .max_by_key(|(_, entry)| entry.len())
        .map(|(rank, entry)| (rank, *entry))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and without `#[cfg(test)]` items (test code may reach anywhere).
fn production_code(text: &str) -> String {
    let text: String =
        text.lines().map(|l| l.split_once("//").map_or(l, |(code, _)| code)).collect::<Vec<_>>().join("\n");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let end = match (item.find(';'), item.find('{')) {
            (Some(semi), Some(brace)) if semi < brace => semi + 1,
            (Some(semi), None) => semi + 1,
            (_, Some(brace)) => {
                let mut depth = 0;
                let close = item[brace..].char_indices().find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                });
                brace + close.map_or(item.len() - brace, |(i, _)| i + 1)
            }
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Every module path a `crate::` path in `code` names, groups (`crate::{a::b, c}`) expanded.
fn crate_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            // Only the first segment of each top-level element matters for the rank.
            let mut depth = 0;
            let mut element = String::new();
            for c in group[..end].chars().chain([',']) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        paths.push(std::mem::take(&mut element).split_whitespace().collect());
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 && c != '}' {
                    element.push(c);
                }
            }
        } else {
            let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            paths.push(path);
        }
    }
    paths.into_iter().map(|p| p.trim_end_matches(':').to_string()).filter(|p| !p.is_empty()).collect()
}

#[test]
fn every_module_uses_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 50, "found only {} source files under {}", files.len(), src.display());
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
        let name = relative.rsplit('/').next().unwrap_or_default();
        if relative == "lib.rs" || name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let module = relative.trim_end_matches(".rs").trim_end_matches("/mod").replace('/', "::");
        let Some((own, own_entry)) = rank(&module) else {
            wrong.push(format!("{relative}: module `{module}` has no place in ORDER"));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for path in crate_paths(&production_code(&text)) {
            // `crate::Error`, `crate::ANALYZER_VERSION`: the crate root, below everything.
            if path.starts_with(|c: char| c.is_uppercase()) {
                continue;
            }
            checked += 1;
            match rank(&path) {
                Some((used, entry)) if used > own => {
                    wrong.push(format!("{relative} ({own_entry}) uses crate::{path} ({entry}, a higher layer)"))
                }
                Some(_) => {}
                None => wrong.push(format!("{relative} uses crate::{path}, which has no place in ORDER")),
            }
        }
    }
    assert!(checked > 100, "only {checked} crate:: paths seen: the parser is broken");
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_uses_and_ignores_tests_and_comments() {
    let code = "use crate::{merge::{self, ImageInventory}, package::Package};\n\
                // crate::report in a comment\n\
                let x = crate::vulndb::normalize_name(a, b);\n\
                #[cfg(test)]\nmod tests { use crate::report::Report; }\n\
                #[cfg(test)]\nmod other;\nfn f() -> crate::Result<()> {}";
    assert_eq!(crate_paths(&production_code(code)), ["merge", "package::Package", "vulndb::normalize_name", "Result"]);
    assert_eq!(rank("misconfig::image::checks").map(|r| r.1), Some("misconfig::image"));
    assert_eq!(rank("misconfig::facts").map(|r| r.1), Some("misconfig"));
    assert!(rank("merge").unwrap().0 < rank("misconfig::image").unwrap().0);
    assert!(rank("misconfig").unwrap().0 < rank("layer").unwrap().0);
}
