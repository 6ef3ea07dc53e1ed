//! Which registries may be contacted at all, and which network addresses never: the allow-list of
//! `host[:port]` globs, the address filter (link-local, cloud metadata, unspecified, multicast), and the DNS
//! resolver that applies the filter to what a name resolves to and hands the HTTP client only the checked
//! addresses, so there is no window between checking a name and connecting to it (DNS rebinding).
//!
//! Registry names come from people who may be hostile (a Harbor request, a push's `Host` header, a gRPC
//! submit, a token realm, a redirect): nothing here trusts them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use globset::{Glob, GlobMatcher};

use crate::reference::{canonical_host, is_loopback};

/// `host[:port]` globs of the registries a process may contact. `*` alone allows any registry (an explicit
/// opt-in); a pattern without a port matches only the registry named without one; `host:*` any port.
#[derive(Clone, Default)]
pub struct AllowList {
    any: bool,
    patterns: Vec<(String, GlobMatcher)>,
}

impl fmt::Debug for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.any {
            return f.write_str("AllowList(*)");
        }
        f.debug_list().entries(self.patterns.iter().map(|(p, _)| p)).finish()
    }
}

impl AllowList {
    /// Every registry (still never a refused address).
    pub fn any() -> Self {
        AllowList { any: true, patterns: Vec::new() }
    }

    /// From patterns such as `registry.example.com`, `*.corp.example:5000`, `127.0.0.1:*`, `*`. Empty
    /// entries are skipped; a list of none allows nothing.
    pub fn new<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> Result<Self, String> {
        let mut list = AllowList::default();
        for pattern in patterns {
            let pattern = pattern.as_ref().trim();
            if pattern.is_empty() {
                continue;
            }
            if pattern == "*" {
                list.any = true;
                continue;
            }
            let normal = normalize(pattern);
            if normal.contains(['/', '@', '?', '#']) || normal.chars().any(char::is_whitespace) {
                return Err(format!("{pattern:?} is not a host[:port] pattern"));
            }
            let glob = Glob::new(&normal).map_err(|e| format!("{pattern:?}: {e}"))?.compile_matcher();
            list.patterns.push((normal, glob));
        }
        Ok(list)
    }

    /// Parses a comma-separated setting (`STRATA_ALLOWED_REGISTRIES`).
    pub fn parse(setting: &str) -> Result<Self, String> {
        AllowList::new(setting.split(','))
    }

    /// Adds exact registries (`host[:port]` or a URL), e.g. those the process has credentials for.
    pub fn with_registries<S: AsRef<str>>(mut self, registries: impl IntoIterator<Item = S>) -> Self {
        for registry in registries {
            let normal = normalize(registry.as_ref());
            if normal.is_empty() {
                continue;
            }
            let escaped = globset::escape(&normal);
            if let Ok(glob) = Glob::new(&escaped) {
                self.patterns.push((normal, glob.compile_matcher()));
            }
        }
        self
    }

    pub fn allows_any(&self) -> bool {
        self.any
    }

    pub fn is_empty(&self) -> bool {
        !self.any && self.patterns.is_empty()
    }

    /// Whether `registry` (`host[:port]` as in an image reference) is allowed.
    pub fn allows(&self, registry: &str) -> bool {
        if self.any {
            return true;
        }
        let normal = normalize(registry);
        self.patterns.iter().any(|(_, glob)| glob.is_match(&normal))
    }

    /// The patterns, for messages and docs (never secrets).
    pub fn describe(&self) -> String {
        if self.any {
            return "* (any registry)".into();
        }
        if self.patterns.is_empty() {
            return "(none)".into();
        }
        self.patterns.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// `https://Host:5000/` → `host:5000`; Docker Hub's aliases → `index.docker.io`.
fn normalize(registry: &str) -> String {
    let s = registry.trim();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let s = s.trim_end_matches('/');
    canonical_host(s)
}

/// Why an address must never be connected to, or `None`. Loopback is decided by the caller (it depends on
/// whether the name itself was loopback).
pub fn refused_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            if v6.is_unspecified() {
                Some("the unspecified address")
            } else if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                Some("the cloud metadata address fd00:ec2::254")
            } else if (v6.segments()[0] & 0xffc0) == 0xfe80 {
                Some("a link-local address (fe80::/10)")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else {
                None
            }
        }
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_link_local() {
        Some("a link-local or cloud metadata address (169.254.0.0/16)")
    } else if ip.octets()[0] == 0 {
        Some("the unspecified network 0.0.0.0/8")
    } else if ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("the cloud metadata address 100.100.100.200")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("a multicast or broadcast address")
    } else {
        None
    }
}

/// Keeps the addresses `name` may be connected at. A name that is not itself loopback (`localhost`) must
/// not lead to loopback either: that is how a hostile DNS answer reaches services on the coordinator's
/// own machine.
pub(crate) fn filter_addresses(name: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    let loopback_name = is_loopback(name);
    let mut refused = None;
    let kept: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|addr| {
            let why = refused_address(addr.ip())
                .or_else(|| (addr.ip().is_loopback() && !loopback_name).then_some("a loopback address"));
            if why.is_some() {
                refused = why;
            }
            why.is_none()
        })
        .collect();
    match (kept.is_empty(), refused) {
        (true, Some(why)) => Err(format!("{name} resolves to {why}, which is never contacted")),
        (true, None) => Err(format!("{name} resolves to no address")),
        (false, _) => Ok(kept),
    }
}

/// Checks a host the HTTP client will not resolve (an IP literal): the resolver never sees those.
pub(crate) fn check_literal(url: &reqwest::Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() else {
        return Ok(());
    };
    match refused_address(ip) {
        Some(why) => Err(format!("{ip} is {why}, which is never contacted")),
        None => Ok(()),
    }
}

/// Name lookup, separate from filtering so tests can stand in a stub and never touch the network.
pub(crate) trait Lookup: Send + Sync + 'static {
    fn lookup(&self, name: String) -> reqwest::dns::Resolving;
}

/// The system resolver (getaddrinfo on a blocking thread, as hyper does).
pub(crate) struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, name: String) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// reqwest's resolver: looks up, filters, and returns only what passed.
pub(crate) struct GuardedResolver<L = SystemLookup> {
    lookup: Arc<L>,
}

impl<L: Lookup> GuardedResolver<L> {
    pub(crate) fn new(lookup: L) -> Self {
        GuardedResolver { lookup: Arc::new(lookup) }
    }
}

impl<L: Lookup> reqwest::dns::Resolve for GuardedResolver<L> {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_string();
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = lookup.lookup(name.clone()).await?.collect();
            let kept = filter_addresses(&name, addrs).map_err(|why| -> Box<dyn std::error::Error + Send + Sync> {
                tracing::warn!(host = %name, reason = %why, "refused a registry address");
                why.into()
            })?;
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve as _;

    #[test]
    fn allow_list_globs() {
        let list = AllowList::parse("registry.example.com, *.corp.example:5000,127.0.0.1:*,docker.io").unwrap();
        for ok in ["registry.example.com", "Registry.Example.com", "a.corp.example:5000", "127.0.0.1:5000"] {
            assert!(list.allows(ok), "{ok}");
        }
        assert!(list.allows("index.docker.io") && list.allows("registry-1.docker.io"));
        for no in ["registry.example.com:5000", "a.corp.example", "evil.example", "127.0.0.2:5000", "10.0.0.1"] {
            assert!(!list.allows(no), "{no}");
        }
        assert!(AllowList::parse("").unwrap().is_empty());
        assert!(!AllowList::default().allows("registry.example.com"));
        assert!(AllowList::parse("*").unwrap().allows("anything:1"));
        assert!(AllowList::parse("a/b").is_err());
        let exact = AllowList::default().with_registries(["https://Reg.example:5000/", "h[1].example"]);
        assert!(exact.allows("reg.example:5000") && exact.allows("h[1].example") && !exact.allows("h1.example"));
    }

    #[test]
    fn refused_addresses() {
        for bad in ["169.254.169.254", "169.254.0.1", "0.0.0.0", "100.100.100.200", "224.0.0.1", "255.255.255.255"] {
            assert!(refused_address(bad.parse().unwrap()).is_some(), "{bad}");
        }
        for bad in ["fe80::1", "febf::1", "fd00:ec2::254", "::", "::ffff:169.254.169.254", "ff02::1"] {
            assert!(refused_address(bad.parse().unwrap()).is_some(), "{bad}");
        }
        for ok in ["127.0.0.1", "10.0.0.5", "192.168.1.1", "8.8.8.8", "::1", "fd00:ec2::253", "2001:db8::1"] {
            assert!(refused_address(ok.parse().unwrap()).is_none(), "{ok}");
        }
    }

    /// A stub lookup: answers from a table, never the network.
    struct Stub(Vec<(&'static str, Vec<&'static str>)>);

    impl Lookup for Stub {
        fn lookup(&self, name: String) -> reqwest::dns::Resolving {
            let addrs: Vec<SocketAddr> = self
                .0
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, a)| a.iter().map(|ip| SocketAddr::new(ip.parse().unwrap(), 0)).collect())
                .unwrap_or_default();
            Box::pin(async move { Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs) })
        }
    }

    async fn resolve(resolver: &GuardedResolver<Stub>, name: &str) -> Result<Vec<String>, String> {
        match resolver.resolve(name.parse().unwrap()).await {
            Ok(addrs) => Ok(addrs.map(|a| a.ip().to_string()).collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[tokio::test]
    async fn resolver_hands_on_only_checked_addresses() {
        let resolver = GuardedResolver::new(Stub(vec![
            ("metadata.example", vec!["169.254.169.254"]),
            ("mixed.example", vec!["169.254.169.254", "fe80::1", "10.1.2.3"]),
            ("v6meta.example", vec!["fd00:ec2::254"]),
            ("rebind.example", vec!["127.0.0.1"]),
            ("localhost", vec!["127.0.0.1", "::1"]),
            ("registry.example", vec!["192.0.2.10"]),
        ]));
        assert_eq!(resolve(&resolver, "mixed.example").await.unwrap(), vec!["10.1.2.3"]);
        assert_eq!(resolve(&resolver, "registry.example").await.unwrap(), vec!["192.0.2.10"]);
        assert_eq!(resolve(&resolver, "localhost").await.unwrap(), vec!["127.0.0.1", "::1"]);
        for refused in ["metadata.example", "v6meta.example", "rebind.example", "nothing.example"] {
            let err = resolve(&resolver, refused).await.unwrap_err();
            assert!(err.contains(refused), "{err}");
        }
        assert!(resolve(&resolver, "metadata.example").await.unwrap_err().contains("169.254.0.0/16"));
    }

    #[test]
    fn literals_are_checked_before_any_request() {
        let url = |s: &str| reqwest::Url::parse(&format!("http://{s}/")).unwrap();
        for bad in ["169.254.169.254", "[fe80::1]", "[fd00:ec2::254]", "0.0.0.0"] {
            assert!(check_literal(&url(bad)).is_err(), "{bad}");
        }
        for ok in ["127.0.0.1:6379", "registry.example", "[::1]:5000"] {
            assert!(check_literal(&url(ok)).is_ok(), "{ok}");
        }
    }
}
