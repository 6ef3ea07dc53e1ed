//! Acceptance: a real bullseye image, scanned from a registry, an OCI layout and a docker-archive, gives
//! one report whose Debian advisories are exactly those Debian's own `dpkg --compare-versions` selects.

mod common;

use common::*;
use serde_json::Value;
use strata_testkit::fixtures;
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

/// Versions that earlier Debian security advisories shipped to bullseye (the `fixed` of DSA-4963-1,
/// DSA-5111-1 and DSA-5203-1), which later advisories fix again: a real state of a not-updated image.
const DOWNGRADES: [(&str, &str); 3] =
    [("openssl", "1.1.1k-1+deb11u1"), ("zlib", "1:1.2.11.dfsg-2+deb11u1"), ("gnutls28", "3.7.1-5+deb11u2")];

fn scan_json(args: &[&str], source: &[&str]) -> Value {
    let mut cmd = strata();
    cmd.arg("image").args(source).args(["--format", "json", "--list-all-pkgs", "--quiet"]).args(args);
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "strata image {source:?} failed: {}", out.stderr);
    out.json()
}

#[test]
fn registry_layout_and_archive_agree_and_match_the_dpkg_oracle() {
    let rootfs = Rootfs::bullseye();
    let tmp = tempfile::tempdir().unwrap();

    // Layer 2: `apt-get purge adduser` — the status file rewritten and the package's files whited out.
    let (purged_status, gone) = rootfs.purge("adduser");
    assert!(gone.iter().any(|p| p == "usr/sbin/adduser"), "adduser's files: {gone:?}");
    let removal =
        gone.iter().fold(TarBuilder::new(), |t, p| t.whiteout(p)).file("var/lib/dpkg/status", purged_status.as_bytes());
    // Layer 3: downgrades to versions that earlier advisories shipped.
    let aged = DOWNGRADES.iter().fold(purged_status.clone(), |s, (src, v)| with_source_version(&s, src, v));
    let downgrade = TarBuilder::new().file("var/lib/dpkg/status", aged.as_bytes());

    let image = ImageBuilder::new()
        .layer(
            LayerContent::TarFile(rootfs.tar.clone()),
            Compression::Gzip,
            "/bin/sh -c #(nop) ADD file:bullseye-minbase in / ",
        )
        .step("/bin/sh -c #(nop)  CMD [\"bash\"]")
        .layer(LayerContent::Bytes(removal.build()), Compression::Gzip, "/bin/sh -c apt-get purge -y adduser")
        .layer(
            LayerContent::Bytes(downgrade.build()),
            // gzip: docker-archive cannot hold zstd layers, and this image goes through all three sources.
            Compression::Gzip,
            "/bin/sh -c apt-get install -y --allow-downgrades libssl1.1=1.1.1k-1+deb11u1 zlib1g libgnutls30",
        );
    let layout = tmp.path().join("layout");
    let built = image.write_layout(&layout, "1.0");
    let registry = TestRegistry::start();
    registry.push(&layout, "1.0", "strata/bullseye:1.0", &[]);
    let archive = tmp.path().join("bullseye.tar");
    skopeo_copy(
        &format!("oci:{}:1.0", layout.display()),
        &format!("docker-archive:{}:strata/bullseye:1.0", archive.display()),
        &[],
    );

    let db = build_db(tmp.path(), &[minbase_osv()]);
    let db_args = ["--db", db.to_str().unwrap()];
    let reference = format!("{}/strata/bullseye:1.0", registry.host());
    let from_registry = scan_json(&db_args, &[&reference]);
    let from_layout = scan_json(&db_args, &["--input", &format!("{}:1.0", layout.display())]);
    let from_archive = scan_json(&db_args, &["--input", archive.to_str().unwrap()]);

    assert_eq!(from_registry["artifact"]["repo_digest"], built.manifest_digest.as_str());
    assert_eq!(from_registry["artifact"]["image_id"], built.config_digest.as_str());
    assert_eq!(comparable(from_registry.clone()), comparable(from_layout), "registry vs OCI layout");
    assert_eq!(comparable(from_registry.clone()), comparable(from_archive), "registry vs docker-archive");

    // The oracle, computed from the same advisories without Strata.
    let expected = dpkg_oracle(&aged, &[minbase_osv()], "Debian:11");
    let found = findings(&from_registry);
    assert!(!expected.is_empty(), "the downgrades must make the image vulnerable");
    assert_eq!(found, expected, "Strata's findings vs dpkg --compare-versions");

    // Inventory: the purged package is gone, the rest is attributed to the layer that introduced it.
    let os = &from_registry["results"][0];
    assert_eq!(os["ecosystem"], "Debian:11");
    let packages = os["package_list"].as_array().unwrap();
    let installed = stanzas(&aged).filter(|s| field(s, "Status").is_some_and(|v| v.ends_with(" installed"))).count();
    assert_eq!(packages.len(), installed);
    assert!(packages.iter().all(|p| p["name"] != "adduser"));
    let layer_of =
        |name: &str| packages.iter().find(|p| p["name"] == name).map(|p| p["layer"]["index"].as_u64().unwrap());
    assert_eq!(layer_of("libc6"), Some(0));
    assert_eq!(layer_of("libssl1.1"), Some(2));
    for finding in os["findings"].as_array().unwrap() {
        assert_eq!(finding["layer"]["index"], 2, "{finding}");
        assert!(finding["layer"]["created_by"].as_str().unwrap().contains("allow-downgrades"));
        assert!(finding["fixed_version"].is_string());
    }
    assert_eq!(from_registry["summary"]["total"].as_u64().unwrap() as usize, expected.len());
}

/// The real bullseye root filesystem against every Debian advisory in ../shared/vulndb, or, in a clone
/// without it, against the committed subset (every advisory of that data that names a source package of
/// this image, so the same check): Strata and the oracle must agree on every source package (for a current
/// bullseye both find none: the data ends before the last point release).
#[test]
fn pristine_bullseye_against_all_debian_advisories() {
    let osv = match fixtures::shared_vulndb() {
        Some(shared) => shared.join("osv-debian.jsonl.gz"),
        None => {
            eprintln!("../shared/vulndb is not on this machine: checking against the committed subset");
            minbase_osv()
        }
    };
    let rootfs = Rootfs::bullseye();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(LayerContent::TarFile(rootfs.tar.clone()), Compression::Gzip, "ADD bullseye-minbase /")
        .write_layout(&layout, "pristine");
    let db = build_db(tmp.path(), std::slice::from_ref(&osv));
    let report = scan_json(&["--db", db.to_str().unwrap()], &["--input", &format!("{}:pristine", layout.display())]);
    let expected = dpkg_oracle(&rootfs.status, std::slice::from_ref(&osv), "Debian:11");
    assert_eq!(findings(&report), expected);
    // Not vacuous: the same data does select advisories for this image's packages once they are older.
    let aged = DOWNGRADES.iter().fold(rootfs.status.clone(), |s, (src, v)| with_source_version(&s, src, v));
    assert!(!dpkg_oracle(&aged, &[osv], "Debian:11").is_empty(), "no advisory in the data applies to this image");
    assert!(report["results"][0]["packages"].as_u64().unwrap() > 80);
}
