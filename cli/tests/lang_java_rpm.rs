//! Acceptance: Java archives and rpm databases in real images, scanned by the real `strata` binary.
//! The inventory must equal what independent tools say (`rpm -qa` on the same database, Python's zipfile
//! reading every pom.properties, both recorded by scripts/fixtures.d/java-rpm.sh), the report must say
//! that the DB has no advisories for those ecosystems, and broken archives must be per-file warnings.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use strata_testkit::fixtures;
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::tarball::TarBuilder;

/// rockylinux:9's /etc/os-release, as the image ships it.
const ROCKY_9_OS_RELEASE: &str = r#"NAME="Rocky Linux"
VERSION="9.2 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.2"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.2 (Blue Onyx)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
HOME_URL="https://rockylinux.org/"
BUG_REPORT_URL="https://bugs.rockylinux.org/"
SUPPORT_END="2032-05-31"
ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"
ROCKY_SUPPORT_PRODUCT_VERSION="9.2"
REDHAT_SUPPORT_PRODUCT="Rocky Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.2"
"#;

/// amazonlinux:2023's /etc/os-release: a distro OSV has no ecosystem for.
const AL2023_OS_RELEASE: &str = r#"NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"
PLATFORM_ID="platform:al2023"
PRETTY_NAME="Amazon Linux 2023"
ANSI_COLOR="0;33"
CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2023"
HOME_URL="https://aws.amazon.com/linux/"
BUG_REPORT_URL="https://github.com/amazonlinux/amazon-linux-2023"
SUPPORT_END="2028-03-01"
"#;

/// The jars whose pom.properties the oracle lists (the manifest-only ones are covered by unit tests).
const JARS: [&str; 7] =
    ["log4j-core.jar", "log4j-api.jar", "commons-text.jar", "commons-lang3.jar", "slf4j-api.jar", "app.war", "app.ear"];

fn fixture_dir() -> PathBuf {
    let dir = fixtures::dir().join("java-rpm-v1");
    assert!(dir.join("oracle-java.txt").is_file(), "{} is missing: run scripts/fixtures.sh", dir.display());
    dir
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn scan(dir: &Path, image: &ImageBuilder) -> Value {
    let layout = dir.join("layout");
    image.write_layout(&layout, "1.0");
    let db = build_db(dir, &[minbase_osv()]);
    let mut cmd = strata();
    cmd.args(["image", "--input", &format!("{}:1.0", layout.display()), "--format", "json", "--list-all-pkgs"])
        .args(["--quiet", "--db"])
        .arg(&db);
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "the scan goes on past bad archives: {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out.json()
}

/// `rpm -qa --qf '%{NAME} %{EPOCH}:%{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM}'` as Strata reports it.
fn rpm_oracle(file: &Path) -> BTreeSet<String> {
    String::from_utf8(read(file))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let version = f[1].strip_prefix("(none):").unwrap_or(f[1]);
            let source = f[3].rsplitn(3, '-').nth(2).unwrap_or("?");
            format!("{} {version} {} {source}", f[0], f[2])
        })
        .collect()
}

fn os_result(report: &Value) -> &Value {
    report["results"].as_array().unwrap().iter().find(|r| r["class"] == "os-pkgs").expect("an os-pkgs result")
}

fn os_inventory(report: &Value) -> BTreeSet<String> {
    let os = os_result(report);
    os["package_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                p["arch"].as_str().unwrap_or("(none)"),
                p["source_name"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

#[test]
fn rocky_image_with_jars_matches_rpm_and_unzip() {
    let fx = fixture_dir();
    let tmp = tempfile::tempdir().unwrap();
    let base = TarBuilder::new()
        .file("etc/os-release", ROCKY_9_OS_RELEASE.as_bytes())
        .file("var/lib/rpm/rpmdb.sqlite", &read(&fx.join("rpmroot/var/lib/rpm/rpmdb.sqlite")));
    let app = JARS
        .iter()
        .fold(TarBuilder::new(), |t, jar| t.file(&format!("opt/app/lib/{jar}"), &read(&fx.join("jars").join(jar))))
        .file("opt/app/lib/not-a-zip.jar", &read(&fx.join("bad/not-a-zip.jar")))
        .file("opt/app/lib/bomb.jar", &read(&fx.join("bad/bomb.jar")));
    let image = ImageBuilder::new().layer(LayerContent::Bytes(base.build()), Compression::Gzip, "ADD rocky-9 /").layer(
        LayerContent::Bytes(app.build()),
        Compression::Zstd,
        "COPY lib/ /opt/app/lib/",
    );
    let report = scan(tmp.path(), &image);

    // rpm: the inventory is rpm's own, and the report says why nothing was matched.
    assert_eq!(os_inventory(&report), rpm_oracle(&fx.join("oracle-rpm.txt")));
    let os = os_result(&report);
    assert_eq!(os["ecosystem"], "Rocky Linux:9");
    let notice = os["notice"].as_str().unwrap_or_default();
    assert!(notice.contains("no advisories for Rocky Linux:9"), "{notice}");

    // Java: one target per archive, holding what every pom.properties in it (nested ones too) says.
    let oracle: BTreeSet<String> = String::from_utf8(read(&fx.join("oracle-java.txt")))
        .unwrap()
        .lines()
        .filter(|l| JARS.contains(&l.split(' ').next().unwrap()))
        .map(|l| format!("/opt/app/lib/{l}"))
        .collect();
    let mut found = BTreeSet::new();
    for result in report["results"].as_array().unwrap().iter().filter(|r| r["class"] == "lang-pkgs") {
        let target = result["target"].as_str().unwrap();
        assert_eq!(result["type"], "maven", "{target}");
        let notice = result["notice"].as_str().unwrap_or_default();
        assert!(notice.contains("no advisories for Maven"), "{target}: {notice}");
        for p in result["package_list"].as_array().unwrap() {
            let file = target.rsplit('/').next().unwrap();
            found.insert(format!(
                "/opt/app/lib/{file} {} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            ));
            assert!(p["purl"].as_str().unwrap().starts_with("pkg:maven/"), "{p}");
        }
    }
    // The bomb's nested bomb is skipped, not the whole jar: the real jar next to it is still found.
    assert!(found.remove("/opt/app/lib/bomb.jar org.slf4j:slf4j-api 1.7.32"), "{found:?}");
    assert_eq!(found, oracle);

    // A broken archive: a warning naming it, and nothing from it.
    let warnings: Vec<&str> = report["warnings"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        warnings.iter().any(|w| w.contains("opt/app/lib/not-a-zip.jar") && w.contains("not a zip")),
        "{warnings:?}"
    );
    // An entry skipped for a cap: the report is incomplete, naming the archive and the entry.
    let incomplete = report["incomplete"].as_array().expect("incomplete");
    assert!(
        incomplete.iter().any(|i| i["path"] == "/opt/app/lib/bomb.jar"
            && i["reason"].as_str().unwrap().contains("bomb.jar!")
            && i["reason"].as_str().unwrap().contains("zip bomb")),
        "{incomplete:#?}"
    );
}

#[test]
fn berkeley_db_rpmdb_on_a_distro_without_advisories() {
    let fx = fixture_dir();
    let tmp = tempfile::tempdir().unwrap();
    // The Berkeley DB copy of the same headers; rpm's bdb_ro backend reads it back as oracle-rpm-bdb.txt.
    let base = TarBuilder::new()
        .file("etc/os-release", AL2023_OS_RELEASE.as_bytes())
        .file("var/lib/rpm/Packages", &read(&fx.join("bdb/var/lib/rpm/Packages")));
    let image = ImageBuilder::new().layer(LayerContent::Bytes(base.build()), Compression::Gzip, "ADD base /");
    let report = scan(tmp.path(), &image);
    assert_eq!(os_inventory(&report), rpm_oracle(&fx.join("oracle-rpm-bdb.txt")));
    let notice = os_result(&report)["notice"].as_str().unwrap_or_default();
    assert!(notice.contains("amzn 2023 has no OSV ecosystem"), "{notice}");
}
