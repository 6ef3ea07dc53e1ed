//! What a Java archive says about itself: Maven's `pom.properties`, the JAR manifest, the file name.

use std::collections::BTreeMap;

/// A Maven identity found in an archive: `group` is `None` when only the artifact is known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Coordinates {
    pub group: Option<String>,
    pub artifact: String,
    pub version: String,
}

impl Coordinates {
    /// `group:artifact` as OSV's Maven ecosystem names packages; the artifact alone when the group is
    /// unknown (such a package is listed but cannot match a Maven advisory).
    pub fn name(&self) -> String {
        match &self.group {
            Some(group) => format!("{group}:{}", self.artifact),
            None => self.artifact.clone(),
        }
    }
}

fn usable(v: &str) -> bool {
    // Unfiltered build templates (`${project.version}`) are not versions.
    !v.is_empty() && !v.contains("${")
}

/// `java.util.Properties` as maven-archiver writes `pom.properties`: `key=value` lines, `#` comments.
/// `fallback` is the `group/artifact` of the entry's path, used when a key is missing.
pub fn pom_properties(text: &str, fallback: (&str, &str)) -> Option<Coordinates> {
    let mut props = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']).map(|i| (&line[..i], &line[i + 1..]));
        if let Some((k, v)) = split {
            props.insert(k.trim(), v.trim());
        }
    }
    let pick =
        |key: &str, fallback: &str| props.get(key).copied().filter(|v| usable(v)).unwrap_or(fallback).to_string();
    let version = pick("version", "");
    let (group, artifact) = (pick("groupId", fallback.0), pick("artifactId", fallback.1));
    (usable(&version) && !group.is_empty() && !artifact.is_empty()).then_some(Coordinates {
        group: Some(group),
        artifact,
        version,
    })
}

/// The main section of a JAR manifest (`Name: value`, continuation lines begin with one space).
pub fn manifest(text: &str) -> BTreeMap<String, String> {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            break; // per-entry sections follow; only the main one describes the archive
        }
        if let Some(rest) = line.strip_prefix(' ') {
            if let Some(value) = last.as_ref().and_then(|k| fields.get_mut(k)) {
                value.push_str(rest);
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            fields.insert(k.trim().to_string(), v.trim().to_string());
            last = Some(k.trim().to_string());
        }
    }
    fields
}

/// `log4j-core-2.14.1.jar` → (`log4j-core`, `2.14.1`): the version starts at the first `-` followed by a
/// digit, as Maven names its artifacts.
pub fn split_file_name(file: &str) -> Option<(&str, &str)> {
    let stem = file.rsplit('/').next()?.rsplit_once('.')?.0;
    let at = stem.char_indices().find(|&(i, c)| c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()))?.0;
    let (name, version) = (&stem[..at], &stem[at + 1..]);
    (!name.is_empty()).then_some((name, version))
}

/// The identity a manifest gives, with the file name's help. maven-archiver writes the group into
/// `Implementation-Vendor-Id`; OSGi bundles name themselves `group.artifact` in `Bundle-SymbolicName`,
/// which we split when it ends with the artifact and leaves at least two segments (`org.tukaani.xz` →
/// `org.tukaani:xz`), else take whole as the group (`org.hamcrest` → `org.hamcrest:hamcrest`).
pub fn from_manifest(fields: &BTreeMap<String, String>, file: &str) -> Option<Coordinates> {
    let get = |k: &str| fields.get(k).map(String::as_str).filter(|v| usable(v));
    let version = get("Implementation-Version").or_else(|| get("Bundle-Version"))?.to_string();
    let symbolic = get("Bundle-SymbolicName").map(|s| s.split(';').next().unwrap_or(s).trim());
    let vendor_id = get("Implementation-Vendor-Id").map(str::to_string);
    let Some((artifact, _)) = split_file_name(file) else {
        // Without the artifact from the file name, the bundle or title is the best name there is; it
        // cannot be split into group and artifact with any confidence.
        let artifact = symbolic.or_else(|| get("Implementation-Title"))?.to_string();
        return Some(Coordinates { group: vendor_id, artifact, version });
    };
    let group = vendor_id.or_else(|| {
        let symbolic = symbolic?;
        match symbolic.strip_suffix(artifact).and_then(|p| p.strip_suffix('.')) {
            Some(prefix) if prefix.contains('.') => Some(prefix.to_string()),
            _ if symbolic.contains('.') => Some(symbolic.to_string()),
            _ => None,
        }
    });
    Some(Coordinates { group, artifact: artifact.to_string(), version })
}

/// The last resort: the file name alone (`name-1.2.3.jar`), without a group.
pub fn from_file_name(file: &str) -> Option<Coordinates> {
    let (artifact, version) = split_file_name(file)?;
    Some(Coordinates { group: None, artifact: artifact.to_string(), version: version.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        for (file, want) in [
            ("usr/share/java/xz-1.9.jar", Some(("xz", "1.9"))),
            ("hamcrest-integration-1.3.1-SNAPSHOT.jar", Some(("hamcrest-integration", "1.3.1-SNAPSHOT"))),
            ("WEB-INF/lib/log4j-core-2.14.1.jar", Some(("log4j-core", "2.14.1"))),
            ("commons-lang3.jar", None),
            ("-1.0.jar", None),
        ] {
            assert_eq!(split_file_name(file), want, "{file}");
        }
    }

    #[test]
    fn manifest_continuations_and_sections() {
        let text = "Manifest-Version: 1.0\r\nBundle-SymbolicName: org.example.very-long-na\r\n me;singleton:=true\r\n\
                    Bundle-Version: 2.0\r\n\r\nName: org/x/\r\nImplementation-Version: 9\r\n";
        let fields = manifest(text);
        assert_eq!(fields["Bundle-SymbolicName"], "org.example.very-long-name;singleton:=true");
        assert_eq!(fields.get("Implementation-Version"), None);
        let c = from_manifest(&fields, "lib/very-long-name-2.0.jar").unwrap();
        assert_eq!((c.name(), c.version.as_str()), ("org.example:very-long-name".to_string(), "2.0"));
        // No artifact in the file name: the bundle name, unsplit.
        let c = from_manifest(&fields, "lib/bundle.jar").unwrap();
        assert_eq!((c.name(), c.version.as_str()), ("org.example.very-long-name".to_string(), "2.0"));
    }

    #[test]
    fn pom_properties_with_comments_and_fallback() {
        let text = "#Generated by Maven\n#Sat Oct 15 2022\ngroupId=org.apache.commons\nversion=1.10.0\n";
        let c = pom_properties(text, ("org.apache.commons", "commons-text")).unwrap();
        assert_eq!((c.name(), c.version.as_str()), ("org.apache.commons:commons-text".to_string(), "1.10.0"));
        assert_eq!(pom_properties("groupId=a\nartifactId=b\nversion=${project.version}\n", ("a", "b")), None);
    }
}
