//! Dockerfile checks: `strata dockerfile PATH` and `strata image … --dockerfile PATH`. The engine takes the
//! Dockerfile's text and the build context's `.dockerignore` (if any); the caller reads the files.

mod base;
mod build_tools;
mod context;
mod hygiene;
mod instructions;
mod packages;
pub mod parse;
pub mod rules;
pub mod shell;
pub mod stages;
mod user;

pub use context::Ignore;
pub use parse::{ParseError, parse};

use parse::Instruction;
use stages::Stage;

use crate::misconfig::Misconfiguration;

/// What the rules know of the build context besides the Dockerfile.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    /// The text of the `.dockerignore` that applies (`<Dockerfile>.dockerignore`, else the context's).
    pub dockerignore: Option<String>,
}

/// A RUN with the script it executes: its arguments plus any heredoc bodies.
pub(crate) struct Run<'a> {
    pub instruction: &'a Instruction,
    pub line: u32,
    pub script: String,
}

impl<'a> Run<'a> {
    fn new(instruction: &'a Instruction) -> Self {
        let mut script = instruction.text();
        for heredoc in &instruction.heredocs {
            script.push('\n');
            script.push_str(&heredoc.body);
        }
        Run { instruction, line: instruction.line, script }
    }
}

/// Whether a RUN mounts a BuildKit cache at (or above) `dir`: a cache mount never lands in the layer.
pub(crate) fn cache_mount(run: &Instruction, dir: &str) -> bool {
    run.flags.iter().any(|(k, v)| {
        k == "mount"
            && v.contains("type=cache")
            && v.split(',').any(|kv| {
                kv.strip_prefix("target=")
                    .or_else(|| kv.strip_prefix("dst="))
                    .is_some_and(|t| dir.starts_with(t.trim_end_matches('/')))
            })
    })
}

/// Checks a Dockerfile; findings are ordered by line.
pub fn check(text: &str, context: &BuildContext) -> Result<Vec<Misconfiguration>, ParseError> {
    let file = parse(text)?;
    let stages = stages::stages(&file);
    let mut out = Vec::new();
    if stages.is_empty() {
        return Err(ParseError { line: 1, message: "no FROM instruction: not a Dockerfile".to_string() });
    }
    let chain = final_chain(&stages);
    let all_runs: Vec<Run> = stages.iter().flat_map(|s| s.runs()).map(Run::new).collect();
    let final_runs: Vec<Run> = chain.iter().flat_map(|s| s.runs()).map(Run::new).collect();

    base::check(&stages, &mut out);
    context::check(&stages, context.dockerignore.as_deref(), is_node(&stages, &all_runs), &mut out);
    build_tools::check(&final_runs, node_env_production(&chain), &mut out);
    user::check(&chain, &final_runs, &mut out);
    hygiene::check(&all_runs, &mut out);
    instructions::check_add(&file, &mut out);
    instructions::check_secrets(&file, &mut out);
    instructions::check_runs(&all_runs, &mut out);
    instructions::check_healthcheck(&chain, &mut out);
    out.sort_by(|a, b| (a.line, &a.id).cmp(&(b.line, &b.id)));
    Ok(out)
}

/// The final stage and the stages it is built `FROM`, oldest first.
fn final_chain<'s, 'a>(stages: &'s [Stage<'a>]) -> Vec<&'s Stage<'a>> {
    let mut chain = Vec::new();
    let mut at = stages.len().checked_sub(1);
    while let Some(i) = at {
        chain.push(&stages[i]);
        // A stage can only name an earlier one, so this terminates.
        at = stages[i].base_stage.filter(|&b| b < i);
    }
    chain.reverse();
    chain
}

fn is_node(stages: &[Stage], runs: &[Run]) -> bool {
    stages.iter().filter_map(Stage::image).any(|i| i.official_name() == Some("node"))
        || runs
            .iter()
            .any(|r| shell::commands(&r.script).iter().any(|c| matches!(c.program(), "npm" | "yarn" | "pnpm" | "npx")))
        || stages.iter().flat_map(|s| &s.instructions).any(|i| i.keyword == "COPY" && i.text().contains("package"))
}

fn node_env_production(chain: &[&Stage]) -> bool {
    chain.iter().flat_map(|s| &s.instructions).filter(|i| i.keyword == "ENV").any(|i| {
        stages::assignments(&i.text(), false).iter().any(|(k, v)| k == "NODE_ENV" && v.as_deref() == Some("production"))
    })
}

#[cfg(test)]
mod tests;
