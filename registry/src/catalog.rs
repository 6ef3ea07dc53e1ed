//! What a registry holds: its repositories (`GET /v2/_catalog`), each repository's tags
//! (`GET /v2/<name>/tags/list`), both followed page by page through the `Link` header, and the manifest
//! digest a tag points at (`HEAD /v2/<name>/manifests/<tag>`, or `GET` and sha256 when the registry sends
//! no `Docker-Content-Digest`).
//!
//! Every request goes through one [`Catalog`] per registry, whose [`Transport`] caps how many are in
//! flight, answers auth challenges (anonymous, basic, or a bearer token scoped `registry:catalog:*` for the
//! catalog and `repository:<name>:pull` otherwise) and waits out rate limits (`429`/`503` with
//! `Retry-After`) under a [`RetryPolicy`]. It lists; it does not pull images ([`crate::RegistryClient`]
//! does).

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use reqwest::header::LINK;
use reqwest::{Method, Url};
use serde::Deserialize;
use sha2::Digest as _;
use strata_scanner::image::media_types;

use crate::auth::{CredentialSources, CredentialStore};
use crate::client::{MAX_MANIFEST_BYTES, http_client, not_allowed};
use crate::error::RegistryError;
use crate::policy::AllowList;
use crate::throttle::RetryPolicy;
use crate::transport::{Target, Transport, TransportSettings, protocol, read_capped};

/// A catalog or tag-list page of a few thousand names is well under this.
const MAX_PAGE_BYTES: usize = 4 << 20;

/// How to reach one registry for listing. `Debug` redacts the credentials.
#[derive(Clone, Debug)]
pub struct CatalogOptions {
    /// Plain HTTP when the registry is given without a scheme (loopback registries always get it).
    pub insecure: bool,
    /// Credentials, as for [`crate::RegistryOptions`]: each only for its own registry.
    pub credentials: CredentialSources,
    /// The registries that may be listed besides those `credentials` hold a credential for.
    pub allowed: AllowList,
    /// Entries asked for per page (`n`); 0 leaves it to the registry.
    pub page_size: usize,
    /// Requests in flight to this registry at most.
    pub concurrency: usize,
    pub retry: RetryPolicy,
}

impl Default for CatalogOptions {
    fn default() -> Self {
        CatalogOptions {
            insecure: false,
            credentials: CredentialSources::default(),
            allowed: AllowList::default(),
            page_size: 100,
            concurrency: 8,
            retry: RetryPolicy::default(),
        }
    }
}

/// One registry's catalog, tags and digests. Share it by reference across tasks.
pub struct Catalog {
    base: Url,
    host: String,
    transport: Transport,
    page_size: usize,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("base", &self.base.as_str())
            .field("credentials", &self.transport.credentials)
            .finish()
    }
}

#[derive(Deserialize)]
struct CatalogPage {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TagsPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl Catalog {
    /// `registry` is `host[:port]` or a URL (`https://registry.example.com`, `http://10.0.0.5:5000`). Without
    /// a scheme, loopback hosts and `insecure` get plain HTTP and everything else HTTPS.
    /// The registry must be allowed; nothing is contacted yet (a credential helper may run).
    pub async fn new(registry: &str, options: CatalogOptions) -> Result<Self, RegistryError> {
        let (base, host) = base_url(registry, options.insecure)?;
        let store = CredentialStore::load(&options.credentials)?;
        let allowed = options.allowed.with_registries(store.registries());
        if !allowed.allows(&host) {
            return Err(not_allowed(registry, &host, &allowed));
        }
        let http = http_client(Some(Duration::from_secs(120)))?;
        let credentials = store.for_registry(&host).await?;
        let settings = TransportSettings {
            allowed,
            insecure: options.insecure || base.scheme() == "http",
            concurrency: options.concurrency,
            retry: options.retry,
        };
        let transport = Transport::new(host.clone(), base.clone(), http, credentials, settings);
        Ok(Catalog { base, host, transport, page_size: options.page_size })
    }

    /// `host[:port]`: the registry part of image references into this registry.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Every repository, in the registry's order, across all catalog pages.
    pub async fn repositories(&self) -> Result<Vec<String>, RegistryError> {
        let target = Target { subject: &self.host, what: "the catalog", scope: "registry:catalog:*" };
        let url = self.url("v2/_catalog", &target)?;
        self.pages(url, &target, |page: CatalogPage| page.repositories.unwrap_or_default()).await
    }

    /// Every tag of `repository`, across all pages.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        let subject = format!("{}/{repository}", self.host);
        check_repository(repository, &subject)?;
        let scope = format!("repository:{repository}:pull");
        let target = Target { subject: &subject, what: "the tag list", scope: &scope };
        let url = self.url(&format!("v2/{repository}/tags/list"), &target)?;
        self.pages(url, &target, |page: TagsPage| page.tags.unwrap_or_default()).await
    }

    /// The digest of the manifest (or index) `repository:tag` points at.
    pub async fn digest(&self, repository: &str, tag: &str) -> Result<String, RegistryError> {
        let subject = format!("{}/{repository}:{tag}", self.host);
        check_repository(repository, &subject)?;
        check_tag(tag, &subject)?;
        let scope = format!("repository:{repository}:pull");
        let target = Target { subject: &subject, what: "the manifest", scope: &scope };
        let url = self
            .base
            .join(&format!("v2/{repository}/manifests/{tag}"))
            .map_err(|e| invalid(&subject, format!("not a valid URL path: {e}")))?;
        let accept = media_types::ACCEPT_MANIFESTS.join(", ");
        match self.transport.send(Method::HEAD, &url, &target, Some(&accept)).await {
            Ok(response) => {
                if let Some(digest) = header_digest(response.headers()) {
                    return Ok(digest);
                }
            }
            // Some registries refuse HEAD (405) or answer it oddly: GET tells the truth.
            Err(RegistryError::Protocol { .. }) => {}
            Err(e) => return Err(e),
        }
        let response = self.transport.send(Method::GET, &url, &target, Some(&accept)).await?;
        let claimed = header_digest(response.headers());
        let body = read_capped(response, MAX_MANIFEST_BYTES, &target).await?;
        let actual = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&body)));
        match claimed {
            Some(claimed) if claimed.starts_with("sha256:") && claimed != actual => {
                Err(RegistryError::DigestMismatch { reference: subject, expected: claimed, actual })
            }
            _ => Ok(actual),
        }
    }

    fn url(&self, path: &str, target: &Target<'_>) -> Result<Url, RegistryError> {
        let mut url =
            self.base.join(path).map_err(|e| invalid(target.subject, format!("not a valid URL path: {e}")))?;
        if self.page_size > 0 {
            url.query_pairs_mut().append_pair("n", &self.page_size.to_string());
        }
        Ok(url)
    }

    /// GETs `first` and every page its `Link: <…>; rel="next"` chain leads to, on this registry only.
    async fn pages<P: for<'de> Deserialize<'de>>(
        &self,
        first: Url,
        target: &Target<'_>,
        entries: impl Fn(P) -> Vec<String>,
    ) -> Result<Vec<String>, RegistryError> {
        let (mut url, mut seen, mut all) = (first, HashSet::new(), Vec::new());
        loop {
            if !seen.insert(url.to_string()) {
                return Err(protocol(target, format!("the next-page link leads back to {url}")));
            }
            let response = match self.transport.send(Method::GET, &url, target, None).await {
                // distribution refuses an `n` above its `catalog.maxentries`: take its own page size then.
                Err(RegistryError::Protocol { message, .. })
                    if all.is_empty() && message.contains("PAGINATION_NUMBER_INVALID") && url.query().is_some() =>
                {
                    tracing::debug!(registry = %self.host, "page size refused; using the registry's");
                    url.set_query(None);
                    seen.clear();
                    continue;
                }
                other => other?,
            };
            let next = response.headers().get_all(LINK).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
                crate::link::next_target(v).map(|t| url.join(t).map_err(|e| format!("next-page link {t:?}: {e}")))
            });
            let body = read_capped(response, MAX_PAGE_BYTES, target).await?;
            // The body is the registry's text: give the parser's position, never the text.
            let page: P = serde_json::from_slice(&body).map_err(|e| {
                protocol(
                    target,
                    format!("not a listing ({:?} error at line {}, column {})", e.classify(), e.line(), e.column()),
                )
            })?;
            all.extend(entries(page));
            match next {
                None => return Ok(all),
                Some(Err(why)) => return Err(protocol(target, why)),
                // A next link to another host would carry our token there.
                Some(Ok(next)) if next.origin() != self.base.origin() => {
                    return Err(protocol(target, format!("the next-page link leaves the registry: {next}")));
                }
                Some(Ok(next)) => url = next,
            }
        }
    }
}

/// The base URL (`scheme://host[:port]/`) and `host[:port]` of a registry given as a host or a URL.
fn base_url(registry: &str, insecure: bool) -> Result<(Url, String), RegistryError> {
    let given = registry.trim().trim_end_matches('/');
    let explicit = given.starts_with("http://") || given.starts_with("https://");
    let host = given.strip_prefix("http://").or_else(|| given.strip_prefix("https://")).unwrap_or(given);
    let bad = |why: &str| invalid(registry, format!("not a registry address ({why}): give host[:port] or a URL"));
    if host.is_empty() || host.contains(['/', '?', '#', '@']) || host.chars().any(char::is_whitespace) {
        return Err(bad("a registry is a host and port, without a path or user"));
    }
    let scheme = match (explicit, insecure || crate::reference::is_loopback(host)) {
        (true, _) => &given[..given.find("://").unwrap_or(0)],
        (false, true) => "http",
        (false, false) => "https",
    };
    let base = Url::parse(&format!("{scheme}://{host}/")).map_err(|e| bad(&e.to_string()))?;
    Ok((base, host.to_string()))
}

/// A repository name as distribution allows it: lower-case components of `[a-z0-9._-]`, separated by `/`.
/// Checked before it goes into a URL, since the catalog's names come from the registry.
fn check_repository(name: &str, subject: &str) -> Result<(), RegistryError> {
    if crate::reference::is_repository_name(name) {
        Ok(())
    } else {
        Err(invalid(subject, "not a valid repository name".into()))
    }
}

/// A tag as distribution allows it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str, subject: &str) -> Result<(), RegistryError> {
    let first_ok = tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let ok = first_ok && tag.len() <= 128 && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok { Ok(()) } else { Err(invalid(subject, "not a valid tag".into())) }
}

/// `Docker-Content-Digest` when it is a well-formed `algorithm:hex` digest.
fn header_digest(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let value = headers.get("docker-content-digest")?.to_str().ok()?.trim();
    let (algorithm, hex) = value.split_once(':')?;
    let ok = !algorithm.is_empty()
        && algorithm.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    ok.then(|| value.to_string())
}

fn invalid(subject: &str, message: String) -> RegistryError {
    RegistryError::Invalid { reference: subject.to_string(), message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_addresses() {
        // (given, insecure, expected (base URL, host))
        type Case<'a> = (&'a str, bool, Option<(&'a str, &'a str)>);
        let cases: &[Case] = &[
            ("127.0.0.1:5000", false, Some(("http://127.0.0.1:5000/", "127.0.0.1:5000"))),
            ("localhost:5000/", false, Some(("http://localhost:5000/", "localhost:5000"))),
            ("registry.example.com", false, Some(("https://registry.example.com/", "registry.example.com"))),
            (
                "registry.example.com:5000",
                true,
                Some(("http://registry.example.com:5000/", "registry.example.com:5000")),
            ),
            ("https://127.0.0.1:5000", false, Some(("https://127.0.0.1:5000/", "127.0.0.1:5000"))),
            ("http://r.example", false, Some(("http://r.example/", "r.example"))),
            ("[::1]:5000", false, Some(("http://[::1]:5000/", "[::1]:5000"))),
            ("https://r.example/v2/", false, None),
            ("user:pw@r.example", false, None),
            ("", false, None),
        ];
        for (given, insecure, expected) in cases {
            let got = base_url(given, *insecure).ok().map(|(u, h)| (u.to_string(), h));
            assert_eq!(got, expected.map(|(u, h)| (u.to_string(), h.to_string())), "{given}");
        }
        let err = base_url("user:hunter2@r.example", false).unwrap_err();
        assert!(matches!(err, RegistryError::Invalid { .. }));
    }

    #[test]
    fn names() {
        for ok in ["app", "team/app", "a/b/c-d_e.f", "library/debian"] {
            assert!(check_repository(ok, "s").is_ok(), "{ok}");
        }
        for bad in ["", "App", "a//b", "../etc", "a/./b", "a b", "a?b", "/a"] {
            assert!(check_repository(bad, "s").is_err(), "{bad}");
        }
        for ok in ["latest", "v1.2.3", "_x", "A-b_c.D"] {
            assert!(check_tag(ok, "s").is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(check_tag(bad, "s").is_err(), "{bad}");
        }
    }

    #[test]
    fn content_digest_headers() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(header_digest(&headers), None);
        let good = format!("sha256:{}", "a1".repeat(32));
        headers.insert("docker-content-digest", good.parse().unwrap());
        assert_eq!(header_digest(&headers), Some(good));
        for bad in ["sha256:", "sha256:XYZ", "nodigest", &format!("sha256:{}", "A1".repeat(32))] {
            headers.insert("docker-content-digest", bad.parse().unwrap());
            assert_eq!(header_digest(&headers), None, "{bad}");
        }
    }
}
