//! The hostile corpus of issue #14: every class of crafted layer that once exhausted memory, hung the
//! walk, or hid packages, built on demand as an OCI layout (tag [`TAG`]).
//!
//! Every image carries a package Strata must report: the vulnerable `libssl1.1` of a Debian 11 dpkg
//! database (matched by the committed OSV subset), or for the jar case `log4j-core` 2.14.1 (matched by
//! [`maven_osv`]). So a scan that ends cleanly (exit 0 under `--exit-code 1`) is always wrong: either the
//! hidden package is found (findings, exit 1), the report says it is incomplete (exit 1), or the scan fails
//! with an error naming image, layer and file (exit 2). `cli/tests/hostile.rs` runs each case.
//!
//! Generating a case is fast and small on disk: layers are generated as streams straight into their
//! compressor ([`layout`]), and the 200 GiB zstd bomb is written as a frame of RLE blocks.

mod archives;
mod bombs;
pub mod layout;
mod lockfiles;
mod packagedb;
pub mod tar;

use std::io::Write;
use std::path::Path;

pub use layout::{TAG, Written};

use crate::image::Compression;

/// One hostile image.
pub struct Case {
    pub name: &'static str,
    /// Which attack of issue #14 it is, in a few words.
    pub what: &'static str,
    /// The package the report must list (in `package_list` or a finding) unless it is `incomplete`.
    pub hidden: &'static str,
    /// A silent false negative when this case goes wrong (the package hidden, exit 0), rather than a
    /// resource exhaustion.
    pub false_negative: bool,
    /// Whether a clear error (exit 2) is an acceptable outcome. It is not where a runtime reads the layer
    /// fine (non-UTF-8 names, hard links): failing the scan there is the bug.
    pub error_allowed: bool,
    /// The file an error must name, when the case is about one file.
    pub file: Option<&'static str>,
    pub build: fn(&Path) -> Written,
}

impl Case {
    /// A case where going wrong means hiding `libssl1.1`.
    fn hides(
        name: &'static str,
        what: &'static str,
        error_allowed: bool,
        file: Option<&'static str>,
        build: fn(&Path) -> Written,
    ) -> Case {
        Case { name, what, hidden: LIBSSL, false_negative: true, error_allowed, file, build }
    }

    /// A case about bounded time and memory: `libssl1.1` sits in the base layer; an error is acceptable.
    fn bounded(
        name: &'static str,
        what: &'static str,
        file: Option<&'static str>,
        build: fn(&Path) -> Written,
    ) -> Case {
        Case { name, what, hidden: LIBSSL, false_negative: false, error_allowed: true, file, build }
    }
}

/// Every case.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(packagedb::cases());
    cases.extend(archives::cases());
    cases.extend(bombs::cases());
    cases.extend(lockfiles::cases());
    cases
}

pub const OS_RELEASE: &[u8] = b"PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nNAME=\"Debian GNU/Linux\"\n\
VERSION_ID=\"11\"\nVERSION=\"11 (bullseye)\"\nVERSION_CODENAME=bullseye\nID=debian\n";

/// A dpkg database whose one package has advisories in `testkit/fixtures/osv` (DSA-4963-1 and later).
pub const STATUS: &[u8] = b"Package: libssl1.1\nStatus: install ok installed\nPriority: optional\n\
Section: libs\nArchitecture: amd64\nSource: openssl\nVersion: 1.1.1k-1+deb11u1\n\
Description: Secure Sockets Layer toolkit - shared libraries\n\n";

pub const DPKG_STATUS: &str = "var/lib/dpkg/status";

/// The package every case but the jar hides.
const LIBSSL: &str = "libssl1.1";

/// The Debian release files, and the dpkg database unless the case hides it its own way.
fn debian_base(out: &mut dyn Write, with_status: bool) {
    tar::entry(out, "etc/", tar::DIRECTORY, b"");
    tar::entry(out, "etc/os-release", tar::REGULAR, OS_RELEASE);
    tar::entry(out, "etc/debian_version", tar::REGULAR, b"11.11\n");
    if with_status {
        tar::entry(out, DPKG_STATUS, tar::REGULAR, STATUS);
    }
}

/// A gzip layer with the Debian base (and the vulnerable dpkg database): the usual first layer.
fn base_layer(dir: &Path) -> layout::Blob {
    layout::layer(dir, Compression::Gzip, |out| {
        debian_base(out, true);
        tar::end(out);
    })
}

/// The base layer and one hostile layer on top.
fn over_base(dir: &Path, compression: Compression, hostile: impl FnOnce(&mut dyn Write)) -> Written {
    let base = base_layer(dir);
    let top = layout::layer(dir, compression, |out| {
        hostile(out);
        tar::end(out);
    });
    layout::image(dir, vec![base, top])
}

/// The advisory that makes `log4j-core` 2.14.1 (the jar case) a finding, as `.jsonl.gz` for
/// `strata db build --osv`: GHSA-jfh8-c2jp-5v3q (Log4Shell), its ranges as OSV publishes them.
pub fn maven_osv(dir: &Path) -> std::path::PathBuf {
    let advisory = serde_json::json!({
        "schema_version": "1.6.0", "id": "GHSA-jfh8-c2jp-5v3q", "modified": "2024-01-01T00:00:00Z",
        "published": "2021-12-10T00:40:56Z", "aliases": ["CVE-2021-44228"],
        "summary": "Remote code injection in Log4j",
        "affected": [{
            "package": {"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core",
                        "purl": "pkg:maven/org.apache.logging.log4j/log4j-core"},
            "ranges": [{"type": "ECOSYSTEM", "events": [
                {"introduced": "2.13.0"}, {"fixed": "2.15.0"},
                {"introduced": "2.0-beta9"}, {"fixed": "2.3.1"},
                {"introduced": "2.4"}, {"fixed": "2.12.2"}]}]
        }],
        "database_specific": {"severity": "CRITICAL"}
    });
    let path = dir.join("maven-log4j.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).expect("create osv"),
        flate2::Compression::default(),
    );
    writeln!(gz, "{advisory}").expect("write osv");
    gz.finish().expect("finish osv");
    path
}
