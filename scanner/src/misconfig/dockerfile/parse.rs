//! A Dockerfile parser that follows BuildKit's front end where it matters to the rules: parser directives
//! (`# escape=`), line continuations (with comment lines inside them dropped), heredocs (`<<EOF`,
//! `<<-EOF`, quoted delimiters), JSON (exec) and shell forms, and leading `--flag=value` options.
//!
//! Written here rather than taken from crates.io: the one maintained-looking crate, `dockerfile-parser`
//! 0.9, predates heredocs and the `escape` directive, and both occur in real Dockerfiles.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the keyword.
    pub line: u32,
    /// Upper-cased (`RUN`, `FROM`).
    pub keyword: String,
    /// Leading options, `--from=build` as (`from`, `build`); a bare `--link` has an empty value.
    pub flags: Vec<(String, String)>,
    pub args: Args,
    /// Here-documents that follow the instruction, in order.
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// `["executable", "arg"]`
    Json(Vec<String>),
    /// Everything after the keyword and flags, continuations joined.
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: u32,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

impl Instruction {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The arguments as one string: the shell form as written, the JSON form joined by spaces.
    pub fn text(&self) -> String {
        match &self.args {
            Args::Shell(s) => s.clone(),
            Args::Json(words) => words.join(" "),
        }
    }

    /// Whitespace-separated words of the arguments (JSON form: its elements).
    pub fn words(&self) -> Vec<String> {
        match &self.args {
            Args::Shell(s) => s.split_whitespace().map(str::to_string).collect(),
            Args::Json(words) => words.clone(),
        }
    }
}

pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let escape = escape_directive(&lines)?;
    let mut instructions = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut logical = String::new();
        let mut current = line;
        loop {
            match strip_continuation(current, escape) {
                Some(head) => {
                    logical.push_str(head);
                    // BuildKit drops comment and blank lines inside a continuation.
                    while i < lines.len() && is_skippable(lines[i]) {
                        i += 1;
                    }
                    if i == lines.len() {
                        break;
                    }
                    current = lines[i];
                    i += 1;
                }
                None => {
                    logical.push_str(current);
                    break;
                }
            }
        }
        let line_no = u32::try_from(start + 1).unwrap_or(u32::MAX);
        let mut instruction = instruction(&logical, line_no)?;
        for (name, strip_tabs) in heredoc_markers(&instruction) {
            let mut body = String::new();
            loop {
                let Some(raw) = lines.get(i) else {
                    return Err(ParseError { line: line_no, message: format!("heredoc {name} is never closed") });
                };
                i += 1;
                let content = if strip_tabs { raw.trim_start_matches('\t') } else { raw };
                if content == name {
                    break;
                }
                body.push_str(content);
                body.push('\n');
            }
            instruction.heredocs.push(Heredoc { name, body });
        }
        instructions.push(instruction);
    }
    Ok(Dockerfile { instructions })
}

/// Parser directives are `# key=value` comments before anything else; only `escape` changes parsing.
fn escape_directive(lines: &[&str]) -> Result<char, ParseError> {
    let mut escape = '\\';
    for (n, line) in lines.iter().enumerate() {
        let Some(comment) = line.trim().strip_prefix('#') else { break };
        let Some((key, value)) = comment.split_once('=') else { break };
        let key = key.trim().to_ascii_lowercase();
        if key.contains(char::is_whitespace) {
            break;
        }
        if key == "escape" {
            escape = match value.trim() {
                "`" => '`',
                "\\" => '\\',
                other => {
                    return Err(ParseError {
                        line: n as u32 + 1,
                        message: format!("invalid escape directive {other:?}: use \\ or `"),
                    });
                }
            };
        }
    }
    Ok(escape)
}

fn is_skippable(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

fn strip_continuation(line: &str, escape: char) -> Option<&str> {
    line.trim_end().strip_suffix(escape)
}

fn instruction(logical: &str, line: u32) -> Result<Instruction, ParseError> {
    let logical = logical.trim();
    let (keyword, mut rest) = match logical.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim_start()),
        None => (logical, ""),
    };
    if !keyword.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(ParseError { line, message: format!("{keyword:?} is not an instruction") });
    }
    let keyword = keyword.to_ascii_uppercase();
    let mut flags = Vec::new();
    // Only these take flags; `RUN --foo` in other positions would be a program's argument.
    if matches!(keyword.as_str(), "FROM" | "RUN" | "COPY" | "ADD" | "HEALTHCHECK") {
        while let Some(flag) = rest.strip_prefix("--") {
            let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
            let (name, value) = match flag[..end].split_once('=') {
                Some((n, v)) => (n, v),
                None => (&flag[..end], ""),
            };
            flags.push((name.to_ascii_lowercase(), value.to_string()));
            rest = flag[end..].trim_start();
        }
    }
    let args = match rest.strip_prefix('[') {
        Some(_) => match serde_json::from_str::<Vec<String>>(rest) {
            Ok(words) => Args::Json(words),
            Err(_) => Args::Shell(rest.to_string()),
        },
        None => Args::Shell(rest.to_string()),
    };
    Ok(Instruction { line, keyword, flags, args, heredocs: Vec::new() })
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'` in RUN/COPY/ADD, in order (the shell's `<<<` is not one).
fn heredoc_markers(instruction: &Instruction) -> Vec<(String, bool)> {
    let Args::Shell(text) = &instruction.args else { return Vec::new() };
    if !matches!(instruction.keyword.as_str(), "RUN" | "COPY" | "ADD") {
        return Vec::new();
    }
    let mut markers = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("<<") {
        let after = &rest[at + 2..];
        if after.starts_with('<') {
            rest = after.trim_start_matches('<');
            continue;
        }
        let (strip_tabs, after) = match after.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, after),
        };
        let unquoted = after.trim_start_matches(['"', '\'']);
        let name: String = unquoted.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            markers.push((name, strip_tabs));
        }
        rest = after;
    }
    markers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Instruction {
        let file = parse(text).unwrap();
        assert_eq!(file.instructions.len(), 1, "{file:?}");
        file.instructions.into_iter().next().unwrap()
    }

    #[test]
    fn forms_flags_continuations_and_heredocs() {
        let run = one("RUN apt-get update \\\n  # comment inside\n\n  && apt-get install -y curl\n");
        assert_eq!(run.args, Args::Shell("apt-get update   && apt-get install -y curl".into()));
        assert_eq!(run.line, 1);

        let cmd = one("CMD [\"node\", \"server.js\"]");
        assert_eq!(cmd.args, Args::Json(vec!["node".into(), "server.js".into()]));

        let copy = one("COPY --from=build --chown=app:app /out /app");
        assert_eq!(copy.flag("from"), Some("build"));
        assert_eq!(copy.flag("chown"), Some("app:app"));
        assert_eq!(copy.text(), "/out /app");

        let heredoc = one("RUN <<EOF\napt-get update\napt-get install -y gcc\nEOF\n");
        assert_eq!(
            heredoc.heredocs,
            vec![Heredoc { name: "EOF".into(), body: "apt-get update\napt-get install -y gcc\n".into() }]
        );

        let tabs = one("RUN <<-'SCRIPT' bash\n\techo hi\n\tSCRIPT\n");
        assert_eq!(tabs.heredocs[0].body, "echo hi\n");
    }

    #[test]
    fn escape_directive_switches_the_continuation_character() {
        let file =
            parse("# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir c:\\ `\n  && echo done\n")
                .unwrap();
        assert_eq!(file.instructions[1].text(), "dir c:\\   && echo done");
        assert_eq!(file.instructions[1].line, 3);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("FROM x\nRUN <<EOF\necho\n").unwrap_err().line, 2);
        assert_eq!(parse("FROM x\n\"bad\" y\n").unwrap_err().line, 2);
        assert!(parse("# escape=x\nFROM a").is_err());
    }
}
