//! Build stages: each `FROM` with its image reference resolved (global `ARG` defaults substituted, as
//! BuildKit does before any stage starts) and the instructions that belong to it.

use std::collections::BTreeMap;

use super::parse::{Dockerfile, Instruction};

#[derive(Debug, Clone)]
pub struct Stage<'a> {
    pub from: &'a Instruction,
    /// The base as written after substitution (`node:20-slim`, `builder`, `scratch`).
    pub base: String,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// Set when the base is an earlier stage of this Dockerfile.
    pub base_stage: Option<usize>,
    /// Whether substitution left a variable without a value (`FROM node:${VERSION}` with no default).
    pub unresolved: bool,
    pub instructions: Vec<&'a Instruction>,
}

impl Stage<'_> {
    pub fn image(&self) -> Option<ImageRef> {
        (self.base_stage.is_none() && !self.base.eq_ignore_ascii_case("scratch") && !self.unresolved)
            .then(|| ImageRef::parse(&self.base))
    }

    pub fn runs(&self) -> impl Iterator<Item = &Instruction> {
        self.instructions.iter().copied().filter(|i| i.keyword == "RUN")
    }
}

pub fn stages(file: &Dockerfile) -> Vec<Stage<'_>> {
    let mut globals: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in &file.instructions {
        match (instruction.keyword.as_str(), stages.last_mut()) {
            ("ARG", None) => {
                for (name, value) in assignments(&instruction.text(), true) {
                    globals.insert(name, value);
                }
            }
            ("FROM", _) => {
                let words = instruction.words();
                let written = words.first().cloned().unwrap_or_default();
                let (base, unresolved) = substitute(&written, &globals);
                let name = match words.get(1..3) {
                    Some([kw, name]) if kw.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
                    _ => None,
                };
                let base_stage = stages.iter().position(|s| s.name.as_deref() == Some(&base.to_ascii_lowercase()));
                stages.push(Stage { from: instruction, base, name, base_stage, unresolved, instructions: Vec::new() });
            }
            (_, Some(stage)) => stage.instructions.push(instruction),
            // Anything else before the first FROM is an error BuildKit reports; rules ignore it.
            (_, None) => {}
        }
    }
    stages
}

/// `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`; returns whether a variable had no value.
pub fn substitute(text: &str, vars: &BTreeMap<String, Option<String>>) -> (String, bool) {
    let mut out = String::new();
    let mut unresolved = false;
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (expr, len) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => (inner, after.len()),
            }
        } else {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            (&after[..end], end)
        };
        if expr.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        let (name, op, word) = match expr.find(":-").or_else(|| expr.find(":+")) {
            Some(i) => (&expr[..i], &expr[i..i + 2], &expr[i + 2..]),
            None => (expr, "", ""),
        };
        let value = vars.get(name).cloned().flatten().filter(|v| !v.is_empty());
        match (op, value) {
            (":-", None) => out.push_str(word),
            (":+", Some(_)) => out.push_str(word),
            (":+", None) => {}
            (_, Some(v)) => out.push_str(&v),
            (_, None) => unresolved = true,
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    (out, unresolved)
}

/// `ARG a=1 b` / `ENV a=1 b="two words"` and the legacy `ENV key value`: names with their values.
pub fn assignments(text: &str, is_arg: bool) -> Vec<(String, Option<String>)> {
    let text = text.trim();
    let first = text.split_whitespace().next().unwrap_or("");
    if !is_arg && !first.contains('=') {
        // Legacy `ENV KEY the rest is the value`.
        return match text.split_once(char::is_whitespace) {
            Some((k, v)) => vec![(k.to_string(), Some(v.trim().to_string()))],
            None => vec![(text.to_string(), None)],
        };
    }
    super::shell::commands(text)
        .into_iter()
        .flat_map(|c| c.words)
        .chain(raw_assignments(text))
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (w, None),
        })
        .fold(Vec::new(), |mut acc, (k, v)| {
            if !acc.iter().any(|(name, _): &(String, Option<String>)| *name == k) {
                acc.push((k, v));
            }
            acc
        })
}

/// The shell helper drops leading `A=b` words as assignments; here they are the point, so take them back.
fn raw_assignments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let name_start = rest[..eq].rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let name = &rest[name_start..eq];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-') {
            break;
        }
        let value_part = &rest[eq + 1..];
        let (value, consumed) = quoted_value(value_part);
        out.push(format!("{name}={value}"));
        rest = value_part[consumed..].trim_start();
    }
    out
}

fn quoted_value(s: &str) -> (String, usize) {
    let mut chars = s.char_indices();
    match s.chars().next() {
        Some(q @ ('"' | '\'')) => {
            chars.next();
            let mut value = String::new();
            let mut escaped = false;
            for (i, c) in chars {
                if escaped {
                    value.push(c);
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    return (value, i + 1);
                } else {
                    value.push(c);
                }
            }
            (value, s.len())
        }
        _ => {
            let end = s.find(char::is_whitespace).unwrap_or(s.len());
            (s[..end].to_string(), end)
        }
    }
}

/// An image reference split the way Docker Hub names work: `docker.io/library/node:20@sha256:…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `None` for Docker Hub.
    pub registry: Option<String>,
    /// `library/node`, `bitnami/node`, `distroless/static-debian12`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(reference: &str) -> ImageRef {
        let (name, digest) = match reference.split_once('@') {
            Some((n, d)) => (n, Some(d.to_string())),
            None => (reference, None),
        };
        let (name, tag) = match name.rfind(':') {
            Some(i) if !name[i..].contains('/') => (&name[..i], Some(name[i + 1..].to_string())),
            _ => (name, None),
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (Some(first.to_ascii_lowercase()), rest)
            }
            _ => (None, name),
        };
        let registry =
            registry.filter(|r| !matches!(r.as_str(), "docker.io" | "index.docker.io" | "registry-1.docker.io"));
        let repository = match (registry.is_none(), path.contains('/')) {
            (true, false) => format!("library/{path}"),
            _ => path.to_string(),
        };
        ImageRef { registry, repository: repository.to_ascii_lowercase(), tag, digest }
    }

    /// The Docker Official Image name (`node`) when it is one's repository.
    pub fn official_name(&self) -> Option<&str> {
        if self.registry.is_some() {
            return None;
        }
        self.repository.strip_prefix("library/")
    }

    pub fn short(&self) -> String {
        let name = self.official_name().map_or_else(
            || match &self.registry {
                Some(r) => format!("{r}/{}", self.repository),
                None => self.repository.clone(),
            },
            str::to_string,
        );
        match &self.tag {
            Some(tag) => format!("{name}:{tag}"),
            None => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::misconfig::dockerfile::parse::parse;

    #[test]
    fn resolves_global_args_in_from_and_stage_names() {
        let file = parse(
            "ARG NODE_VERSION=20\nARG DISTRO\nFROM node:${NODE_VERSION}-${DISTRO:-bookworm} AS Build\nRUN npm ci\n\
             FROM build AS test\nFROM gcr.io/distroless/nodejs20-debian12:nonroot@sha256:abc\nFROM node:$MISSING\n",
        )
        .unwrap();
        let s = stages(&file);
        assert_eq!(s[0].base, "node:20-bookworm");
        assert_eq!(s[0].name.as_deref(), Some("build"));
        assert_eq!(s[0].instructions.len(), 1);
        assert_eq!(s[1].base_stage, Some(0));
        let distroless = s[2].image().unwrap();
        assert_eq!(distroless.registry.as_deref(), Some("gcr.io"));
        assert_eq!(distroless.tag.as_deref(), Some("nonroot"));
        assert_eq!(distroless.digest.as_deref(), Some("sha256:abc"));
        assert!(s[3].unresolved && s[3].image().is_none());
    }

    #[test]
    fn image_references() {
        for (text, official, tag) in [
            ("node", Some("node"), None),
            ("docker.io/library/python:3.12-slim", Some("python"), Some("3.12-slim")),
            ("bitnami/redis:7.2", None, Some("7.2")),
            ("localhost:5000/app", None, None),
            ("ghcr.io/org/app:1.0", None, Some("1.0")),
        ] {
            let r = ImageRef::parse(text);
            assert_eq!((r.official_name(), r.tag.as_deref()), (official, tag), "{text}");
        }
    }

    #[test]
    fn env_and_arg_assignments() {
        assert_eq!(
            assignments("DB_PASSWORD=hunter2 HOME=\"/home/app user\"", false),
            vec![
                ("DB_PASSWORD".to_string(), Some("hunter2".to_string())),
                ("HOME".to_string(), Some("/home/app user".to_string())),
            ]
        );
        assert_eq!(
            assignments("GPG_KEY 7169605F62C751356D054A26A821E680E5FA6305", false),
            vec![("GPG_KEY".to_string(), Some("7169605F62C751356D054A26A821E680E5FA6305".to_string()))]
        );
        assert_eq!(assignments("TOKEN", true), vec![("TOKEN".to_string(), None)]);
    }
}
