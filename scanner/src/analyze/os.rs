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
