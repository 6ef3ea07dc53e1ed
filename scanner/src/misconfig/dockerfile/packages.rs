//! Package-manager invocations in RUN: what apt, apk and pip are asked to install, and how. Used by the
//! hygiene rules (DS007–DS009) and by the build-tool rule (DS005).

use super::shell::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Apt,
    Apk,
    Pip,
}

/// One install command: the manager and the package arguments (flags and their values removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install<'a> {
    pub manager: Manager,
    pub command: &'a Command,
    pub packages: Vec<&'a str>,
}

/// Options that take a value, per manager, so their values are not mistaken for packages.
const APT_VALUED: [&str; 4] = ["-o", "-t", "--option", "--target-release"];
const APK_VALUED: [&str; 8] =
    ["-t", "--virtual", "-X", "--repository", "--root", "-p", "--arch", "--repositories-file"];
const PIP_VALUED: [&str; 14] = [
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-e",
    "--editable",
    "-t",
    "--target",
    "--prefix",
    "-f",
    "--find-links",
];

pub fn install(command: &Command) -> Option<Install<'_>> {
    let args = command.args();
    let (manager, rest, valued): (Manager, &[String], &[&str]) = match command.program() {
        "apt-get" | "apt" => (Manager::Apt, after_subcommand(args, "install", &APT_VALUED)?, &APT_VALUED),
        "apk" => (Manager::Apk, after_subcommand(args, "add", &APK_VALUED)?, &APK_VALUED),
        "pip" | "pip3" => (Manager::Pip, after_subcommand(args, "install", &PIP_VALUED)?, &PIP_VALUED),
        p if p.starts_with("python")
            && args.first().is_some_and(|a| a == "-m")
            && args.get(1).is_some_and(|a| a == "pip" || a == "pip3") =>
        {
            (Manager::Pip, after_subcommand(&args[2..], "install", &PIP_VALUED)?, &PIP_VALUED)
        }
        _ => return None,
    };
    let mut packages = Vec::new();
    let mut skip = false;
    for word in rest {
        if skip {
            skip = false;
        } else if word.starts_with('-') {
            skip = valued.contains(&word.as_str());
        } else {
            packages.push(word.as_str());
        }
    }
    Some(Install { manager, command, packages })
}

fn after_subcommand<'a>(args: &'a [String], sub: &str, valued: &[&str]) -> Option<&'a [String]> {
    let mut skip = false;
    for (i, word) in args.iter().enumerate() {
        if skip {
            skip = false;
        } else if word.starts_with('-') {
            skip = valued.contains(&word.as_str());
        } else {
            return (word == sub).then(|| &args[i + 1..]);
        }
    }
    None
}

impl Install<'_> {
    /// Packages named without a version.
    pub fn unpinned(&self) -> Vec<&str> {
        self.packages
            .iter()
            .copied()
            .filter(|p| match self.manager {
                Manager::Apt => !p.contains('=') && !p.ends_with(".deb"),
                Manager::Apk => !p.contains(['=', '~', '<', '>']) && !p.starts_with('.'),
                // Local paths, archives and VCS URLs are not index packages.
                Manager::Pip => {
                    !p.contains(['=', '<', '>', '~', '@', '/']) && !p.starts_with('.') && !p.ends_with(".whl")
                }
            })
            .collect()
    }

    /// The bare package name (`gcc` of `gcc=4:12.2.0-3`, `psycopg` of `psycopg[binary]==3.1`).
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.packages.iter().map(|p| {
            p.split(['=', '<', '>', '~', '[', '@', ';'])
                .next()
                .unwrap_or(p)
                .trim_end_matches(":amd64")
                .to_ascii_lowercase()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::misconfig::dockerfile::shell::commands;

    #[test]
    fn installs_and_pins() {
        let cmds = commands(
            "apt-get -o Acquire::Retries=3 install -y --no-install-recommends curl=7.88.1-10+deb12u5 git && \
             apk add --no-cache --virtual .build-deps gcc musl-dev=1.2.4-r2 && \
             python3 -m pip install --no-cache-dir -r requirements.txt flask==3.0.2 gunicorn ./dist/app.whl && \
             apt-get update",
        );
        let installs: Vec<Install> = cmds.iter().filter_map(install).collect();
        assert_eq!(installs.len(), 3);
        assert_eq!(installs[0].packages, ["curl=7.88.1-10+deb12u5", "git"]);
        assert_eq!(installs[0].unpinned(), ["git"]);
        assert_eq!(installs[1].packages, ["gcc", "musl-dev=1.2.4-r2"]);
        assert_eq!(installs[1].names().collect::<Vec<_>>(), ["gcc", "musl-dev"]);
        assert_eq!(installs[2].unpinned(), ["gunicorn"]);
    }
}
