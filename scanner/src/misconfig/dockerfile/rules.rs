//! The Dockerfile rule catalogue: id, default severity, why it matters and how to fix it. DS001–DS006 are
//! the six Docker practices this project was asked to enforce; the rest are the usual hygiene checks.
//! `docs/misconfig.md` explains each and lists how it maps onto hadolint's rules.

use crate::misconfig::Misconfiguration;
use crate::severity::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub why: &'static str,
    pub fix: &'static str,
}

impl Rule {
    /// A finding of this rule at `line`, `specific` saying what exactly is wrong there.
    pub fn at(&self, line: u32, specific: impl Into<String>) -> Misconfiguration {
        self.with_severity(self.severity, Some(line), specific)
    }

    pub fn with_severity(
        &self,
        severity: Severity,
        line: Option<u32>,
        specific: impl Into<String>,
    ) -> Misconfiguration {
        Misconfiguration {
            id: self.id.to_string(),
            title: self.title.to_string(),
            severity,
            message: format!("{}. {}", specific.into(), self.why),
            resolution: self.fix.to_string(),
            source: "Dockerfile".to_string(),
            line,
            references: vec![format!("docs/misconfig.md#{}", self.id.to_ascii_lowercase())],
        }
    }
}

macro_rules! rule {
    ($name:ident, $id:literal, $sev:ident, $title:literal, $why:literal, $fix:literal) => {
        pub const $name: Rule = Rule { id: $id, title: $title, severity: Severity::$sev, why: $why, fix: $fix };
    };
}

rule!(
    OFFICIAL_BASE,
    "DS001",
    Medium,
    "Base image is not a Docker Official Image",
    "Official images are built from public Dockerfiles, rebuilt on every base update and security-reviewed; an arbitrary publisher's image can carry anything and may stop being updated",
    "Build FROM a Docker Official Image (node, python, debian, …) or a minimal base from a known publisher (gcr.io/distroless, cgr.dev/chainguard), and add what you need on top"
);
rule!(
    PINNED_BASE,
    "DS002",
    Medium,
    "Base image version is not pinned",
    "Without a tag the base is `latest`, which moves: a rebuild can change major version, break the build or the app, and change the vulnerabilities shipped, without any change to the Dockerfile",
    "Name a version tag (`node:20.11-bookworm-slim`); best, also pin the digest (`node:20.11-bookworm-slim@sha256:…`) and let a bot (Renovate, Dependabot) bump it"
);
rule!(
    SMALLER_BASE,
    "DS003",
    Low,
    "Final stage uses a large base image",
    "Full variants carry compilers, headers and hundreds of packages the application does not run; every one is attack surface and a source of vulnerability findings",
    "Use the `-slim` or `-alpine` variant, or copy the built application into a distroless image (gcr.io/distroless/…) in a final stage"
);
rule!(
    DOCKERIGNORE,
    "DS004",
    Medium,
    "Build context is not filtered by .dockerignore",
    "Everything in the context is sent to the builder and `COPY . .` puts it in the image: the git history, `.env` files, private keys, a local node_modules",
    "Add a `.dockerignore` next to the Dockerfile that excludes at least `.git`, `.env`, `*.pem`, `id_rsa*` and, for Node projects, `node_modules`"
);
rule!(
    MULTI_STAGE,
    "DS005",
    Medium,
    "Build tools run in the final stage",
    "Compilers, dev dependencies and build caches end up in the shipped image, making it larger and adding packages with vulnerabilities the application never uses",
    "Build in a first stage (`FROM … AS build`) and `COPY --from=build` only the artefacts into a small final stage; install production dependencies only (`npm ci --omit=dev`)"
);
rule!(
    NON_ROOT_USER,
    "DS006",
    High,
    "Final stage does not run as a least-privileged user with its own group",
    "A process running as root in the container is root on the host's kernel: one escape or writable host mount away from the host. A user without a group of its own gets GID 0, root's group, when it has no /etc/passwd entry",
    "Create a dedicated user and group (`groupadd -r app && useradd -r -g app app`, or `addgroup -S app && adduser -S app -G app`) and end the final stage with `USER app:app` (or numeric `USER 10001:10001`)"
);
rule!(
    NO_RECOMMENDS,
    "DS007",
    Low,
    "apt-get install without --no-install-recommends",
    "Recommended packages are not needed to run the installed ones; they often double the number of packages installed",
    "Add `--no-install-recommends` to `apt-get install`"
);
rule!(
    PACKAGE_CACHE,
    "DS008",
    Low,
    "Package manager cache left in the layer",
    "The package lists and caches stay in the layer even if a later step deletes them, adding tens of megabytes to every pull",
    "In the same RUN as the install: `rm -rf /var/lib/apt/lists/*` after apt-get, `apk add --no-cache` for apk, `pip install --no-cache-dir`; or use a BuildKit cache mount"
);
rule!(
    UNPINNED_PACKAGES,
    "DS009",
    Low,
    "Packages installed without a version",
    "An unpinned install gets whatever version the mirror has that day, so two builds of the same Dockerfile differ",
    "Pin versions (`curl=7.88.1-10+deb12u5`, `curl=~8.5`, `flask==3.0.2`, `-r requirements.txt` with pinned requirements)"
);
rule!(
    ADD_INSTEAD_OF_COPY,
    "DS010",
    Low,
    "ADD used where COPY serves",
    "ADD also fetches URLs and unpacks archives; using it for plain files hides which of those behaviours is intended",
    "Use COPY for local files and directories; keep ADD for local tar archives that should be extracted"
);
rule!(
    ADD_REMOTE,
    "DS011",
    Medium,
    "ADD fetches a remote URL",
    "The download is not verified, is cached by URL rather than content, and leaves the fetched file in a layer",
    "Download in a RUN step with `curl -fsSLO` and check a pinned checksum (`sha256sum -c`), or use `ADD --checksum=sha256:…`"
);
rule!(
    COPY_ALL_UNFILTERED,
    "DS012",
    Medium,
    "COPY of the whole context without a .dockerignore",
    "With no .dockerignore, `COPY .` copies the whole directory: secrets, the git history and local build output included",
    "Add a `.dockerignore`, or copy only what the image needs (`COPY package*.json ./`, `COPY src/ src/`)"
);
rule!(
    SECRET_IN_BUILD_ARGS,
    "DS013",
    High,
    "Secret in ARG or ENV",
    "ENV values are stored in the image config and ARG values in its history: anyone who can pull the image can read them",
    "Pass secrets at build time with `RUN --mount=type=secret,id=…` and at run time through the orchestrator's secrets, never in ARG or ENV"
);
rule!(
    PIPE_TO_SHELL,
    "DS014",
    Medium,
    "Downloaded script piped into a shell",
    "Whatever the server returns that day is executed as root during the build, unverified; a truncated download runs half a script",
    "Download to a file, verify a pinned checksum or signature, then run it"
);
rule!(
    HEALTHCHECK,
    "DS015",
    Low,
    "No HEALTHCHECK in the final stage",
    "Without a health check the runtime only knows the process is alive, not that it serves",
    "Add `HEALTHCHECK CMD …` that probes the service (or `HEALTHCHECK NONE` when the orchestrator probes instead)"
);
rule!(
    SUDO,
    "DS016",
    Medium,
    "sudo used in RUN",
    "RUN steps already run as the current USER; sudo in an image hints at a user allowed to become root at run time, with unpredictable TTY and signal handling",
    "Drop sudo: switch with `USER root` for the steps that need it and back to the unprivileged user afterwards"
);

pub const ALL: [Rule; 16] = [
    OFFICIAL_BASE,
    PINNED_BASE,
    SMALLER_BASE,
    DOCKERIGNORE,
    MULTI_STAGE,
    NON_ROOT_USER,
    NO_RECOMMENDS,
    PACKAGE_CACHE,
    UNPINNED_PACKAGES,
    ADD_INSTEAD_OF_COPY,
    ADD_REMOTE,
    COPY_ALL_UNFILTERED,
    SECRET_IN_BUILD_ARGS,
    PIPE_TO_SHELL,
    HEALTHCHECK,
    SUDO,
];
