//! Rules about single instructions: ADD (DS010, DS011), secrets in ARG/ENV (DS013), download piped to a
//! shell (DS014), HEALTHCHECK (DS015), sudo (DS016).

use super::Run;
use super::parse::{Dockerfile, Instruction};
use super::rules::{ADD_INSTEAD_OF_COPY, ADD_REMOTE, HEALTHCHECK, PIPE_TO_SHELL, SECRET_IN_BUILD_ARGS, SUDO};
use super::shell::{commands, pipes_download_to_shell};
use super::stages::{Stage, assignments};
use crate::misconfig::Misconfiguration;
use crate::misconfig::sensitive::{MASK, is_literal, is_secret_name};

const ARCHIVES: [&str; 11] =
    [".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".gz", ".xz"];

pub fn is_remote(source: &str) -> bool {
    ["http://", "https://", "git@", "git://"].iter().any(|p| source.starts_with(p))
}

pub fn check_add(file: &Dockerfile, out: &mut Vec<Misconfiguration>) {
    for add in file.instructions.iter().filter(|i| i.keyword == "ADD") {
        let words = add.words();
        let Some((_, sources)) = words.split_last() else { continue };
        if add.heredocs.is_empty() {
            for source in sources {
                if is_remote(source) {
                    if add.flag("checksum").is_none() {
                        out.push(ADD_REMOTE.at(add.line, format!("`ADD {source}` downloads without verifying")));
                    }
                } else if add.flag("from").is_none()
                    && !ARCHIVES.iter().any(|a| source.to_ascii_lowercase().ends_with(a))
                {
                    out.push(
                        ADD_INSTEAD_OF_COPY.at(add.line, format!("`ADD {source}` copies a plain file or directory")),
                    );
                }
            }
        }
    }
}

pub fn check_secrets(file: &Dockerfile, out: &mut Vec<Misconfiguration>) {
    for i in file.instructions.iter().filter(|i| i.keyword == "ENV" || i.keyword == "ARG") {
        for (name, value) in assignments(&i.text(), i.keyword == "ARG") {
            if is_secret_name(&name) && value.as_deref().is_some_and(is_literal) {
                out.push(
                    SECRET_IN_BUILD_ARGS
                        .at(i.line, format!("`{} {name}={MASK}` sets a secret in the image", i.keyword)),
                );
            }
        }
    }
}

pub fn check_runs(runs: &[Run], out: &mut Vec<Misconfiguration>) {
    for run in runs {
        if let Some(how) = pipes_download_to_shell(&run.script) {
            out.push(PIPE_TO_SHELL.at(run.line, format!("`{how}` runs a downloaded script")));
        }
        if commands(&run.script).iter().any(|c| c.sudo) {
            out.push(SUDO.at(run.line, "a RUN step uses sudo"));
        }
    }
}

pub fn check_healthcheck(chain: &[&Stage], out: &mut Vec<Misconfiguration>) {
    let Some(last) = chain.last() else { return };
    let has = chain.iter().flat_map(|s| &s.instructions).any(|i: &&Instruction| i.keyword == "HEALTHCHECK");
    if !has {
        out.push(HEALTHCHECK.at(last.from.line, "the final stage defines no HEALTHCHECK"));
    }
}
