//! The base-image practices: an official image (DS001), a pinned version (DS002), a small variant in the
//! final stage (DS003).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use super::rules::{OFFICIAL_BASE, PINNED_BASE, SMALLER_BASE};
use super::stages::{ImageRef, Stage};
use crate::misconfig::Misconfiguration;

/// Docker Official Images (`docker-library/official-images`, `library/`), one name a line.
static OFFICIAL: LazyLock<BTreeSet<&'static str>> = LazyLock::new(|| {
    include_str!("official-images.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Minimal-base publishers that DS003 itself recommends; flagging them as unofficial would contradict it.
const TRUSTED_MINIMAL: [(&str, &str); 2] = [("gcr.io", "distroless/"), ("cgr.dev", "chainguard/")];

/// Official images whose default variant is a full build environment, with the variant to suggest.
/// Build-only images (`golang`, `rust`, `gcc`, `maven`, …) have no small variant that fits a runtime.
const FAT: [(&str, Suggest); 14] = [
    ("node", Suggest::Slim),
    ("python", Suggest::Slim),
    ("ruby", Suggest::Slim),
    ("perl", Suggest::Slim),
    ("debian", Suggest::Slim),
    ("openjdk", Suggest::Jre),
    ("eclipse-temurin", Suggest::Jre),
    ("amazoncorretto", Suggest::Alpine),
    ("golang", Suggest::Distroless("gcr.io/distroless/static-debian12")),
    ("rust", Suggest::Distroless("gcr.io/distroless/cc-debian12")),
    ("gcc", Suggest::Distroless("gcr.io/distroless/cc-debian12")),
    ("buildpack-deps", Suggest::Distroless("debian:bookworm-slim")),
    ("maven", Suggest::Distroless("eclipse-temurin:21-jre")),
    ("gradle", Suggest::Distroless("eclipse-temurin:21-jre")),
];

#[derive(Debug, Clone, Copy)]
enum Suggest {
    Slim,
    Jre,
    Alpine,
    /// A different image altogether: a toolchain image should never be the runtime.
    Distroless(&'static str),
}

pub fn check(stages: &[Stage], out: &mut Vec<Misconfiguration>) {
    let mut seen = BTreeSet::new();
    for stage in stages {
        let Some(image) = stage.image() else { continue };
        if !seen.insert(stage.base.clone()) {
            continue;
        }
        let line = stage.from.line;
        if !is_official(&image) {
            out.push(OFFICIAL_BASE.at(line, format!("`FROM {}` is not a Docker Official Image", stage.base)));
        }
        match (&image.tag, &image.digest) {
            (_, Some(_)) => {}
            (None, None) => {
                out.push(PINNED_BASE.at(line, format!("`FROM {}` has no tag, so it means `latest`", stage.base)))
            }
            (Some(tag), None) if tag == "latest" => {
                out.push(PINNED_BASE.at(line, format!("`FROM {}` uses the moving `latest` tag", stage.base)));
            }
            _ => {}
        }
    }
    if let Some(last) = stages.last()
        && let Some(image) = last.image()
        && let Some(suggestion) = smaller(&image)
    {
        out.push(SMALLER_BASE.at(last.from.line, format!("the final stage runs on `{}`; {suggestion}", last.base)));
    }
}

pub fn is_official(image: &ImageRef) -> bool {
    if let Some(name) = image.official_name() {
        return OFFICIAL.contains(name);
    }
    TRUSTED_MINIMAL
        .iter()
        .any(|(registry, prefix)| image.registry.as_deref() == Some(*registry) && image.repository.starts_with(prefix))
}

fn smaller(image: &ImageRef) -> Option<String> {
    let name = image.official_name()?;
    let (_, suggest) = FAT.iter().find(|(n, _)| *n == name)?;
    let tag = image.tag.as_deref().unwrap_or("");
    let small = ["slim", "alpine", "distroless", "jre"].iter().any(|v| tag.contains(v));
    let version = tag.split('-').next().filter(|v| !v.is_empty() && *v != "latest").unwrap_or("<version>");
    match suggest {
        Suggest::Distroless(runtime) => Some(format!(
            "{name} is a build toolchain; build in it, then copy the result into `{runtime}` or another minimal runtime"
        )),
        _ if small => None,
        Suggest::Slim => Some(format!("use `{name}:{version}-slim` (or `-alpine`)")),
        Suggest::Jre => Some(format!("run on a JRE, not a JDK: `eclipse-temurin:{version}-jre`")),
        Suggest::Alpine => Some(format!("use `{name}:{version}-alpine`")),
    }
}
