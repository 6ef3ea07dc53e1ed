//! Base-image advice ("fix the baseline image"): which base the image is built on, how many findings a
//! rebuild on the current point release would fix, which need an application dependency bump, and
//! whether the release is past its end of life, with the release to move to.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::image::ResolvedImage;
use crate::report::Report;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseImageAdvice {
    /// `debian 11.6`.
    pub os: String,
    /// `Debian 11 (bullseye)`.
    pub release: String,
    /// How many layers, from the bottom, are the base image's.
    pub base_layers: usize,
    /// The step that made the top base layer (`ADD file:… in /`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_step: Option<String>,
    /// OS findings with a fixed version in this release: a rebuild (with `apt-get upgrade` / `apk upgrade`,
    /// or on a freshly pulled base tag) fixes them.
    pub fixed_by_rebuild: usize,
    /// OS findings the release has no fix for yet.
    pub os_unfixed: usize,
    /// Language findings that need the application's dependency bumped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependency_bumps: Vec<DependencyBump>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_life: Option<EndOfLife>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyBump {
    pub package: String,
    pub installed_version: String,
    pub fixed_version: String,
    /// The lockfile or directory that holds it.
    pub target: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependency_paths: Vec<String>,
    /// Findings this bump fixes.
    pub findings: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndOfLife {
    /// The end of the last support the distro publishes (LTS for Debian, standard support for Ubuntu).
    pub date: String,
    /// Past that date as of the report.
    pub ended: bool,
    /// The next release still supported on that date, to move to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_to: Option<String>,
}

/// One release and the end of its support. Sources:
/// - Debian: https://wiki.debian.org/LTS (end of LTS; Debian 13's is the announced plan) and
///   https://www.debian.org/releases/ for the codenames.
/// - Alpine: https://alpinelinux.org/releases/ ("end of support" column).
/// - Ubuntu: https://ubuntu.com/about/release-cycle (end of standard support; ESM is paid).
struct Release {
    family: &'static str,
    version: &'static str,
    name: &'static str,
    eol: &'static str,
}

const RELEASES: &[Release] = &[
    Release { family: "debian", version: "8", name: "Debian 8 (jessie)", eol: "2020-06-30" },
    Release { family: "debian", version: "9", name: "Debian 9 (stretch)", eol: "2022-06-30" },
    Release { family: "debian", version: "10", name: "Debian 10 (buster)", eol: "2024-06-30" },
    Release { family: "debian", version: "11", name: "Debian 11 (bullseye)", eol: "2026-08-31" },
    Release { family: "debian", version: "12", name: "Debian 12 (bookworm)", eol: "2028-06-30" },
    Release { family: "debian", version: "13", name: "Debian 13 (trixie)", eol: "2030-06-30" },
    Release { family: "alpine", version: "3.14", name: "Alpine 3.14", eol: "2023-05-01" },
    Release { family: "alpine", version: "3.15", name: "Alpine 3.15", eol: "2023-11-01" },
    Release { family: "alpine", version: "3.16", name: "Alpine 3.16", eol: "2024-05-23" },
    Release { family: "alpine", version: "3.17", name: "Alpine 3.17", eol: "2024-11-22" },
    Release { family: "alpine", version: "3.18", name: "Alpine 3.18", eol: "2025-05-09" },
    Release { family: "alpine", version: "3.19", name: "Alpine 3.19", eol: "2025-11-01" },
    Release { family: "alpine", version: "3.20", name: "Alpine 3.20", eol: "2026-04-01" },
    Release { family: "alpine", version: "3.21", name: "Alpine 3.21", eol: "2026-11-01" },
    Release { family: "alpine", version: "3.22", name: "Alpine 3.22", eol: "2027-05-01" },
    Release { family: "ubuntu", version: "18.04", name: "Ubuntu 18.04 (bionic)", eol: "2023-05-31" },
    Release { family: "ubuntu", version: "20.04", name: "Ubuntu 20.04 (focal)", eol: "2025-05-31" },
    Release { family: "ubuntu", version: "22.04", name: "Ubuntu 22.04 (jammy)", eol: "2027-06-01" },
    Release { family: "ubuntu", version: "24.04", name: "Ubuntu 24.04 (noble)", eol: "2029-05-31" },
];

/// The base image's layer count. Official bases end with `CMD`/`ENTRYPOINT`, so the last such step that
/// still has layers after it closes the base (`python:3.12` on `debian` has two; the application's own
/// CMD comes after its last layer). Without one, the first COPY/ADD from the build context (anything but
/// the `file:`/`dir:` rootfs tarball) starts the application; with neither, every layer is base.
pub fn base_layers(image: &ResolvedImage) -> usize {
    let mut layers = 0;
    let mut closed_at: Option<usize> = None;
    let mut first_copy: Option<usize> = None;
    for entry in &image.config.history {
        let step = entry.created_by.as_deref().unwrap_or("");
        let instruction = step.trim_start_matches("/bin/sh -c ").trim_start_matches("#(nop)").trim_start();
        let keyword = instruction.split_whitespace().next().unwrap_or("");
        let rootfs = instruction.contains(" file:") || instruction.contains(" dir:");
        if matches!(keyword, "CMD" | "ENTRYPOINT") {
            closed_at = Some(layers);
        } else if matches!(keyword, "COPY" | "ADD") && !rootfs && layers > 0 && first_copy.is_none() {
            first_copy = Some(layers);
        }
        if !entry.empty_layer {
            layers += 1;
        }
    }
    let total = layers.min(image.layers.len());
    closed_at.filter(|&c| c < layers).or(first_copy).unwrap_or(total).min(total)
}

pub fn advise(image: &ResolvedImage, report: &Report, today: NaiveDate) -> Option<BaseImageAdvice> {
    let os = report.artifact.os.as_ref()?;
    let release = RELEASES.iter().find(|r| r.family == os.family && is_release_of(&os.version, r.version));
    let base = base_layers(image);
    let (mut fixed_by_rebuild, mut os_unfixed) = (0, 0);
    let mut bumps: Vec<DependencyBump> = Vec::new();
    for result in &report.results {
        for f in &result.findings {
            match (result.class.as_str(), &f.fixed_version) {
                ("os-pkgs", Some(_)) => fixed_by_rebuild += 1,
                ("os-pkgs", None) => os_unfixed += 1,
                ("lang-pkgs", Some(fixed)) => {
                    let key = (&f.package, &f.installed_version, &result.target);
                    match bumps.iter_mut().find(|b| (&b.package, &b.installed_version, &b.target) == key) {
                        Some(b) => {
                            b.findings += 1;
                            // The bump must reach the highest fix among the package's findings.
                            let scheme = result.ecosystem.as_deref().map(crate::version::scheme_for);
                            let higher = scheme.and_then(|s| crate::version::compare(s, fixed, &b.fixed_version));
                            if higher.is_some_and(|o| o.is_gt()) {
                                b.fixed_version = fixed.clone();
                            }
                        }
                        None => bumps.push(DependencyBump {
                            package: f.package.clone(),
                            installed_version: f.installed_version.clone(),
                            fixed_version: fixed.clone(),
                            target: result.target.clone(),
                            dependency_paths: f.dependency_paths.clone(),
                            findings: 1,
                        }),
                    }
                }
                _ => {}
            }
        }
    }
    let end_of_life = release.and_then(|r| {
        let date = NaiveDate::parse_from_str(r.eol, "%Y-%m-%d").ok()?;
        let upgrade_to = RELEASES
            .iter()
            .filter(|n| n.family == r.family && newer(n.version, r.version))
            .find(|n| NaiveDate::parse_from_str(n.eol, "%Y-%m-%d").is_ok_and(|d| d > today))
            .map(|n| n.name.to_string());
        Some(EndOfLife { date: r.eol.to_string(), ended: date < today, upgrade_to })
    });
    Some(BaseImageAdvice {
        os: os.to_string(),
        release: release
            .map_or_else(|| os.pretty_name.clone().unwrap_or_else(|| os.to_string()), |r| r.name.to_string()),
        base_layers: base,
        base_step: base.checked_sub(1).and_then(|i| report.artifact.layers.get(i)).and_then(|l| l.created_by.clone()),
        fixed_by_rebuild,
        os_unfixed,
        dependency_bumps: bumps,
        end_of_life,
    })
}

/// `11.6` is a point release of `11`; `3.17.2` of `3.17`; `22.04` of `22.04`.
fn is_release_of(version: &str, release: &str) -> bool {
    version == release || version.strip_prefix(release).is_some_and(|rest| rest.starts_with('.'))
}

fn newer(a: &str, b: &str) -> bool {
    let parts = |v: &str| v.split('.').map(|p| p.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>();
    parts(a) > parts(b)
}

/// The advice in a few lines, for the table.
pub fn render(advice: &BaseImageAdvice) -> String {
    let mut lines = vec![format!(
        "Base image: {} ({} base layer{})",
        advice.release,
        advice.base_layers,
        plural(advice.base_layers)
    )];
    if let Some(eol) = &advice.end_of_life {
        let upgrade = eol.upgrade_to.as_deref().map(|u| format!("; move to {u}")).unwrap_or_default();
        if eol.ended {
            lines.push(format!("  END OF LIFE since {}: no more security updates{upgrade}", eol.date));
        } else {
            lines.push(format!("  supported until {}", eol.date));
        }
    }
    lines.push(format!(
        "  a rebuild on the current {} point release fixes {} OS finding{} ({} without a fix yet)",
        advice.os.split_whitespace().next().unwrap_or("distro"),
        advice.fixed_by_rebuild,
        plural(advice.fixed_by_rebuild),
        advice.os_unfixed
    ));
    for bump in &advice.dependency_bumps {
        let via = bump.dependency_paths.first().map(|p| format!(" via {p}")).unwrap_or_default();
        lines.push(format!(
            "  bump {} {} → {} in {}{via} ({} finding{})",
            bump.package,
            bump.installed_version,
            bump.fixed_version,
            bump.target,
            bump.findings,
            plural(bump.findings)
        ));
    }
    lines.join("\n") + "\n"
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Today's date, for callers that report on the current day (tests pass a fixed one).
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

#[cfg(test)]
mod tests;
