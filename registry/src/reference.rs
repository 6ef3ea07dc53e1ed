//! Image references as users type them, and the facts about a registry host that decide how we talk to it:
//! whether it is loopback (plain HTTP) and which names it goes by in a Docker `config.json`.

use oci_client::Reference;

use crate::error::RegistryError;

/// Parses `[registry/]repository[:tag][@digest]` with Docker's defaults (`alpine` is
/// `docker.io/library/alpine:latest`). Also accepts a bracketed IPv6 registry such as `[::1]:5000/repo`,
/// which the upstream grammar rejects although the URL it builds from it is valid.
pub(crate) fn parse(reference: &str) -> Result<Reference, RegistryError> {
    let invalid = |why: String| RegistryError::Invalid { reference: reference.to_string(), message: why };
    if !reference.starts_with('[') {
        return reference.parse().map_err(|e| invalid(not_valid(reference, e)));
    }
    let slash = reference
        .find("]")
        .and_then(|end| reference[end..].find('/').map(|s| end + s))
        .ok_or_else(|| invalid("an IPv6 registry must look like [::1]:5000/repository".into()))?;
    let registry = &reference[..slash];
    // Parse the rest under a placeholder host (one that has a dot, so it is taken as a registry and not as
    // the first path segment of a Docker Hub repository), then put the real host back.
    let rest: Reference =
        format!("ipv6.invalid/{}", &reference[slash + 1..]).parse().map_err(|e| invalid(not_valid(reference, e)))?;
    let (registry, repository) = (registry.to_string(), rest.repository().to_string());
    Ok(match (rest.tag(), rest.digest()) {
        (Some(tag), Some(digest)) => Reference::with_tag_and_digest(registry, repository, tag.into(), digest.into()),
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest.into()),
        (tag, None) => Reference::with_tag(registry, repository, tag.unwrap_or("latest").into()),
    })
}

/// Why a reference does not parse. Upper case in the repository is the common case, and the parser's own
/// words ("invalid reference format") do not say so.
fn not_valid(reference: &str, e: impl std::fmt::Display) -> String {
    let end = reference.find('@').unwrap_or(reference.len());
    let name_end = reference[..end].rfind(':').filter(|c| !reference[*c..end].contains('/')).unwrap_or(end);
    // Docker's rule: a first component with a dot or a port, or `localhost`, is the registry.
    let start = match reference[..name_end].split_once('/') {
        Some((first, _)) if first.contains(['.', ':', ']']) || first == "localhost" => first.len() + 1,
        _ => 0,
    };
    let repository = &reference[start..name_end];
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        let lowered = format!("{}{}{}", &reference[..start], repository.to_ascii_lowercase(), &reference[name_end..]);
        if parse(&lowered).is_ok() {
            return format!(
                "not a valid image reference: repository names must be lower case ({repository:?}; try {lowered})"
            );
        }
    }
    format!("not a valid image reference: {e}")
}

/// A repository name as the distribution spec's grammar allows it: `/`-separated components of
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, at most 255 characters. Checked before a name from outside goes
/// into a URL, a key or a queue.
pub fn is_repository_name(name: &str) -> bool {
    name.len() <= 255 && !name.is_empty() && name.split('/').all(is_component)
}

fn is_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or any number of `-`, followed by an alphanumeric.
        let run = b[i..].iter().take_while(|x| !alnum(**x)).count();
        let sep = &c[i..i + run];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
        i += run;
    }
    true
}

/// The host part of `host[:port]`, without IPv6 brackets.
fn host_of(registry: &str) -> &str {
    if let Some(inner) = registry.strip_prefix('[') {
        return inner.split(']').next().unwrap_or(inner);
    }
    registry.split(':').next().unwrap_or(registry)
}

/// Loopback registries are local test or cache registries that essentially never have a certificate;
/// `docker` itself treats them as insecure, and nothing leaves the machine.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = host_of(registry);
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Reduces a Docker config `auths` key (`https://index.docker.io/v1/`, `http://host:5000`, `host:5000`)
/// to the `host[:port]` it stands for, the way the Docker CLI matches them.
pub(crate) fn normalize_config_key(key: &str) -> String {
    let without_scheme = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme);
    canonical_host(host)
}

/// Docker Hub answers under several names; credentials stored under any of them are meant for all.
pub(crate) fn canonical_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" | "index.docker.io" => "index.docker.io".to_string(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_defaults() {
        let r = parse("alpine").unwrap();
        assert_eq!((r.registry(), r.repository(), r.tag()), ("docker.io", "library/alpine", Some("latest")));
        assert_eq!(r.resolve_registry(), "index.docker.io");
    }

    #[test]
    fn ipv6_registry_keeps_tag_and_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("[::1]:5000/team/app:1.0@{digest}")).unwrap();
        assert_eq!(r.registry(), "[::1]:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), Some("1.0"));
        assert_eq!(r.digest(), Some(digest.as_str()));
        assert_eq!(parse("[::1]/app").unwrap().tag(), Some("latest"));
        assert!(matches!(parse("[::1]:5000"), Err(RegistryError::Invalid { .. })));
    }

    #[test]
    fn bad_reference_is_invalid_and_named() {
        let err = parse("Not A Reference").unwrap_err();
        assert!(matches!(err, RegistryError::Invalid { .. }));
        assert!(err.to_string().contains("Not A Reference"), "{err}");
    }

    #[test]
    fn upper_case_repository_says_why() {
        for (given, lowered) in [
            ("127.0.0.1:5000/Team/App:V1", "127.0.0.1:5000/team/app:V1"),
            ("Debian:11", "debian:11"),
            ("[::1]:5000/App", "[::1]:5000/app"),
            ("Team/App:1", "team/app:1"),
        ] {
            let err = parse(given).unwrap_err().to_string();
            assert!(err.contains("repository names must be lower case") && err.contains(lowered), "{err}");
        }
        // Upper case in a tag is fine; other mistakes keep the parser's words.
        assert!(parse("debian:Bullseye-SLIM").is_ok());
        let err = parse("a b").unwrap_err().to_string();
        assert!(!err.contains("lower case"), "{err}");
    }

    #[test]
    fn repository_grammar() {
        for ok in ["app", "team/app", "a/b/c-d_e.f", "library/debian", "a__b", "a---b", "x/0"] {
            assert!(is_repository_name(ok), "{ok}");
        }
        for bad in ["", "App", "a//b", "../etc", "a/./b", "a b", "a?b", "/a", "a/", "-a", "a.", "a___b", "a.-b"] {
            assert!(!is_repository_name(bad), "{bad}");
        }
        assert!(!is_repository_name(&"a".repeat(256)));
    }

    #[test]
    fn loopback_hosts() {
        for r in ["localhost", "localhost:5000", "LOCALHOST:1", "127.0.0.1:5000", "127.0.0.1", "[::1]:5000", "[::1]"] {
            assert!(is_loopback(r), "{r}");
        }
        for r in ["docker.io", "registry.example.com:5000", "10.0.0.1:5000", "localhost.example.com", "[fe80::1]:5000"]
        {
            assert!(!is_loopback(r), "{r}");
        }
    }

    #[test]
    fn config_keys_normalize_to_hosts() {
        assert_eq!(normalize_config_key("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(normalize_config_key("docker.io"), "index.docker.io");
        assert_eq!(normalize_config_key("http://127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(normalize_config_key("Registry.Example.com/v2/"), "registry.example.com");
    }
}
