//! DS005: build tools that run in the final stage, where they stay in the shipped image. Tools installed
//! and removed again in the same RUN (`apk add --virtual .build-deps … && apk del .build-deps`, the
//! official images' `apt-get purge` pattern) leave nothing behind and are not reported.

use super::Run;
use super::packages::{Manager, install};
use super::rules::MULTI_STAGE;
use super::shell::{Command, commands};
use crate::misconfig::Misconfiguration;

/// OS packages that are compilers or build systems.
const BUILD_PACKAGES: [&str; 14] = [
    "gcc",
    "g++",
    "make",
    "build-essential",
    "build-base",
    "cmake",
    "clang",
    "autoconf",
    "automake",
    "libtool",
    "pkg-config",
    "pkgconf",
    "cargo",
    "golang",
];

/// Python packages only needed to build others.
const PY_BUILD: [&str; 10] = [
    "wheel",
    "setuptools",
    "cython",
    "build",
    "poetry",
    "maturin",
    "pybind11",
    "scikit-build",
    "setuptools-rust",
    "pip-tools",
];

pub fn check(final_runs: &[Run], node_env_production: bool, out: &mut Vec<Misconfiguration>) {
    for run in final_runs {
        let cmds = commands(&run.script);
        let removes = cmds.iter().any(removes_packages);
        let mut tools: Vec<String> = Vec::new();
        for cmd in &cmds {
            if let Some(i) = install(cmd) {
                let names: Vec<String> = i.names().collect();
                match i.manager {
                    Manager::Apt | Manager::Apk if !removes => tools.extend(
                        names.into_iter().filter(|n| BUILD_PACKAGES.contains(&n.as_str()) || n.ends_with("-dev")),
                    ),
                    Manager::Pip => tools.extend(names.into_iter().filter(|n| PY_BUILD.contains(&n.as_str()))),
                    _ => {}
                }
            }
            if let Some(step) = build_step(cmd, node_env_production) {
                tools.push(step);
            }
        }
        tools.dedup();
        if !tools.is_empty() {
            out.push(MULTI_STAGE.at(run.line, format!("the final stage runs {}", tools.join(", "))));
        }
    }
}

fn removes_packages(cmd: &Command) -> bool {
    match cmd.program() {
        "apt-get" | "apt" => cmd.has("purge") || cmd.has("remove") || cmd.has("autoremove"),
        "apk" => cmd.has("del"),
        _ => false,
    }
}

/// A command that builds or installs development dependencies, described for the message.
fn build_step(cmd: &Command, node_env_production: bool) -> Option<String> {
    let sub = cmd.args().iter().find(|a| !a.starts_with('-')).map(String::as_str).unwrap_or("");
    let prod_only = node_env_production
        || ["--omit=dev", "--production", "--only=prod", "--only=production", "--prod", "-P"]
            .iter()
            .any(|f| cmd.has(f));
    let described = match (cmd.program(), sub) {
        ("npm", "ci") | ("npm", "install" | "i")
            if !prod_only && cmd.args().iter().filter(|a| !a.starts_with('-')).count() == 1 =>
        {
            format!("`npm {sub}` with dev dependencies")
        }
        ("yarn", "" | "install") if !prod_only => "`yarn install` with dev dependencies".to_string(),
        ("pnpm", "install" | "i") if !prod_only => "`pnpm install` with dev dependencies".to_string(),
        ("npm" | "yarn" | "pnpm", "run") if cmd.args().get(1).is_some_and(|s| s.starts_with("build")) => {
            format!("`{} run build`", cmd.program())
        }
        ("cargo", "build" | "install") | ("go", "build" | "install") | ("dotnet", "build" | "publish") => {
            format!("`{} {sub}`", cmd.program())
        }
        ("mvn" | "mvnw", "package" | "install" | "verify")
        | ("gradle" | "gradlew", "build" | "assemble" | "bootJar") => {
            format!("`{} {sub}`", cmd.program())
        }
        ("make", _) => "`make`".to_string(),
        ("pip" | "pip3", "wheel") => "`pip wheel`".to_string(),
        _ => return None,
    };
    Some(described)
}
