//! Package-install hygiene in every RUN: recommends (DS007), caches left in the layer (DS008), unpinned
//! versions (DS009).

use super::packages::{Manager, install};
use super::rules::{NO_RECOMMENDS, PACKAGE_CACHE, UNPINNED_PACKAGES};
use super::shell::commands;
use super::{Run, cache_mount};
use crate::misconfig::Misconfiguration;

pub fn check(runs: &[Run], out: &mut Vec<Misconfiguration>) {
    for run in runs {
        let cmds = commands(&run.script);
        let installs: Vec<_> = cmds.iter().filter_map(install).collect();
        let mut unpinned = Vec::new();
        let (mut apt, mut apk) = (false, false);
        for i in &installs {
            match i.manager {
                Manager::Apt => {
                    apt = true;
                    let off = i.command.has("--no-install-recommends")
                        || i.command
                            .args()
                            .iter()
                            .any(|a| a.contains("Install-Recommends=false") || a.contains("Install-Recommends=0"));
                    if !off {
                        out.push(NO_RECOMMENDS.at(run.line, "`apt-get install` installs recommended packages too"));
                    }
                }
                Manager::Apk => apk |= !i.command.has("--no-cache"),
                Manager::Pip => {}
            }
            unpinned.extend(i.unpinned());
        }
        if apt && !run.script.contains("/var/lib/apt/lists") && !cache_mount(run.instruction, "/var/lib/apt") {
            out.push(
                PACKAGE_CACHE.at(run.line, "`apt-get install` without removing /var/lib/apt/lists/* in the same RUN"),
            );
        }
        if apk && !run.script.contains("/var/cache/apk") && !cache_mount(run.instruction, "/var/cache/apk") {
            out.push(PACKAGE_CACHE.at(run.line, "`apk add` without `--no-cache`"));
        }
        if !unpinned.is_empty() {
            let shown: Vec<&str> = unpinned.iter().take(6).copied().collect();
            let more = if unpinned.len() > shown.len() {
                format!(" and {} more", unpinned.len() - shown.len())
            } else {
                String::new()
            };
            out.push(UNPINNED_PACKAGES.at(run.line, format!("no version for {}{more}", shown.join(", "))));
        }
    }
}
