use serde_json::json;

use super::*;
use crate::image::{History, ImageConfig};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn image(history: &[(&str, bool)]) -> ResolvedImage {
    let layers = history.iter().filter(|(_, empty)| !empty).count();
    let layer = |i: usize| {
        serde_json::from_value(json!({
            "index": i, "diff_id": format!("sha256:{i}"),
            "descriptor": {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{i}"), "size": 1}
        }))
        .unwrap()
    };
    ResolvedImage {
        name: "test".into(),
        manifest_digest: String::new(),
        config_digest: "sha256:c".into(),
        config: ImageConfig {
            history: history
                .iter()
                .map(|(by, empty)| History {
                    created_by: Some(by.to_string()),
                    empty_layer: *empty,
                    ..History::default()
                })
                .collect(),
            ..ImageConfig::default()
        },
        layers: (0..layers).map(layer).collect(),
    }
}

/// The history of the real `python:3.12-slim-bookworm` (docker history, abbreviated) with an app on top.
const PYTHON_APP: &[(&str, bool)] = &[
    ("/bin/sh -c #(nop) ADD file:d13afefcc2b0b02b598a3ac2598fe2187db41de1e17820e5b600a955b1429d59 in / ", false),
    ("/bin/sh -c #(nop)  CMD [\"bash\"]", true),
    ("ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", true),
    (
        "RUN /bin/sh -c set -eux; apt-get update; apt-get install -y --no-install-recommends ca-certificates netbase tzdata; rm -rf /var/lib/apt/lists/* # buildkit",
        false,
    ),
    ("ENV PYTHON_VERSION=3.12.2", true),
    (
        "RUN /bin/sh -c set -eux; savedAptMark=\"$(apt-mark showmanual)\"; ./configure; make -j; make install # buildkit",
        false,
    ),
    (
        "RUN /bin/sh -c set -eux; for src in idle3 pydoc3 python3 python3-config; do ln -svT \"$src\" \"/usr/local/bin/${src%3}\"; done # buildkit",
        false,
    ),
    ("CMD [\"python3\"]", true),
    ("WORKDIR /app", false),
    ("COPY requirements.txt . # buildkit", false),
    ("RUN /bin/sh -c pip install -r requirements.txt # buildkit", false),
];

#[test]
fn base_layers_end_where_the_application_starts() {
    assert_eq!(base_layers(&image(PYTHON_APP)), 4);
    // debian:11 itself and a RUN on top: the base's CMD closes it after one layer.
    assert_eq!(base_layers(&image(&PYTHON_APP[..2])), 1);
    // No CMD in the history (a squashed or hand-made image): a context COPY still marks the application.
    assert_eq!(base_layers(&image(&[("ADD file:abc in /", false), ("COPY app /app", false)])), 1);
    assert_eq!(base_layers(&image(&[("ADD file:abc in /", false), ("RUN apt-get update", false)])), 2);
}

fn report(os: (&str, &str), results: serde_json::Value) -> Report {
    serde_json::from_value(json!({
        "schema_version": 1,
        "artifact": {"name": "t", "image_id": "sha256:c", "platform": "linux/amd64",
                     "os": {"family": os.0, "version": os.1},
                     "layers": [{"index": 0, "diff_id": "sha256:0", "created_by": "ADD file:abc in /"}]},
        "db": {"content_digest": "d", "built_at": "2026-11-01T00:00:00Z"},
        "results": results,
        "summary": {"total": 0, "by_severity": {}}
    }))
    .unwrap()
}

#[test]
fn end_of_life_by_published_dates() {
    for (family, version, today, ended, upgrade_to) in [
        ("debian", "11.6", "2026-11-29", true, Some("Debian 12 (bookworm)")),
        ("debian", "11.6", "2026-08-31", false, Some("Debian 12 (bookworm)")),
        ("debian", "10.13", "2026-11-29", true, Some("Debian 12 (bookworm)")),
        ("debian", "9.13", "2022-07-01", true, Some("Debian 10 (buster)")),
        ("debian", "12.5", "2026-11-29", false, Some("Debian 13 (trixie)")),
        ("alpine", "3.17.2", "2025-01-01", true, Some("Alpine 3.18")),
        ("alpine", "3.19.1", "2025-06-01", false, Some("Alpine 3.20")),
        ("ubuntu", "20.04", "2026-11-29", true, Some("Ubuntu 22.04 (jammy)")),
    ] {
        let advice = advise(&image(&PYTHON_APP[..1]), &report((family, version), json!([])), date(today)).unwrap();
        let eol = advice.end_of_life.unwrap();
        assert_eq!((eol.ended, eol.upgrade_to.as_deref()), (ended, upgrade_to), "{family} {version} on {today}");
    }
    let unknown =
        advise(&image(&PYTHON_APP[..1]), &report(("wolfi", "20230201"), json!([])), date("2026-01-01")).unwrap();
    assert!(unknown.end_of_life.is_none());
}

#[test]
fn counts_rebuild_fixes_and_dependency_bumps() {
    let finding = |id: &str, package: &str, installed: &str, fixed: Option<&str>| {
        json!({"id": id, "aliases": [], "package": package, "installed_version": installed, "fixed_version": fixed,
               "severity": "HIGH", "purl": "pkg:x", "path": "/p", "dependency_paths": ["app@1.0.0 > express@4.17.1 > qs@6.7.0"],
               "layer": {"index": 0, "diff_id": "sha256:0"}})
    };
    let results = json!([
        {"target": "debian 11.6", "class": "os-pkgs", "type": "debian", "ecosystem": "Debian:11", "packages": 3, "findings": [
            finding("DSA-5380-1", "openssl", "1.1.1n-0+deb11u3", Some("1.1.1n-0+deb11u4")),
            finding("DSA-5203-1", "gnutls28", "3.7.1-5+deb11u1", Some("3.7.1-5+deb11u2")),
            finding("CVE-2023-1", "systemd", "247.3-7", None)]},
        {"target": "/app/package-lock.json", "class": "lang-pkgs", "type": "npm", "ecosystem": "npm", "packages": 50, "findings": [
            finding("GHSA-hrpp-h998-j3pp", "qs", "6.7.0", Some("6.7.3")),
            finding("GHSA-xxxx", "qs", "6.7.0", Some("6.10.3")),
            finding("GHSA-yyyy", "minimist", "1.2.5", None)]}
    ]);
    let advice = advise(&image(PYTHON_APP), &report(("debian", "11.6"), results), date("2026-11-29")).unwrap();
    assert_eq!((advice.fixed_by_rebuild, advice.os_unfixed), (2, 1));
    assert_eq!(advice.dependency_bumps.len(), 1);
    let qs = &advice.dependency_bumps[0];
    assert_eq!((qs.fixed_version.as_str(), qs.findings), ("6.10.3", 2));
    let text = render(&advice);
    assert!(text.contains("END OF LIFE since 2026-08-31") && text.contains("Debian 12 (bookworm)"), "{text}");
    assert!(text.contains("qs 6.7.0 → 6.10.3") && text.contains("express@4.17.1"), "{text}");
}
