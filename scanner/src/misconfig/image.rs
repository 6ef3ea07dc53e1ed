//! Rules over a built image: its runtime config, its history (what each Dockerfile step ran), its
//! installed packages and the [`LayerFacts`] collected in the layer walk. They run on every image scan.

use crate::image::ResolvedImage;
use crate::merge::ImageInventory;
use crate::misconfig::dockerfile::shell::pipes_download_to_shell;
use crate::misconfig::dockerfile::stages::assignments;
use crate::misconfig::sensitive::{MASK, is_literal, is_secret_name};
use crate::misconfig::{LayerFacts, Misconfiguration};
use crate::severity::Severity;

/// Compressed size above which an image is reported as oversized: twice a full `python:3.12` image.
pub const DEFAULT_SIZE_LIMIT: u64 = 1024 * 1024 * 1024;

struct Rule {
    id: &'static str,
    title: &'static str,
    severity: Severity,
    fix: &'static str,
}

impl Rule {
    fn finding(&self, message: String) -> Misconfiguration {
        Misconfiguration {
            id: self.id.to_string(),
            title: self.title.to_string(),
            severity: self.severity,
            message,
            resolution: self.fix.to_string(),
            source: "image config".to_string(),
            line: None,
            references: vec![format!("docs/misconfig.md#{}", self.id.to_ascii_lowercase())],
        }
    }
}

const ROOT: Rule = Rule {
    id: "IMG001",
    title: "Image runs as root",
    severity: Severity::High,
    fix: "Set a non-root `USER name:group` in the Dockerfile's final stage",
};
const SECRET: Rule = Rule {
    id: "IMG002",
    title: "Secret in the image config or history",
    severity: Severity::High,
    fix: "Rotate the secret now: anyone who can pull the image can read it. Pass secrets with `RUN --mount=type=secret` and at run time, never with ENV, LABEL or --build-arg",
};
const SSH_PORT: Rule = Rule {
    id: "IMG003",
    title: "Port 22 exposed",
    severity: Severity::Medium,
    fix: "Do not run an SSH server in a container; use `docker exec` / `kubectl exec` and remove `EXPOSE 22`",
};
const NO_HEALTHCHECK: Rule = Rule {
    id: "IMG004",
    title: "No HEALTHCHECK",
    severity: Severity::Low,
    fix: "Add a HEALTHCHECK to the Dockerfile (or rely on the orchestrator's probes and say so with `HEALTHCHECK NONE`)",
};
const ADD_URL: Rule = Rule {
    id: "IMG005",
    title: "ADD of a remote URL in history",
    severity: Severity::Medium,
    fix: "Download with curl in a RUN step and verify a pinned checksum, or use `ADD --checksum=`",
};
const PIPE_SHELL: Rule = Rule {
    id: "IMG006",
    title: "Downloaded script piped into a shell in history",
    severity: Severity::Medium,
    fix: "Download to a file, verify its checksum or signature, then run it",
};
const CACHES: Rule = Rule {
    id: "IMG007",
    title: "Package manager cache left in a layer",
    severity: Severity::Low,
    fix: "Clean the cache in the same RUN that fills it (`rm -rf /var/lib/apt/lists/*`, `apk add --no-cache`, `pip install --no-cache-dir`)",
};
const SUDO: Rule = Rule {
    id: "IMG008",
    title: "sudo installed",
    severity: Severity::Medium,
    fix: "Remove sudo; do privileged setup at build time as root, then switch to the unprivileged USER",
};
const SSHD: Rule = Rule {
    id: "IMG009",
    title: "SSH server installed",
    severity: Severity::Medium,
    fix: "Remove openssh-server; containers are entered with exec, not ssh",
};
const SETUID: Rule = Rule {
    id: "IMG010",
    title: "setuid/setgid files added by application layers",
    severity: Severity::Medium,
    fix: "Remove the setuid/setgid bits (`chmod u-s,g-s`) unless the binary must raise privileges, and run with `--security-opt no-new-privileges`",
};
const WORLD_WRITABLE: Rule = Rule {
    id: "IMG011",
    title: "World-writable files",
    severity: Severity::Low,
    fix: "Give files to the application's user and group instead of mode 777/666 (`chown app:app`, `chmod 750`)",
};
const SIZE: Rule = Rule {
    id: "IMG012",
    title: "Image is very large",
    severity: Severity::Low,
    fix: "Use a slim or distroless base and a multi-stage build so only the application's runtime files ship",
};

pub struct ImageChecks<'a> {
    pub image: &'a ResolvedImage,
    pub inventory: &'a ImageInventory,
    /// One per layer, bottom first; empty when the caller has none (rules needing them are skipped).
    pub facts: &'a [LayerFacts],
    /// Layers from the bottom that belong to the base image (see [`crate::report::advice::base_layers`]).
    pub base_layers: usize,
    pub size_limit: u64,
}

pub fn check(c: &ImageChecks) -> Vec<Misconfiguration> {
    let mut out = Vec::new();
    let runtime = c.image.config.config.clone().unwrap_or_default();
    let user = runtime.user.as_deref().unwrap_or("").trim();
    let name = user.split(':').next().unwrap_or("");
    if name.is_empty() || name == "root" || name == "0" {
        let how = if user.is_empty() { "no USER is set".to_string() } else { format!("USER is `{user}`") };
        out.push(ROOT.finding(format!("{how}, so the container runs as root")));
    }
    for var in runtime.env.iter().flatten() {
        if let Some((k, v)) = var.split_once('=')
            && is_secret_name(k)
            && is_literal(v)
        {
            out.push(SECRET.finding(format!("environment variable `{k}={MASK}` is stored in the image config")));
        }
    }
    for (k, v) in runtime.labels.iter().flatten() {
        if is_secret_name(k) && is_literal(v) {
            out.push(SECRET.finding(format!("label `{k}={MASK}` is stored in the image config")));
        }
    }
    if runtime.exposed_ports.iter().flatten().any(|(port, _)| port.split('/').next() == Some("22")) {
        out.push(SSH_PORT.finding("the image exposes port 22 (ssh)".to_string()));
    }
    if runtime.healthcheck.is_none() {
        out.push(NO_HEALTHCHECK.finding("the image config has no Healthcheck".to_string()));
    }
    history(c, &mut out);
    packages(c.inventory, &mut out);
    facts(c, &mut out);
    let size: i64 = c.image.layers.iter().map(|l| l.descriptor.size.max(0)).sum();
    if size as u64 > c.size_limit {
        out.push(SIZE.finding(format!(
            "the layers add up to {} MiB compressed (limit {} MiB)",
            size as u64 / (1024 * 1024),
            c.size_limit / (1024 * 1024)
        )));
    }
    out
}

fn history(c: &ImageChecks, out: &mut Vec<Misconfiguration>) {
    for (step, entry) in c.image.config.history.iter().enumerate() {
        let Some(created_by) = entry.created_by.as_deref() else { continue };
        let (build_args, command) = split_build_args(created_by);
        let n = step + 1;
        for (k, v) in build_args {
            if is_secret_name(&k) && v.as_deref().is_some_and(is_literal) {
                out.push(SECRET.finding(format!("history step {n} records build argument `{k}={MASK}`")));
            }
        }
        let instruction = command.trim_start_matches("/bin/sh -c ").trim_start_matches("#(nop)").trim();
        let (keyword, rest) = instruction.split_once(char::is_whitespace).unwrap_or((instruction, ""));
        let rest = rest.trim_end_matches("# buildkit").trim();
        match keyword {
            "ENV" | "LABEL" | "ARG" => {
                for (k, v) in assignments(rest, keyword != "ENV") {
                    if is_secret_name(&k) && v.as_deref().is_some_and(is_literal) {
                        out.push(SECRET.finding(format!("history step {n} records `{keyword} {k}={MASK}`")));
                    }
                }
            }
            "ADD" => {
                if let Some(url) =
                    rest.split_whitespace().find(|w| w.starts_with("http://") || w.starts_with("https://"))
                {
                    out.push(ADD_URL.finding(format!("history step {n} adds {url}")));
                }
            }
            "COPY" | "CMD" | "ENTRYPOINT" | "WORKDIR" | "EXPOSE" | "USER" | "VOLUME" | "HEALTHCHECK" => {}
            _ => {
                let script = instruction.strip_prefix("RUN ").unwrap_or(instruction).trim_end_matches("# buildkit");
                let script = script.trim_start().trim_start_matches("/bin/sh -c ");
                if let Some(how) = pipes_download_to_shell(script) {
                    out.push(PIPE_SHELL.finding(format!("history step {n} runs `{how}`")));
                }
            }
        }
    }
}

/// A RUN with build arguments is recorded as `|2 A=1 B=2 /bin/sh -c …`: the values are in the history.
fn split_build_args(created_by: &str) -> (Vec<(String, Option<String>)>, &str) {
    let text = created_by.trim().strip_prefix("RUN ").unwrap_or(created_by.trim());
    let Some(counted) = text.strip_prefix('|') else { return (Vec::new(), created_by) };
    let digits: String = counted.chars().take_while(char::is_ascii_digit).collect();
    let Ok(count) = digits.parse::<usize>() else { return (Vec::new(), created_by) };
    let mut rest = counted[digits.len()..].trim_start();
    let mut args = Vec::new();
    for _ in 0..count {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        if let Some((k, v)) = rest[..end].split_once('=') {
            args.push((k.to_string(), Some(v.to_string())));
        }
        rest = rest[end..].trim_start();
    }
    (args, rest)
}

fn packages(inventory: &ImageInventory, out: &mut Vec<Misconfiguration>) {
    let installed = |name: &str| inventory.packages.iter().find(|p| p.package.kind.is_os() && p.package.name == name);
    if let Some(p) = installed("sudo") {
        out.push(SUDO.finding(format!("sudo {} is installed (layer #{})", p.package.version, p.layer.index)));
    }
    for name in ["openssh-server", "openssh-server-pam", "dropbear"] {
        if let Some(p) = installed(name) {
            out.push(SSHD.finding(format!("{name} {} is installed (layer #{})", p.package.version, p.layer.index)));
        }
    }
}

fn facts(c: &ImageChecks, out: &mut Vec<Misconfiguration>) {
    for (index, facts) in c.facts.iter().enumerate() {
        for (dir, usage) in &facts.caches {
            out.push(CACHES.finding(format!(
                "layer #{index} leaves {} files ({} KiB) of {} in /{dir}",
                usage.files,
                usage.bytes / 1024,
                LayerFacts::cache_label(dir)
            )));
        }
        if index >= c.base_layers && !facts.setuid.is_empty() {
            out.push(SETUID.finding(format!(
                "layer #{index} adds {} setuid/setgid files: {}",
                facts.setuid.count,
                facts.setuid.paths.join(", ")
            )));
        }
        if !facts.world_writable.is_empty() {
            out.push(WORLD_WRITABLE.finding(format!(
                "layer #{index} has {} world-writable files: {}",
                facts.world_writable.count,
                facts.world_writable.paths.join(", ")
            )));
        }
    }
}

#[cfg(test)]
mod tests;
