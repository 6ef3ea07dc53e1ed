//! The build context: whether a `.dockerignore` exists and keeps out what must never reach the builder
//! (DS004), and `COPY .` with nothing to filter it (DS012). Patterns follow moby's `patternmatcher`: paths
//! relative to the context root, `*`/`?`/`[…]` within one path element, `**` across elements, `!`
//! re-includes, the last matching pattern decides, and a match on a parent directory covers its files.

use regex::Regex;

use super::rules::{COPY_ALL_UNFILTERED, DOCKERIGNORE};
use super::stages::Stage;
use crate::misconfig::Misconfiguration;

/// Files every context must exclude, with why; `node_modules` only matters to Node projects.
const MUST_EXCLUDE: [(&str, &str); 5] = [
    (".git/HEAD", "`.git` (the whole history, deleted secrets included)"),
    (".env", "`.env` (runtime secrets)"),
    ("server.pem", "`*.pem` (TLS and signing keys)"),
    ("id_rsa", "`id_rsa` (SSH keys)"),
    ("node_modules/left-pad/index.js", "`node_modules` (host-built dependencies)"),
];

pub struct Ignore {
    patterns: Vec<(bool, Regex)>,
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let (negated, pattern) = match l.strip_prefix('!') {
                    Some(p) => (true, p.trim()),
                    None => (false, l),
                };
                let cleaned = pattern.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/');
                glob_regex(cleaned).map(|re| (negated, re))
            })
            .collect();
        Ignore { patterns }
    }

    pub fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        let parents: Vec<&str> =
            path.char_indices().filter(|(_, c)| *c == '/').map(|(i, _)| &path[..i]).chain([path]).collect();
        for (negated, re) in &self.patterns {
            if parents.iter().any(|p| re.is_match(p)) {
                excluded = !negated;
            }
        }
        excluded
    }
}

fn glob_regex(glob: &str) -> Option<Regex> {
    let mut re = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                    re.push_str("(?:.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'^') || chars.peek() == Some(&'!') {
                    chars.next();
                    re.push('^');
                }
                for k in chars.by_ref() {
                    if k == ']' {
                        break;
                    }
                    if k == '\\' || k == '[' {
                        re.push('\\');
                    }
                    re.push(k);
                }
                re.push(']');
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    re.push_str(&regex::escape(&n.to_string()));
                }
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).ok()
}

pub fn check(stages: &[Stage], dockerignore: Option<&str>, is_node: bool, out: &mut Vec<Misconfiguration>) {
    let copies_all = stages.iter().flat_map(|s| &s.instructions).find(|i| {
        i.keyword == "COPY" && i.flag("from").is_none() && {
            let words = i.words();
            words.len() >= 2 && words[..words.len() - 1].iter().any(|w| matches!(w.as_str(), "." | "./" | "./."))
        }
    });
    match dockerignore {
        None => {
            out.push(DOCKERIGNORE.with_severity(
                DOCKERIGNORE.severity,
                None,
                "no `.dockerignore` next to the Dockerfile",
            ));
            if let Some(copy) = copies_all {
                out.push(
                    COPY_ALL_UNFILTERED.at(copy.line, format!("`COPY {}` copies the entire context", copy.text())),
                );
            }
        }
        Some(text) => {
            let ignore = Ignore::parse(text);
            let missing: Vec<&str> = MUST_EXCLUDE
                .iter()
                .filter(|(path, _)| is_node || !path.starts_with("node_modules"))
                .filter(|(path, _)| !ignore.excludes(path))
                .map(|(_, why)| *why)
                .collect();
            if !missing.is_empty() {
                out.push(DOCKERIGNORE.with_severity(
                    DOCKERIGNORE.severity,
                    None,
                    format!("`.dockerignore` does not exclude {}", missing.join(", ")),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_moby() {
        let ignore = Ignore::parse("# comment\n/.git\n**/*.pem\nnode_modules/\n*.md\n!README.md\nsecrets/[a-c]*\n");
        for (path, excluded) in [
            (".git/HEAD", true),
            ("certs/server.pem", true),
            ("server.pem", true),
            ("node_modules/x/index.js", true),
            ("docs/x.md", false),
            ("CHANGES.md", true),
            ("README.md", false),
            ("secrets/b.key", true),
            ("secrets/d.key", false),
            ("src/main.rs", false),
        ] {
            assert_eq!(ignore.excludes(path), excluded, "{path}");
        }
        let allow_list = Ignore::parse("*\n!src\n!package*.json\n");
        assert!(allow_list.excludes(".git/HEAD") && allow_list.excludes(".env"));
        assert!(!allow_list.excludes("src/index.js") && !allow_list.excludes("package-lock.json"));
    }
}
