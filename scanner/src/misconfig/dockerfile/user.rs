//! DS006: the final stage must end as a non-root user that has its own group.

use super::Run;
use super::rules::NON_ROOT_USER;
use super::shell::commands;
use super::stages::Stage;
use crate::misconfig::Misconfiguration;
use crate::severity::Severity;

/// `chain` is the final stage preceded by the stages it builds on (`FROM build AS final`), oldest first.
pub fn check(chain: &[&Stage], runs: &[Run], out: &mut Vec<Misconfiguration>) {
    let Some(last_stage) = chain.last() else { return };
    let last_user = chain.iter().rev().flat_map(|s| s.instructions.iter().rev()).find(|i| i.keyword == "USER");
    let Some(user) = last_user else {
        // distroless `:nonroot` and similar bases set a non-root USER in their own config.
        let base_nonroot =
            chain.first().and_then(|s| s.image()).and_then(|i| i.tag).is_some_and(|t| t.contains("nonroot"));
        if !base_nonroot {
            out.push(NON_ROOT_USER.at(last_stage.from.line, "the final stage has no USER, so it runs as root"));
        }
        return;
    };
    let spec = user.text();
    let (name, group) = match spec.trim().split_once(':') {
        Some((n, g)) => (n.to_string(), Some(g.to_string())),
        None => (spec.trim().to_string(), None),
    };
    if name == "root" || name == "0" {
        out.push(NON_ROOT_USER.at(user.line, format!("`USER {spec}` runs the container as root")));
        return;
    }
    match group.as_deref() {
        Some("root" | "0") => {
            out.push(NON_ROOT_USER.with_severity(
                Severity::Medium,
                Some(user.line),
                format!("`USER {spec}` puts the user in root's group"),
            ));
        }
        Some(_) => {}
        None if name.chars().all(|c| c.is_ascii_digit()) => out.push(NON_ROOT_USER.with_severity(
            Severity::Medium,
            Some(user.line),
            format!("`USER {spec}` names no group; a UID without a passwd entry runs with GID 0"),
        )),
        None if !creates_group(runs, &name) => out.push(NON_ROOT_USER.with_severity(
            Severity::Low,
            Some(user.line),
            format!("`USER {spec}` names no group and the Dockerfile creates no group for it"),
        )),
        None => {}
    }
}

/// Whether a RUN creates a group called `name` (or a user with a same-named group).
fn creates_group(runs: &[Run], name: &str) -> bool {
    runs.iter().flat_map(|r| commands(&r.script)).any(|c| match c.program() {
        "groupadd" | "addgroup" => c.args().last().is_some_and(|a| a == name),
        "useradd" => c.has("-U") || c.has("--user-group") || c.args().windows(2).any(|w| w[0] == "-g" && w[1] == name),
        "adduser" => {
            c.has("--group") || c.args().windows(2).any(|w| (w[0] == "-G" || w[0] == "--ingroup") && w[1] == name)
        }
        _ => false,
    })
}
