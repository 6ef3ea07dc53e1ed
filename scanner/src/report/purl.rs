//! Package URLs (purl-spec), built with the `packageurl` crate so escaping follows the spec.

use packageurl::PackageUrl;

use crate::analyze::OsInfo;
use crate::package::{Package, PackageKind};

/// `pkg:deb/debian/libc6@2.31-13?arch=amd64&distro=debian-11.6&upstream=glibc`, as Syft and Trivy write it;
/// `pkg:npm/%40babel/core@7.0.0`, `pkg:golang/github.com/gin-gonic/gin@v1.9.0`, `pkg:maven/org.x/y@1.0`.
pub fn purl(package: &Package, os: Option<&OsInfo>) -> String {
    let kind = package.kind;
    let (namespace, name) = match kind {
        PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm => (os.map(|o| o.family.clone()), package.name.clone()),
        PackageKind::Maven => match package.name.split_once(':') {
            Some((group, artifact)) => (Some(group.to_string()), artifact.to_string()),
            None => (None, package.name.clone()),
        },
        PackageKind::Npm | PackageKind::Go => match package.name.rsplit_once('/') {
            Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
            None => (None, package.name.clone()),
        },
        // purl-spec: PyPI names are lowercased with `_` as `-`.
        PackageKind::Python => (None, package.name.to_lowercase().replace('_', "-")),
        PackageKind::Cargo | PackageKind::Gem => (None, package.name.clone()),
    };
    let Ok(mut url) = PackageUrl::new(kind.purl_type(), name.as_str()) else { return String::new() };
    if let Some(ns) = &namespace {
        let _ = url.with_namespace(ns.as_str());
    }
    // purl-spec (and Syft, Trivy): a deb/rpm epoch is the `epoch` qualifier, not part of the version.
    let (epoch, version) = match (kind, package.version.split_once(':')) {
        (PackageKind::Deb | PackageKind::Rpm, Some((e, v)))
            if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (Some(e), v)
        }
        _ => (None, package.version.as_str()),
    };
    let _ = url.with_version(version);
    if let Some(epoch) = epoch {
        let _ = url.add_qualifier("epoch", epoch);
    }
    if let Some(arch) = &package.arch {
        let _ = url.add_qualifier("arch", arch.as_str());
    }
    if kind.is_os() {
        if let Some(os) = os {
            let _ = url.add_qualifier("distro", format!("{}-{}", os.family, os.version));
        }
        if let Some(source) = package.source_name.as_deref().filter(|s| *s != package.name) {
            let _ = url.add_qualifier("upstream", source);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_purl_matches_syft_form() {
        let p = Package {
            arch: Some("amd64".into()),
            source_name: Some("glibc".into()),
            ..Package::new(PackageKind::Deb, "libc6", "2.31-13+deb11u5")
        };
        let os = OsInfo { family: "debian".into(), version: "11.6".into(), pretty_name: None };
        assert_eq!(
            purl(&p, Some(&os)),
            "pkg:deb/debian/libc6@2.31-13%2Bdeb11u5?arch=amd64&distro=debian-11.6&upstream=glibc"
        );
    }

    #[test]
    fn language_purls() {
        let cases = [
            (PackageKind::Npm, "@babel/core", "7.0.0", "pkg:npm/%40babel/core@7.0.0"),
            (PackageKind::Npm, "qs", "6.5.1", "pkg:npm/qs@6.5.1"),
            (PackageKind::Go, "github.com/gin-gonic/gin", "v1.9.0", "pkg:golang/github.com/gin-gonic/gin@v1.9.0"),
            (
                PackageKind::Maven,
                "org.apache.logging.log4j:log4j-core",
                "2.14.1",
                "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            ),
            (PackageKind::Python, "PyYAML", "5.3.1", "pkg:pypi/pyyaml@5.3.1"),
            (PackageKind::Cargo, "smallvec", "1.6.0", "pkg:cargo/smallvec@1.6.0"),
        ];
        for (kind, name, version, want) in cases {
            assert_eq!(purl(&Package::new(kind, name, version), None), want);
        }
        let login = Package { arch: Some("amd64".into()), ..Package::new(PackageKind::Deb, "login", "1:4.8.1-1") };
        let os = OsInfo { family: "debian".into(), version: "11.11".into(), pretty_name: None };
        assert_eq!(purl(&login, Some(&os)), "pkg:deb/debian/login@4.8.1-1?arch=amd64&distro=debian-11.11&epoch=1");
    }
}
