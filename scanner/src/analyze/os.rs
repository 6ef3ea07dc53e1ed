//! OS detection: `/etc/os-release` (or `/usr/lib/os-release`), with `/etc/debian_version` and
//! `/etc/alpine-release` as fallbacks, mapped to OSV ecosystems (`Debian:11`, `Ubuntu:22.04`, `Alpine:v3.17`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The fields of os-release we use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_codename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
}

/// Parses the shell-like `KEY="value"` format (freedesktop os-release(5)).
pub fn parse_os_release(bytes: &[u8]) -> Result<OsRelease, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("os-release is not valid UTF-8 ({e})"))?;
    let mut release = OsRelease::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = unquote(value.trim());
        match key.trim() {
            "ID" => release.id = value.to_ascii_lowercase(),
            "VERSION_ID" => release.version_id = Some(value),
            "VERSION_CODENAME" => release.version_codename = Some(value),
            "PRETTY_NAME" => release.pretty_name = Some(value),
            _ => {}
        }
    }
    if release.id.is_empty() {
        return Err("os-release has no ID".into());
    }
    Ok(release)
}

fn unquote(v: &str) -> String {
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(v);
    inner.replace("\\\"", "\"").replace("\\\\", "\\")
}

/// The detected operating system of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsInfo {
    /// os-release `ID`: `debian`, `ubuntu`, `alpine`, …
    pub family: String,
    /// The release as the distro numbers it (`11.6`, `22.04`, `3.17.2`).
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
}

impl OsInfo {
    /// Combines os-release with the distro's own version file, which is more precise (`11.6` vs `11`) and
    /// the only source on images that lack os-release.
    pub fn detect(
        release: Option<&OsRelease>,
        debian_version: Option<&str>,
        alpine_release: Option<&str>,
    ) -> Option<OsInfo> {
        let family = release.map(|r| r.id.clone()).or_else(|| {
            if alpine_release.is_some() { Some("alpine".into()) } else { debian_version.map(|_| "debian".into()) }
        })?;
        let precise = match family.as_str() {
            "debian" => debian_version.filter(|v| v.starts_with(|c: char| c.is_ascii_digit())),
            "alpine" => alpine_release,
            _ => None,
        };
        let version = precise
            .map(str::to_string)
            .or_else(|| release.and_then(|r| r.version_id.clone()))
            // Debian testing/sid has no VERSION_ID; its debian_version reads `bookworm/sid`.
            .or_else(|| debian_version.map(str::to_string))
            .unwrap_or_default();
        Some(OsInfo { family, version, pretty_name: release.and_then(|r| r.pretty_name.clone()) })
    }

    /// The OSV ecosystem whose advisories apply, if the distro has one.
    pub fn ecosystem(&self) -> Option<String> {
        let numeric = |n: usize| -> Option<String> {
            let parts: Vec<&str> = self.version.split('.').take(n).collect();
            let ok = parts.len() == n && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            ok.then(|| parts.join("."))
        };
        match self.family.as_str() {
            "debian" => numeric(1).map(|major| format!("Debian:{major}")),
            "ubuntu" => numeric(2).map(|v| format!("Ubuntu:{v}")),
            "alpine" if self.version.contains("_alpha") => Some("Alpine:edge".into()),
            "alpine" => numeric(2).map(|v| format!("Alpine:v{v}")),
            "rocky" => numeric(1).map(|major| format!("Rocky Linux:{major}")),
            "almalinux" => numeric(1).map(|major| format!("AlmaLinux:{major}")),
            "mageia" => numeric(1).map(|major| format!("Mageia:{major}")),
            // SUSE's OSV ecosystems are named by os-release PRETTY_NAME (`openSUSE:Leap 15.5`,
            // `SUSE:Linux Enterprise Server 15 SP5`).
            "opensuse-leap" | "opensuse-tumbleweed" => {
                self.pretty_name.as_deref()?.strip_prefix("openSUSE ").map(|p| format!("openSUSE:{p}"))
            }
            "sles" | "sled" | "sles_sap" | "sle-micro" => {
                self.pretty_name.as_deref()?.strip_prefix("SUSE ").map(|p| format!("SUSE:{p}"))
            }
            // Red Hat's OSV ecosystems are per product stream (`Red Hat:enterprise_linux:9::appstream`), which
            // the rpmdb does not record; Fedora, Amazon Linux, CentOS and Oracle Linux publish no OSV data.
            _ => None,
        }
    }
}

impl fmt::Display for OsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.family, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BULLSEYE: &str = "PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nNAME=\"Debian GNU/Linux\"\n\
        VERSION_ID=\"11\"\nVERSION=\"11 (bullseye)\"\nVERSION_CODENAME=bullseye\nID=debian\n\
        HOME_URL=\"https://www.debian.org/\"\n";
    const JAMMY: &str = "PRETTY_NAME=\"Ubuntu 22.04.3 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\n\
        VERSION=\"22.04.3 LTS (Jammy Jellyfish)\"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\n";
    const ALPINE: &str = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.17.2\n\
        PRETTY_NAME=\"Alpine Linux v3.17\"\nHOME_URL=\"https://alpinelinux.org/\"\n";

    #[test]
    fn ecosystems_from_real_os_release_files() {
        let cases = [
            (BULLSEYE, Some("11.6"), None, "debian 11.6", Some("Debian:11")),
            (BULLSEYE, None, None, "debian 11", Some("Debian:11")),
            (JAMMY, None, None, "ubuntu 22.04", Some("Ubuntu:22.04")),
            (ALPINE, None, Some("3.17.2"), "alpine 3.17.2", Some("Alpine:v3.17")),
        ];
        for (text, debian_version, alpine_release, shown, ecosystem) in cases {
            let release = parse_os_release(text.as_bytes()).unwrap();
            let os = OsInfo::detect(Some(&release), debian_version, alpine_release).unwrap();
            assert_eq!(os.to_string(), shown);
            assert_eq!(os.ecosystem().as_deref(), ecosystem);
        }
    }

    // Real os-release files of the rpm-based images on Docker Hub (rockylinux:9, almalinux:9,
    // amazonlinux:2023, fedora:39, opensuse/leap:15.5, opensuse/tumbleweed, oraclelinux:9), cut to the
    // fields that matter plus enough of the rest to show they are ignored.
    const ROCKY_9: &str = "NAME=\"Rocky Linux\"\nVERSION=\"9.2 (Blue Onyx)\"\nID=\"rocky\"\n\
        ID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.2\"\nPLATFORM_ID=\"platform:el9\"\n\
        PRETTY_NAME=\"Rocky Linux 9.2 (Blue Onyx)\"\nCPE_NAME=\"cpe:/o:rocky:rocky:9::baseos\"\n\
        ROCKY_SUPPORT_PRODUCT_VERSION=\"9.2\"\n";
    const ALMA_9: &str = "NAME=\"AlmaLinux\"\nVERSION=\"9.2 (Turquoise Kodkod)\"\nID=\"almalinux\"\n\
        ID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.2\"\nPLATFORM_ID=\"platform:el9\"\n\
        PRETTY_NAME=\"AlmaLinux 9.2 (Turquoise Kodkod)\"\n\nALMALINUX_MANTISBT_PROJECT=\"AlmaLinux-9\"\n";
    const AL2023: &str = "NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\n\
        VERSION_ID=\"2023\"\nPLATFORM_ID=\"platform:al2023\"\nPRETTY_NAME=\"Amazon Linux 2023\"\n";
    const FEDORA_39: &str = "NAME=\"Fedora Linux\"\nVERSION=\"39 (Container Image)\"\nID=fedora\n\
        VERSION_ID=39\nVERSION_CODENAME=\"\"\nPLATFORM_ID=\"platform:f39\"\n\
        PRETTY_NAME=\"Fedora Linux 39 (Container Image)\"\nVARIANT_ID=container\n";
    const LEAP_15_5: &str = "NAME=\"openSUSE Leap\"\nVERSION=\"15.5\"\nID=\"opensuse-leap\"\n\
        ID_LIKE=\"suse opensuse\"\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"openSUSE Leap 15.5\"\n";
    const TUMBLEWEED: &str = "NAME=\"openSUSE Tumbleweed\"\n# VERSION=\"20231114\"\nID=\"opensuse-tumbleweed\"\n\
        ID_LIKE=\"opensuse suse\"\nVERSION_ID=\"20231114\"\nPRETTY_NAME=\"openSUSE Tumbleweed\"\n";
    const ORACLE_9: &str = "NAME=\"Oracle Linux Server\"\nVERSION=\"9.2\"\nID=\"ol\"\nID_LIKE=\"fedora\"\n\
        VARIANT=\"Server\"\nVERSION_ID=\"9.2\"\nPRETTY_NAME=\"Oracle Linux Server 9.2\"\n";

    #[test]
    fn rpm_distros_map_to_their_osv_ecosystems() {
        let cases = [
            (ROCKY_9, "rocky 9.2", Some("Rocky Linux:9")),
            (ALMA_9, "almalinux 9.2", Some("AlmaLinux:9")),
            (LEAP_15_5, "opensuse-leap 15.5", Some("openSUSE:Leap 15.5")),
            (TUMBLEWEED, "opensuse-tumbleweed 20231114", Some("openSUSE:Tumbleweed")),
            (AL2023, "amzn 2023", None),
            (FEDORA_39, "fedora 39", None),
            (ORACLE_9, "ol 9.2", None),
        ];
        for (text, shown, ecosystem) in cases {
            let release = parse_os_release(text.as_bytes()).unwrap();
            let os = OsInfo::detect(Some(&release), None, None).unwrap();
            assert_eq!(os.to_string(), shown);
            assert_eq!(os.ecosystem().as_deref(), ecosystem, "{shown}");
        }
    }

    #[test]
    fn debian_sid_has_no_ecosystem() {
        let release = parse_os_release(b"PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nID=debian\n").unwrap();
        let os = OsInfo::detect(Some(&release), Some("trixie/sid"), None).unwrap();
        assert_eq!(os.version, "trixie/sid");
        assert_eq!(os.ecosystem(), None);
    }

    #[test]
    fn version_files_alone() {
        let os = OsInfo::detect(None, None, Some("3.16.0")).unwrap();
        assert_eq!(os.ecosystem().as_deref(), Some("Alpine:v3.16"));
        assert!(parse_os_release(b"NAME=x\n").is_err());
    }
}
