//! Which token realm may receive a registry's credential. A `Bearer realm=…` challenge is the registry's
//! to choose, so a hostile registry names a realm it runs: the credential goes only to a realm on the
//! registry's own `host[:port]` or one listed for that credential, and only over HTTPS (or loopback).

use reqwest::Url;

use crate::policy::AllowList;
use crate::reference::{canonical_host, is_loopback};
use crate::transport::host_port;

/// What a token realm may receive.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RealmUse {
    WithCredentials,
    Anonymous,
    Refused(String),
}

/// Whether a token realm gets the registry's credential, is asked anonymously, or is not contacted.
pub(crate) fn realm_use(
    registry: &str,
    base: &Url,
    token_hosts: &[String],
    allowed: &AllowList,
    realm: &Url,
) -> RealmUse {
    let host = host_port(realm);
    let own = canonical_host(&host) == canonical_host(&host_port(base))
        || canonical_host(&host) == canonical_host(registry)
        || token_hosts.iter().any(|h| canonical_host(h) == canonical_host(&host))
        || (canonical_host(registry) == "index.docker.io" && host == "auth.docker.io");
    let secure = realm.scheme() == "https" || (realm.scheme() == "http" && is_loopback(&host));
    match (own, secure) {
        (true, true) => RealmUse::WithCredentials,
        (true, false) => RealmUse::Anonymous,
        (false, _) if allowed.allows(&host) => RealmUse::Anonymous,
        (false, _) => RealmUse::Refused(format!(
            "its token realm {host} is neither this registry nor an allowed registry, so it is not contacted"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_realms_get_credentials_only_when_they_are_the_registrys() {
        let url = |s: &str| Url::parse(s).unwrap();
        let allowed = AllowList::parse("other.allowed.example").unwrap();
        let listed = vec!["auth.example".to_string()];
        let case =
            |registry: &str, base: &str, realm: &str| realm_use(registry, &url(base), &listed, &allowed, &url(realm));
        let reg = ("reg.example", "https://reg.example/");
        assert_eq!(case(reg.0, reg.1, "https://reg.example/token"), RealmUse::WithCredentials);
        assert_eq!(case(reg.0, reg.1, "https://auth.example/token"), RealmUse::WithCredentials);
        // plain HTTP to a host that is not loopback: never the credential
        assert_eq!(case(reg.0, reg.1, "http://reg.example/token"), RealmUse::Anonymous);
        assert_eq!(case(reg.0, reg.1, "http://auth.example/token"), RealmUse::Anonymous);
        // another host: anonymous if it is an allowed registry, else not contacted at all
        assert_eq!(case(reg.0, reg.1, "https://other.allowed.example/t"), RealmUse::Anonymous);
        assert!(matches!(case(reg.0, reg.1, "https://evil.example/token"), RealmUse::Refused(_)));
        assert!(matches!(case(reg.0, reg.1, "https://reg.example:444/token"), RealmUse::Refused(_)));
        // a second loopback port is another host
        let lo = ("127.0.0.1:5000", "http://127.0.0.1:5000/");
        assert_eq!(case(lo.0, lo.1, "http://127.0.0.1:5000/token"), RealmUse::WithCredentials);
        assert!(matches!(case(lo.0, lo.1, "http://127.0.0.1:5001/token"), RealmUse::Refused(_)));
        assert_eq!(
            case("index.docker.io", "https://registry-1.docker.io/", "https://auth.docker.io/token"),
            RealmUse::WithCredentials
        );
    }
}
