//! Package URLs (purl-spec), built with the `packageurl` crate so escaping follows the spec.

use packageurl::PackageUrl;

use crate::analyze::OsInfo;
use crate::package::{Package, PackageKind};

/// `pkg:deb/debian/libc6@2.31-13?arch=amd64&distro=debian-11.6&upstream=glibc`, as Syft and Trivy write it.
pub fn purl(package: &Package, os: Option<&OsInfo>) -> String {
    let ty = match package.kind {
        PackageKind::Deb => "deb",
        PackageKind::Apk => "apk",
    };
    let Ok(mut url) = PackageUrl::new(ty, package.name.as_str()) else { return String::new() };
    if let Some(os) = os {
        let _ = url.with_namespace(os.family.as_str());
    }
    let _ = url.with_version(package.version.as_str());
    if let Some(arch) = &package.arch {
        let _ = url.add_qualifier("arch", arch.as_str());
    }
    if let Some(os) = os {
        let _ = url.add_qualifier("distro", format!("{}-{}", os.family, os.version));
    }
    if let Some(source) = package.source_name.as_deref().filter(|s| *s != package.name) {
        let _ = url.add_qualifier("upstream", source);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_purl_matches_syft_form() {
        let p = Package {
            kind: PackageKind::Deb,
            name: "libc6".into(),
            version: "2.31-13+deb11u5".into(),
            arch: Some("amd64".into()),
            source_name: Some("glibc".into()),
            source_version: None,
        };
        let os = OsInfo { family: "debian".into(), version: "11.6".into(), pretty_name: None };
        assert_eq!(
            purl(&p, Some(&os)),
            "pkg:deb/debian/libc6@2.31-13%2Bdeb11u5?arch=amd64&distro=debian-11.6&upstream=glibc"
        );
    }
}
