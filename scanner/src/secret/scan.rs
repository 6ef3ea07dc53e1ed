//! The scan of one file: a single Aho-Corasick pass over the bytes finds the lines that hold any rule's
//! keyword; only those lines meet a regex. Matches pass their rule's gate, and the line is masked before it
//! leaves this module, so nothing downstream ever holds the secret.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};
use regex::bytes::{Regex, RegexSet};

use super::FileSecret;
use super::rules::{Gate, Spec};
use crate::severity::Severity;

/// Larger files are skipped: configuration and credential files are small, and this bounds the memory
/// and time one entry can take.
pub const SIZE_CAP: u64 = 1024 * 1024;
/// A NUL byte in this much of the head marks a binary file (the heuristic `git` and `grep` use).
pub const BINARY_SNIFF: usize = 8 * 1024;
/// How much of a long line (minified JS, one-line JSON) is shown around a match.
const CONTEXT: usize = 60;

pub struct Rule {
    pub id: String,
    pub category: String,
    pub title: String,
    pub severity: Severity,
    pub keywords: Vec<String>,
    pub regex: Regex,
    pub path: Option<Regex>,
    pub requires: Option<Regex>,
    pub near: Option<(String, usize)>,
    pub gate: Gate,
    pub marker: bool,
    pub libraries: bool,
}

impl Rule {
    pub fn compile(spec: &Spec) -> Result<Rule, String> {
        let re = |what: &str, s: &str| Regex::new(s).map_err(|e| format!("rule {}: {what}: {e}", spec.id));
        Ok(Rule {
            id: spec.id.to_string(),
            category: spec.category.to_string(),
            title: spec.title.to_string(),
            severity: spec.severity,
            keywords: spec.keywords.iter().map(|k| k.to_string()).collect(),
            regex: re("regex", spec.regex)?,
            path: spec.path.map(|p| re("path", p)).transpose()?,
            requires: spec.requires.map(|p| re("requires", p)).transpose()?,
            near: spec.near.map(|(id, n)| (id.to_string(), n)),
            gate: spec.gate,
            marker: spec.marker,
            libraries: spec.libraries,
        })
    }
}

/// Paths or rules a finding is dropped for.
pub struct Allow {
    /// Any of these paths; `None`: every path.
    pub paths: Option<RegexSet>,
    /// Any of these rules; empty: every rule.
    pub rules: BTreeSet<String>,
}

/// Compiled rules and the prefilter over all their keywords. Built once and shared by every layer.
pub struct Scanner {
    rules: Vec<Rule>,
    /// Leftmost search, which can use a SIMD prefilter: finds the lines worth a closer look.
    prefilter: AhoCorasick,
    /// Overlapping search over one such line: every keyword on it, nested ones included.
    exact: AhoCorasick,
    /// Rules per keyword pattern index.
    by_keyword: Vec<Vec<usize>>,
    /// Rules with no keyword that are not pair halves: they see the whole file (custom rules only).
    whole_file: Vec<usize>,
    /// `(anchor rule index, rule index, lines)` for pair halves.
    near: Vec<(usize, usize, usize)>,
    /// Files not read at all.
    skip_paths: Option<RegexSet>,
    /// Installed third-party packages, where only the rules with `libraries` apply.
    library_paths: Option<RegexSet>,
    allow: Vec<Allow>,
}

impl Scanner {
    pub fn new(
        rules: Vec<Rule>,
        skip_globs: &[String],
        library_globs: &[String],
        allow: Vec<Allow>,
    ) -> Result<Scanner, String> {
        let mut keywords: Vec<String> = Vec::new();
        let mut by_keyword: Vec<Vec<usize>> = Vec::new();
        let mut whole_file = Vec::new();
        let mut near = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if let Some((anchor, lines)) = &rule.near {
                let a = rules
                    .iter()
                    .position(|r| &r.id == anchor)
                    .ok_or_else(|| format!("rule {}: no rule {anchor} to pair with", rule.id))?;
                near.push((a, i, *lines));
                continue;
            }
            if rule.keywords.is_empty() {
                whole_file.push(i);
            }
            for k in &rule.keywords {
                let k = k.to_ascii_lowercase();
                match keywords.iter().position(|have| *have == k) {
                    Some(p) => by_keyword[p].push(i),
                    None => {
                        keywords.push(k);
                        by_keyword.push(vec![i]);
                    }
                }
            }
        }
        let build = |kind| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(kind)
                .build(&keywords)
                .map_err(|e| format!("keyword prefilter: {e}"))
        };
        let (prefilter, exact) = (build(MatchKind::LeftmostFirst)?, build(MatchKind::Standard)?);
        let globs = |globs: &[String], what: &str| {
            (!globs.is_empty()).then(|| glob_set(globs).map_err(|e| format!("{what}: {e}"))).transpose()
        };
        let skip_paths = globs(skip_globs, "allowed paths")?;
        let library_paths = globs(library_globs, "library paths")?;
        Ok(Scanner { rules, prefilter, exact, by_keyword, whole_file, near, skip_paths, library_paths, allow })
    }

    /// Whether `path` (normalised, no leading slash) is never scanned: the walk need not even read it.
    pub fn skips(&self, path: &str) -> bool {
        if self.skip_paths.is_some() && is_dependency_code(path) {
            return true;
        }
        self.skip_paths.as_ref().is_some_and(|s| s.is_match(path.as_bytes()))
    }

    /// Scans one file's bytes. `path` is normalised (no leading slash). Binary content yields nothing.
    /// At most the default budget's findings per file are kept (see [`Scanner::scan_limited`]).
    pub fn scan(&self, path: &str, bytes: &[u8]) -> Vec<FileSecret> {
        self.scan_limited(path, bytes, crate::budget::Budget::default().secrets_per_file).0
    }

    /// [`Scanner::scan`] keeping at most `limit` findings; `true` when there were more. The scan stops at
    /// the first finding past the limit, so a file of a million key-like lines costs no more than one
    /// with `limit`.
    pub fn scan_limited(&self, path: &str, bytes: &[u8], limit: usize) -> (Vec<FileSecret>, bool) {
        if self.skips(path) || looks_binary(bytes) {
            return (Vec::new(), false);
        }
        // Candidate (line start, rule) pairs, in file order.
        let mut todo: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        let mut at = 0;
        while let Some(m) = self.prefilter.find(Input::new(bytes).span(at..bytes.len())) {
            let line = line_at(bytes, m.start());
            let rules = todo.entry(line.start).or_default();
            for k in self.exact.find_overlapping_iter(&bytes[line.clone()]) {
                rules.extend(&self.by_keyword[k.pattern().as_usize()]);
            }
            // The whole line is covered: go on after it.
            at = line.end + 1;
            if at >= bytes.len() {
                break;
            }
        }
        for &i in &self.whole_file {
            let mut at = 0;
            while let Some(m) = self.rules[i].regex.find_at(bytes, at) {
                todo.entry(line_at(bytes, m.start()).start).or_default().insert(i);
                at = m.end().max(at + 1);
            }
        }

        // Allow-listed findings are dropped later but still take part in overlap checks; only the others
        // count towards the limit.
        let allowed = self
            .rules
            .iter()
            .map(|rule| {
                self.allow.iter().any(|a| {
                    (a.rules.is_empty() || a.rules.contains(&rule.id))
                        && a.paths.as_ref().is_none_or(|p| p.is_match(path.as_bytes()))
                })
            })
            .collect();
        let mut file = FileScan {
            path,
            bytes,
            in_library: self.library_paths.as_ref().is_some_and(|l| l.is_match(path.as_bytes()))
                && !is_credential_file(path),
            code: is_source_code(path),
            requires: BTreeMap::new(),
            hits: BTreeMap::new(),
            allowed,
            limit,
            counted: 0,
            full: false,
        };
        for (start, rules) in &todo {
            let line = line_at(bytes, *start);
            for &i in rules {
                file.try_rule(&self.rules[i], i, line.clone());
            }
            if file.full {
                break;
            }
        }
        for &(anchor, i, n) in &self.near {
            if file.full {
                break;
            }
            let anchored: Vec<usize> = file
                .hits
                .iter()
                .filter(|(_, hits)| hits.iter().any(|h| h.rule == anchor))
                .map(|(start, _)| *start)
                .collect();
            for start in anchored {
                for line in window(bytes, start, n) {
                    file.try_rule(&self.rules[i], i, line);
                }
            }
        }
        let full = file.full;
        (self.findings(file), full)
    }

    fn findings(&self, file: FileScan<'_>) -> Vec<FileSecret> {
        let mut out = Vec::new();
        // Line numbers by one sweep over the sorted line starts.
        let (mut counted_to, mut number) = (0, 1);
        for (start, hits) in &file.hits {
            number += memchr::memchr_iter(b'\n', &file.bytes[counted_to..*start]).count();
            counted_to = *start;
            let line = line_at(file.bytes, *start);
            let text = &file.bytes[line.clone()];
            let spans: Vec<Range<usize>> = hits.iter().map(|h| h.secret.clone()).collect();
            for hit in hits {
                let rule = &self.rules[hit.rule];
                if file.allowed[hit.rule] {
                    continue;
                }
                out.push(FileSecret {
                    rule_id: rule.id.clone(),
                    category: rule.category.clone(),
                    title: rule.title.clone(),
                    severity: rule.severity,
                    path: format!("/{}", file.path),
                    line: u32::try_from(number).unwrap_or(u32::MAX),
                    masked: mask(text, &spans, hit.secret.clone()),
                });
            }
        }
        out
    }
}

struct Hit {
    rule: usize,
    /// The secret's byte range within its line.
    secret: Range<usize>,
}

struct FileScan<'a> {
    path: &'a str,
    bytes: &'a [u8],
    /// Code, docs or data of an installed third-party package (not a credential file it ships): only the
    /// rules with `libraries` apply.
    in_library: bool,
    /// Source code, where a literal is quoted and anything else is an expression.
    code: bool,
    requires: BTreeMap<usize, bool>,
    /// Accepted matches per line start.
    hits: BTreeMap<usize, Vec<Hit>>,
    /// Per rule: its findings in this file are allow-listed.
    allowed: Vec<bool>,
    /// The most findings (not allow-listed) kept, how many so far, and whether one more was seen.
    limit: usize,
    counted: usize,
    full: bool,
}

impl FileScan<'_> {
    fn try_rule(&mut self, rule: &Rule, index: usize, line: Range<usize>) {
        if self.full || self.in_library && !rule.libraries {
            return;
        }
        if rule.path.as_ref().is_some_and(|p| !p.is_match(self.path.as_bytes())) {
            return;
        }
        if let Some(req) = &rule.requires {
            let bytes = self.bytes;
            if !*self.requires.entry(index).or_insert_with(|| req.is_match(bytes)) {
                return;
            }
        }
        let text = &self.bytes[line.clone()];
        for caps in rule.regex.captures_iter(text) {
            let Some(whole) = caps.get(0) else { continue };
            let secret = caps.name("secret").unwrap_or(whole);
            let mut range = if rule.marker { whole.start()..whole.start() } else { secret.range() };
            let passes = match rule.gate {
                Gate::Format => !is_documented_example(secret.as_bytes()),
                Gate::NotPlaceholder => !is_placeholder(secret.as_bytes()),
                Gate::Entropy { min_len, min_entropy } => free_form(secret.as_bytes(), min_len, min_entropy),
                Gate::Assignment { min_len, min_entropy } => {
                    // A quoted value is all of the string, `(`, `,` or `;` included (Django's keys hold them).
                    range = quoted_string(text, range);
                    let value = &text[range.clone()];
                    free_form(value, min_len, min_entropy) && is_value(text, range.clone(), self.code)
                }
                Gate::KeyBody => has_key_body(&self.bytes[line.start + secret.start()..]),
            };
            let hits = self.hits.entry(line.start).or_default();
            let overlaps = hits.iter().any(|h| {
                h.secret.start < range.end.max(range.start + 1) && range.start < h.secret.end.max(h.secret.start + 1)
            });
            if passes && !overlaps {
                if !self.allowed[index] {
                    if self.counted == self.limit {
                        self.full = true;
                        break;
                    }
                    self.counted += 1;
                }
                hits.push(Hit { rule: index, secret: range });
            }
        }
        if self.hits.get(&line.start).is_some_and(Vec::is_empty) {
            self.hits.remove(&line.start);
        }
    }
}

/// The line holding `offset`, without its `\n` or `\r\n`.
fn line_at(bytes: &[u8], offset: usize) -> Range<usize> {
    let start = memchr::memrchr(b'\n', &bytes[..offset]).map_or(0, |p| p + 1);
    let end = memchr::memchr(b'\n', &bytes[offset..]).map_or(bytes.len(), |p| offset + p);
    let end = if end > start && bytes[end - 1] == b'\r' { end - 1 } else { end };
    start..end
}

/// The lines within `n` lines of the line starting at `start`.
fn window(bytes: &[u8], start: usize, n: usize) -> Vec<Range<usize>> {
    let (mut first, mut before) = (start, 0);
    while before < n && first > 0 {
        first = memchr::memrchr(b'\n', &bytes[..first - 1]).map_or(0, |p| p + 1);
        before += 1;
    }
    let mut out = Vec::new();
    let mut at = first;
    while out.len() <= before + n {
        out.push(line_at(bytes, at));
        match memchr::memchr(b'\n', &bytes[at..]) {
            Some(p) if at + p + 1 < bytes.len() => at += p + 1,
            _ => break,
        }
    }
    out
}

pub fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(BINARY_SNIFF)].contains(&0)
}

/// Shannon entropy in bits per byte.
pub fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for b in bytes {
        counts[*b as usize] += 1;
    }
    let n = bytes.len() as f64;
    counts.iter().filter(|c| **c > 0).map(|c| f64::from(*c) / n).map(|p| -p * p.log2()).sum()
}

/// Values people write where the real secret goes later: `changeme`, `${DB_PASSWORD}`, `<password>`,
/// `xxxxxxxx`, `%(password)s`, or the key's own name.
pub fn is_placeholder(value: &[u8]) -> bool {
    let v = String::from_utf8_lossy(value).to_ascii_lowercase();
    const MARKERS: &[&str] = &[
        "${",
        "{{",
        "$(",
        "%(",
        "%s",
        "<",
        ">",
        "***",
        "xxx",
        "...",
        "changeme",
        "change_me",
        "change-me",
        "example",
        "placeholder",
        "dummy",
        "redacted",
        "your_",
        "your-",
        "yourpass",
        "insert",
        "replace",
        "password",
        "passwd",
        "secret",
        "12345678",
        "abcdefgh",
    ];
    let first = v.chars().next();
    v.starts_with('$')
        || v.starts_with('@') && v.ends_with('@')
        || first.is_some_and(|f| v.chars().all(|c| c == f))
        || MARKERS.iter().any(|m| v.contains(m))
}

/// Keys that provider documentation prints (`AKIAIOSFODNN7EXAMPLE`, and SDKs and docstrings copy):
/// the format is right, the key is not one.
fn is_documented_example(value: &[u8]) -> bool {
    memchr::memmem::find(&value.to_ascii_uppercase(), b"EXAMPLE").is_some()
}

/// The value a [`Gate::Entropy`] accepts.
fn free_form(v: &[u8], min_len: usize, min_entropy: f64) -> bool {
    v.len() >= min_len && !is_placeholder(v) && !is_identifier(v) && entropy(v) >= min_entropy
}

/// Whether `line[value]`, the right-hand side of an assignment, is a value rather than code or a word
/// (see [`Gate::Assignment`]). In source code only a quoted literal is a value.
fn is_value(line: &[u8], value: Range<usize>, code: bool) -> bool {
    let v = &line[value.clone()];
    let quoted = opening_quote(line, value.start).is_some();
    // A call, a subscript or a generic type: `Form(None)`, `Optional[str]`, `Option<String>`.
    let applied = !quoted && matches!(line.get(value.end), Some(b'(' | b'[' | b'<'));
    let symbol = v.iter().any(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':' | b'/')));
    (quoted || !code) && !applied && (symbol || !looks_like_words(v))
}

/// The quote character just before `at`, if any.
fn opening_quote(line: &[u8], at: usize) -> Option<u8> {
    at.checked_sub(1).map(|i| line[i]).filter(|q| matches!(q, b'"' | b'\'' | b'`'))
}

/// `value` widened to its closing quote when it opens a string that closes on the line within 256 bytes
/// (no escapes are interpreted: a secret rarely holds its own quote); unchanged otherwise.
fn quoted_string(line: &[u8], value: Range<usize>) -> Range<usize> {
    let Some(quote) = opening_quote(line, value.start) else { return value };
    let rest = &line[value.start..line.len().min(value.start + 256)];
    match memchr::memchr(quote, rest) {
        Some(len) if len >= value.len() => value.start..value.start + len,
        _ => value,
    }
}

/// Letters (no digit) that read as words: camel-case or separated runs of three letters on average, at
/// most one of a single letter (`AWSAccessKeyId`, `IAmSensitive`, `secretsmanager:TagResource`). Random
/// letters of mixed case switch case every two or three characters.
fn looks_like_words(v: &[u8]) -> bool {
    if v.iter().any(u8::is_ascii_digit) {
        return false;
    }
    let mut runs = Vec::new();
    for token in v.split(|b| !b.is_ascii_alphabetic()).filter(|t| !t.is_empty()) {
        let mut start = 0;
        for i in 1..token.len() {
            let next_lower = token.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            let (prev, cur) = (token[i - 1], token[i]);
            // `keyId` splits before `I`; `AWSAccess` before the `A` of `Access`.
            if cur.is_ascii_uppercase() && (prev.is_ascii_lowercase() || prev.is_ascii_uppercase() && next_lower) {
                runs.push(i - start);
                start = i;
            }
        }
        runs.push(token.len() - start);
    }
    let letters: usize = runs.iter().sum();
    !runs.is_empty() && runs.iter().filter(|r| **r == 1).count() <= 1 && letters >= 3 * runs.len()
}

/// Files in a programming language, by extension: there an unquoted right-hand side is an expression.
fn is_source_code(path: &str) -> bool {
    const CODE: &[&str] = &[
        "py", "pyi", "rb", "rake", "js", "mjs", "cjs", "jsx", "ts", "mts", "cts", "tsx", "go", "java", "kt", "kts",
        "scala", "groovy", "php", "pl", "pm", "c", "h", "cc", "cpp", "hpp", "cs", "rs", "swift", "lua", "ex", "exs",
    ];
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').is_some_and(|(_, ext)| CODE.contains(&ext))
}

/// A dotted or plain identifier (`self.db_password`, `os.environ.get`, `get_password`): code, not a
/// value. Real generated secrets mix in digits or symbols.
fn is_identifier(value: &[u8]) -> bool {
    let has_digit = value.iter().any(u8::is_ascii_digit);
    let has_symbol = value.iter().any(|b| !b.is_ascii_alphanumeric() && !matches!(b, b'_' | b'.' | b'-'));
    let has_upper = value.iter().any(u8::is_ascii_uppercase);
    let has_lower = value.iter().any(u8::is_ascii_lowercase);
    !(has_digit || has_symbol || (has_upper && has_lower && !value.contains(&b'_') && !value.contains(&b'.')))
}

/// Key material after a BEGIN marker: lines of nothing but base64 (and PEM headers such as `DEK-Info:`),
/// 64+ characters of it, up to the END marker (or the first other line, within 16 KiB). Lines may be
/// real or `\n` escapes inside a string, and quoted (`"MIIE…\n" +`). Code that looks for a marker
/// (`data.find("-----BEGIN EC PRIVATE KEY-----")`) or prose that quotes one has other text after it.
fn has_key_body(after: &[u8]) -> bool {
    let window = &after[..after.len().min(16 * 1024)];
    let end = find(window, b"-----END");
    let body = &window[..end.unwrap_or(window.len())];
    let mut base64 = 0;
    for line in body.split(|b| *b == b'\n') {
        for piece in split_escaped_newlines(line) {
            let quoting = |b: &u8| b.is_ascii_whitespace() || b"\"',+;".contains(b);
            let from = piece.iter().position(|b| !quoting(b)).unwrap_or(piece.len());
            let to = piece.iter().rposition(|b| !quoting(b)).map_or(from, |p| p + 1);
            let piece = &piece[from..to];
            if piece.is_empty() || piece.contains(&b':') {
                continue;
            }
            if !piece.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) {
                // Past the key when it has no END marker within reach; not a key when the marker follows.
                return end.is_none() && base64 >= 64;
            }
            base64 += piece.len();
        }
    }
    base64 >= 64
}

/// `line` cut at each `\n` escape (two characters).
fn split_escaped_newlines(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let current = rest?;
        match find(current, b"\\n") {
            Some(at) => {
                rest = Some(&current[at + 2..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// How many leading characters of a secret stay visible: enough to recognise the kind (`AKIA`, `ghp_`),
/// never a meaningful share of a short password.
fn kept(len: usize) -> usize {
    match len {
        0..=9 => 0,
        10..=15 => 2,
        _ => 4,
    }
}

/// The line with every secret span on it starred (keeping a short prefix), cut to a window around
/// `focus` when the line is long.
/// Only the window shown is copied: a megabyte-long line with many secrets costs a window per finding, not
/// the line.
pub fn mask(line: &[u8], spans: &[Range<usize>], focus: Range<usize>) -> String {
    let (from, to) = if line.len() > 2 * CONTEXT + focus.len().min(120) {
        let from = focus.start.saturating_sub(CONTEXT);
        (from, (focus.end.min(focus.start + 120) + CONTEXT).min(line.len()))
    } else {
        (0, line.len())
    };
    let mut masked = line[from..to].to_vec();
    for span in spans {
        let starred = (span.start + kept(span.len())).max(from)..span.end.min(to);
        for b in masked.iter_mut().take(starred.end.saturating_sub(from)).skip(starred.start.saturating_sub(from)) {
            *b = b'*';
        }
    }
    let mut shown = String::from_utf8_lossy(&masked).trim().to_string();
    if from > 0 {
        shown.insert(0, '…');
    }
    if to < line.len() {
        shown.push('…');
    }
    shown
}

/// One anchored regex set over glob patterns (`**` any depth, `*` within a name, `?` one character).
pub fn glob_set(globs: &[String]) -> Result<RegexSet, regex::Error> {
    RegexSet::new(globs.iter().map(|g| glob_regex(g)))
}

fn glob_regex(glob: &str) -> String {
    let glob = glob.trim_start_matches('/');
    let mut out = String::from("^");
    let mut rest = glob;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("**/") {
            out.push_str("(?:.*/)?");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("/**") {
            out.push_str("(?:/.*)?");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("**") {
            out.push_str(".*");
            rest = r;
        } else {
            match c {
                '*' => out.push_str("[^/]*"),
                '?' => out.push_str("[^/]"),
                c => out.push_str(&regex::escape(&c.to_string())),
            }
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push('$');
    out
}

/// Files inside installed npm packages other than the kinds that hold credentials
/// ([`is_credential_file`], and not `package.json`). Published libraries' code and docs are full of
/// `password`/`token` identifiers and test keys; scanning them costs as much as decompressing the layer
/// and finds nothing of the image owner's. Skipped with the default allow-list only.
fn is_dependency_code(path: &str) -> bool {
    if !(path.starts_with("node_modules/") || path.contains("/node_modules/")) {
        return false;
    }
    path.ends_with("/package.json") || !is_credential_file(path)
}

/// Files of the kinds that hold credentials, by name: `.npmrc`, `.env*`, `.netrc`, keys, certificates,
/// INI-style configs, shell scripts, and JSON/YAML/TOML configs named so (by the file's or its
/// directory's name: `config/default.json`, `credentials.yml`). Data files (`mime-db/db.json`, botocore's
/// service models) are most of a package's JSON and are not.
fn is_credential_file(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let name = parts.next().unwrap_or(path);
    let parent = parts.next().unwrap_or_default();
    let lower = format!("{parent}/{name}").to_ascii_lowercase();
    let named = ["secret", "credential", "config", "setting", "auth", "token", "key", "passw"]
        .iter()
        .any(|w| lower.contains(w));
    [".npmrc", ".netrc", ".pypirc", ".git-credentials", ".dockercfg"].contains(&name)
        || name.starts_with(".env")
        || name.starts_with("id_rsa")
        || name.starts_with("id_ed25519")
        || [".pem", ".key", ".p12", ".pfx", ".ini", ".cfg", ".conf", ".properties", ".sh"]
            .iter()
            .any(|ext| name.ends_with(ext))
        || ([".json", ".yml", ".yaml", ".toml"].iter().any(|ext| name.ends_with(ext)) && named)
}
