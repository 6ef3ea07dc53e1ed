//! Just enough of POSIX shell to see which programs a `RUN` line runs with which arguments: words with
//! quotes and escapes, and the operators that separate commands (`&&`, `||`, `;`, `|`, `&`, newlines).
//! Substitutions stay inside their word; no expansion happens.

/// One simple command: its words, with leading `VAR=value` assignments and `sudo`/`env` wrappers removed
/// (`sudo` is remembered, a rule looks for it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    pub words: Vec<String>,
    pub sudo: bool,
    /// Its output is piped into the next command of the pipeline.
    pub piped: bool,
}

impl Command {
    pub fn program(&self) -> &str {
        self.words.first().map_or("", |w| w.rsplit('/').next().unwrap_or(w))
    }

    pub fn args(&self) -> &[String] {
        self.words.get(1..).unwrap_or(&[])
    }

    pub fn has(&self, word: &str) -> bool {
        self.args().iter().any(|w| w == word)
    }

    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.args().iter().any(|w| w.starts_with(prefix))
    }
}

/// The commands of a script, in order. A command whose `piped` is set feeds the one after it.
pub fn commands(script: &str) -> Vec<Command> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();
    let finish_word = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                word.push(n);
                            }
                        }
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                // A backslash-newline is a continuation; anything else is taken literally.
                match chars.next() {
                    Some('\n') | None => {}
                    Some(n) => {
                        in_word = true;
                        word.push(n);
                    }
                }
            }
            '#' if !in_word => {
                for q in chars.by_ref() {
                    if q == '\n' {
                        break;
                    }
                }
                finish_word(&mut word, &mut in_word, &mut words);
                push(&mut out, &mut words, false);
            }
            '$' if chars.peek() == Some(&'(') => {
                // Keep `$(…)` in one word, nested parentheses included.
                in_word = true;
                word.push('$');
                let mut depth = 0;
                for q in chars.by_ref() {
                    word.push(q);
                    match q {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            '|' | '&' | ';' | '\n' | '(' | ')' | '{' | '}' if !(matches!(c, '{' | '}') && in_word) => {
                finish_word(&mut word, &mut in_word, &mut words);
                let doubled = matches!(c, '|' | '&') && chars.peek() == Some(&c);
                if doubled {
                    chars.next();
                }
                let piped = c == '|' && !doubled;
                push(&mut out, &mut words, piped);
            }
            c if c.is_whitespace() => finish_word(&mut word, &mut in_word, &mut words),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    finish_word(&mut word, &mut in_word, &mut words);
    push(&mut out, &mut words, false);
    out
}

fn push(out: &mut Vec<Command>, words: &mut Vec<String>, piped: bool) {
    let mut taken = std::mem::take(words);
    let mut sudo = false;
    while let Some(first) = taken.first() {
        let is_assignment = first
            .split_once('=')
            .is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let program = first.rsplit('/').next().unwrap_or(first);
        if is_assignment || matches!(program, "env" | "exec" | "then" | "do" | "else" | "if" | "time" | "!") {
            taken.remove(0);
        } else if program == "sudo" {
            sudo = true;
            taken.remove(0);
            while taken.first().is_some_and(|w| w.starts_with('-')) {
                taken.remove(0);
            }
        } else {
            break;
        }
    }
    if taken.is_empty() {
        // `cmd |` followed by a newline continues the pipeline in the next command.
        if piped && let Some(last) = out.last_mut() {
            last.piped = true;
        }
        return;
    }
    out.push(Command { words: taken, sudo, piped });
}

/// Whether a downloader's output is run by a shell: `curl … | sh`, `wget -O- … | bash`, `sh -c "$(curl …)"`.
pub fn pipes_download_to_shell(script: &str) -> Option<String> {
    const DOWNLOADERS: [&str; 2] = ["curl", "wget"];
    const SHELLS: [&str; 7] = ["sh", "bash", "zsh", "dash", "ash", "ksh", "python3"];
    let cmds = commands(script);
    for pair in cmds.windows(2) {
        if pair[0].piped && DOWNLOADERS.contains(&pair[0].program()) && SHELLS.contains(&pair[1].program()) {
            return Some(format!("{} … | {}", pair[0].program(), pair[1].program()));
        }
    }
    cmds.iter().find_map(|c| {
        let substituted = c.args().iter().any(|w| DOWNLOADERS.iter().any(|d| w.starts_with(&format!("$({d} "))));
        (SHELLS.contains(&c.program()) && substituted).then(|| format!("{} -c \"$(curl …)\"", c.program()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(script: &str) -> Vec<String> {
        commands(script).iter().map(|c| c.words.join(" ")).collect()
    }

    #[test]
    fn splits_commands_and_strips_wrappers() {
        assert_eq!(
            programs(
                "DEBIAN_FRONTEND=noninteractive apt-get update && sudo -E apt-get install -y 'a b' \"c\\\"d\"; rm -rf /x"
            ),
            ["apt-get update", "apt-get install -y a b c\"d", "rm -rf /x"]
        );
        assert!(commands("sudo make install")[0].sudo);
        assert_eq!(
            programs("set -eux; \\\n  if [ -x y ]; then echo $(uname -a | tr a b); fi"),
            ["set -eux", "[ -x y ]", "echo $(uname -a | tr a b)", "fi"]
        );
    }

    #[test]
    fn finds_downloads_run_by_a_shell() {
        for (script, hit) in [
            ("curl -fsSL https://deb.nodesource.com/setup_20.x | bash -", true),
            ("wget -qO- https://get.docker.com |\n sh", true),
            ("sh -c \"$(curl -fsSL https://raw.githubusercontent.com/ohmyzsh/ohmyzsh/master/tools/install.sh)\"", true),
            ("curl -fsSLo /tmp/x.tgz https://example.org/x.tgz && echo 'abc  /tmp/x.tgz' | sha256sum -c -", false),
            ("curl -fsSL https://example.org/key.asc | gpg --dearmor -o /usr/share/keyrings/x.gpg", false),
        ] {
            assert_eq!(pipes_download_to_shell(script).is_some(), hit, "{script}");
        }
    }
}
