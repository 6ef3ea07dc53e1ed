//! The scanned image's identity as the export formats need it: the repository without tag or digest (stable
//! across rebuilds, so DefectDojo's finding hashes and SBOM names do not churn) and its OCI package URL.

use std::collections::{BTreeMap, BTreeSet};

use packageurl::PackageUrl;
use sha2::{Digest, Sha256};

use super::{Artifact, Report};
use crate::merge::LayerOrigin;

/// `127.0.0.1:5000/app:1.0` → `127.0.0.1:5000/app`; `debian@sha256:…` → `debian`; a path given with
/// `--input DIR:TAG` loses its tag the same way. A colon before the last `/` is a registry port, not a tag.
pub fn repository(name: &str) -> String {
    let name = name.split_once('@').map_or(name, |(repo, _)| repo);
    let name = name.strip_prefix("oci:").unwrap_or(name);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(colon) => name[..last_slash + colon].to_string(),
        None => name.to_string(),
    }
}

/// `pkg:oci/app@sha256:…?repository_url=127.0.0.1:5000/app`, as Trivy and Syft name images; the version is
/// the manifest digest when the source has one, else the image ID.
pub fn image_purl(artifact: &Artifact) -> String {
    let repository = repository(&artifact.name);
    let short = repository.rsplit('/').next().unwrap_or(&repository).to_ascii_lowercase();
    let Ok(mut url) = PackageUrl::new("oci", short.as_str()) else { return String::new() };
    let _ = url.with_version(artifact.repo_digest.as_deref().unwrap_or(&artifact.image_id));
    if repository.contains('/') {
        let _ = url.add_qualifier("repository_url", repository.as_str());
    }
    url.to_string()
}

/// A package of the image as the SBOM formats list it.
#[derive(Debug, Clone)]
pub(crate) struct Component {
    pub name: String,
    pub version: String,
    pub purl: String,
    /// The file that lists it.
    pub path: String,
    pub os: bool,
    pub source_name: Option<String>,
    pub layer: LayerOrigin,
    pub dependency_paths: Vec<String>,
    /// Unique within the document: the purl, with the path when one purl is listed by several files.
    pub id: String,
}

/// Every package of the report: each target's `package_list` where it was built, else the packages that
/// have findings. Sorted and deduplicated by (purl, path).
pub(crate) fn components(report: &Report) -> Vec<Component> {
    let mut seen = BTreeMap::new();
    for r in &report.results {
        let os = r.class == "os-pkgs";
        match &r.package_list {
            Some(list) => {
                for p in list {
                    seen.entry((p.purl.clone(), p.path.clone())).or_insert_with(|| Component {
                        name: p.name.clone(),
                        version: p.version.clone(),
                        purl: p.purl.clone(),
                        path: p.path.clone(),
                        os,
                        source_name: p.source_name.clone().filter(|s| *s != p.name),
                        layer: p.layer.clone(),
                        dependency_paths: p.dependency_paths.clone(),
                        id: String::new(),
                    });
                }
            }
            None => {
                for f in &r.findings {
                    seen.entry((f.purl.clone(), f.path.clone())).or_insert_with(|| Component {
                        name: f.package.clone(),
                        version: f.installed_version.clone(),
                        purl: f.purl.clone(),
                        path: f.path.clone(),
                        os,
                        source_name: f.source_package.clone(),
                        layer: f.layer.clone(),
                        dependency_paths: f.dependency_paths.clone(),
                        id: String::new(),
                    });
                }
            }
        }
    }
    let mut per_purl: BTreeMap<String, usize> = BTreeMap::new();
    for (purl, _) in seen.keys() {
        *per_purl.entry(purl.clone()).or_default() += 1;
    }
    seen.into_values()
        .map(|mut c| {
            c.id = if per_purl[&c.purl] > 1 { format!("{}#{}", c.purl, c.path) } else { c.purl.clone() };
            c
        })
        .collect()
}

/// Direct dependency edges (`from` depends on `to`, as indices into `components`) read off the `npm ls`
/// style paths: consecutive `name@version` steps, resolved within the same file.
pub(crate) fn dependency_edges(components: &[Component]) -> BTreeSet<(usize, usize)> {
    let by_label: BTreeMap<(&str, String), usize> = components
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.path.as_str(), format!("{}@{}", c.name, c.version)), i))
        .collect();
    let mut edges = BTreeSet::new();
    for c in components {
        for path in &c.dependency_paths {
            let steps: Vec<&str> = path.split(" › ").map(str::trim).collect();
            for pair in steps.windows(2) {
                let from = by_label.get(&(c.path.as_str(), pair[0].to_string()));
                let to = by_label.get(&(c.path.as_str(), pair[1].to_string()));
                if let (Some(&from), Some(&to)) = (from, to) {
                    edges.insert((from, to));
                }
            }
        }
    }
    edges
}

/// A stable hex id derived from `parts` (documents built twice from the same scan get the same ids).
pub(crate) fn stable_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_drops_tag_and_digest_only() {
        for (name, want) in [
            ("127.0.0.1:5055/strata/bullseye:1.0", "127.0.0.1:5055/strata/bullseye"),
            ("127.0.0.1:5055/strata/bullseye", "127.0.0.1:5055/strata/bullseye"),
            ("debian:11", "debian"),
            ("ghcr.io/o/app:1.2@sha256:0123", "ghcr.io/o/app"),
            ("/tmp/x/layout:1.0", "/tmp/x/layout"),
            ("/tmp/x.y/image.tar", "/tmp/x.y/image.tar"),
        ] {
            assert_eq!(repository(name), want, "{name}");
        }
    }
}
