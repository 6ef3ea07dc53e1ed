//! One registry's HTTP API, as the image client and the catalog use it. Strata, not a library, decides here
//! what goes where:
//!
//! - the registry's credential goes only to the registry's own origin, and only over HTTPS (or to loopback);
//! - a token realm gets the credential only when its host is the registry's own or listed for that
//!   credential (`token_hosts`; Docker Hub's `auth.docker.io`); a realm elsewhere is contacted anonymously,
//!   and only when it is an allowed registry itself;
//! - redirects are followed by hand: within the registry's origin with the credential, to another host (a
//!   blob on a storage host) without any `Authorization`;
//! - every URL is checked before a request (scheme, IP literals); names are checked by the client's
//!   resolver ([`crate::policy`]);
//! - failures become status + registry error code ([`upstream_status`]), never a body.
//!
//! Requests are retried while the registry throttles (`429`/`503`, under a [`RetryPolicy`]), with at most a
//! set number in flight.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use tokio::sync::Semaphore;

use crate::auth::{Credentials, Secret};
use crate::challenge::{self, Challenge, Token};
use crate::error::{RegistryError, error_chain, upstream_status};
use crate::policy::{AllowList, check_literal};
use crate::realm::{RealmUse, realm_use};
use crate::reference::is_loopback;
use crate::throttle::{Decision, RetryPolicy};

/// Error bodies are read this far, for the registry's error code only.
const MAX_ERROR_BYTES: usize = 64 << 10;
const MAX_REDIRECTS: usize = 5;

/// Which request, for error messages and the token scope.
pub(crate) struct Target<'a> {
    pub subject: &'a str,
    pub what: &'a str,
    pub scope: &'a str,
}

/// What a 404 says is missing: the repository when the registry answers NAME_UNKNOWN (distribution's code
/// for an unknown repository), else the thing asked for (`manifest 1.0`: an unknown tag).
fn missing(target: &Target<'_>, shown: &str) -> String {
    let repository = target.scope.strip_prefix("repository:").and_then(|s| s.strip_suffix(":pull"));
    match repository {
        Some(repository) if shown.contains("NAME_UNKNOWN") => format!("repository {repository}"),
        _ => target.what.to_string(),
    }
}

pub(crate) struct Transport {
    /// `host[:port]` as references name it.
    registry: String,
    base: Url,
    http: reqwest::Client,
    pub credentials: Credentials,
    allowed: AllowList,
    insecure: bool,
    tokens: Mutex<HashMap<String, Token>>,
    /// The registry answered a challenge with `Basic`: send the credentials with every request.
    basic: AtomicBool,
    limit: Semaphore,
    retry: RetryPolicy,
}

/// A request body: an uploaded blob or a manifest.
pub(crate) struct Upload<'a> {
    pub bytes: &'a [u8],
    pub content_type: &'a str,
}

pub(crate) struct TransportSettings {
    pub allowed: AllowList,
    pub insecure: bool,
    pub concurrency: usize,
    pub retry: RetryPolicy,
}

impl Transport {
    pub(crate) fn new(
        registry: String,
        base: Url,
        http: reqwest::Client,
        credentials: Credentials,
        settings: TransportSettings,
    ) -> Self {
        Transport {
            registry,
            base,
            http,
            credentials,
            allowed: settings.allowed,
            insecure: settings.insecure,
            tokens: Mutex::default(),
            basic: AtomicBool::new(false),
            limit: Semaphore::new(settings.concurrency.max(1)),
            retry: settings.retry,
        }
    }

    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// Sends one request: authenticated as the registry's challenge asks, retried while throttled,
    /// redirects followed as the module docs say. Non-success answers become errors.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        target: &Target<'_>,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send_body(method, url, target, accept, None).await
    }

    /// As [`send`](Self::send), with a request body (an upload). The body is sent again on each try, and
    /// never off the registry's origin: an upload redirected elsewhere is refused.
    pub(crate) async fn send_body(
        &self,
        method: Method,
        url: &Url,
        target: &Target<'_>,
        accept: Option<&str>,
        body: Option<&Upload<'_>>,
    ) -> Result<reqwest::Response, RegistryError> {
        let (mut throttled, mut challenged, mut redirects) = (0u32, false, 0usize);
        let mut url = url.clone();
        loop {
            self.check_url(&url, target)?;
            let response = {
                let _permit = self.limit.acquire().await.map_err(|e| network(target, e.to_string()))?;
                let mut request = self.http.request(method.clone(), url.clone());
                if let Some(accept) = accept {
                    request = request.header(ACCEPT, accept);
                }
                if let Some(upload) = body {
                    request = request.header(CONTENT_TYPE, upload.content_type).body(upload.bytes.to_vec());
                }
                if self.may_send_credentials(&url) {
                    request = self.authorize(request, target.scope);
                }
                request
                    .send()
                    .await
                    .map_err(|e| network(target, format!("{} {url}: {}", target.what, error_chain(&e))))?
            };
            let status = response.status();
            match status {
                s if s.is_redirection() => {
                    let next = redirect_target(&url, &response, target)?;
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        return Err(protocol(target, format!("more than {MAX_REDIRECTS} redirects")));
                    }
                    if next.origin() == self.base.origin() {
                        url = next;
                    } else if body.is_some() {
                        return Err(protocol(target, "an upload was redirected off the registry".into()));
                    } else {
                        return self.follow_elsewhere(method, next, target, accept, redirects).await;
                    }
                }
                StatusCode::UNAUTHORIZED if !challenged && url.origin() == self.base.origin() => {
                    challenged = true;
                    let header = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
                    self.answer(header.and_then(challenge::parse), target).await?;
                }
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    throttled += 1;
                    let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok());
                    match self.retry.decide(throttled, retry_after, SystemTime::now()) {
                        Decision::Wait(wait) => {
                            tracing::info!(registry = %self.registry, url = %url, status = status.as_u16(),
                                wait_ms = wait.as_millis() as u64, "registry throttled; waiting");
                            tokio::time::sleep(wait).await;
                        }
                        Decision::GiveUp(why) => {
                            return Err(RegistryError::RateLimited {
                                reference: target.subject.to_string(),
                                message: format!("{} (HTTP {}): {why}", target.what, status.as_u16()),
                            });
                        }
                    }
                }
                s if s.is_success() => return Ok(response),
                _ => return Err(self.failure(response, target).await),
            }
        }
    }

    /// A redirect off the registry's origin (a blob on a storage host): no `Authorization` from here on,
    /// whichever host the chain leads to.
    async fn follow_elsewhere(
        &self,
        method: Method,
        mut url: Url,
        target: &Target<'_>,
        accept: Option<&str>,
        mut redirects: usize,
    ) -> Result<reqwest::Response, RegistryError> {
        loop {
            self.check_url(&url, target)?;
            tracing::debug!(registry = %self.registry, to = %url.origin().ascii_serialization(),
                "following a redirect off the registry without credentials");
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            let response = request
                .send()
                .await
                .map_err(|e| network(target, format!("{} {url}: {}", target.what, error_chain(&e))))?;
            if response.status().is_redirection() {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(protocol(target, format!("more than {MAX_REDIRECTS} redirects")));
                }
                url = redirect_target(&url, &response, target)?;
                continue;
            }
            if response.status().is_success() {
                return Ok(response);
            }
            return Err(self.failure(response, target).await);
        }
    }

    /// Scheme and IP-literal checks, before anything is sent to `url`.
    fn check_url(&self, url: &Url, target: &Target<'_>) -> Result<(), RegistryError> {
        let refuse = |why: String| RegistryError::Invalid {
            reference: target.subject.to_string(),
            message: format!("{}: refused to contact {}: {why}", target.what, url.origin().ascii_serialization()),
        };
        let host = host_port(url);
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) || self.insecure => {}
            "http" => return Err(refuse("plain HTTP to a host that is not loopback".into())),
            other => return Err(refuse(format!("the {other:?} scheme"))),
        }
        check_literal(url).map_err(refuse)
    }

    /// Credentials go to the registry's own origin only, and over plain HTTP only to loopback.
    fn may_send_credentials(&self, url: &Url) -> bool {
        url.origin() == self.base.origin() && (url.scheme() == "https" || is_loopback(&host_port(url)))
    }

    /// The error for a non-success answer: its status and registry error code, never its body.
    async fn failure(&self, response: reqwest::Response, target: &Target<'_>) -> RegistryError {
        let status = response.status();
        let body = read_bounded(response, MAX_ERROR_BYTES).await.unwrap_or_default();
        let shown = upstream_status(status.as_u16(), &body);
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RegistryError::Unauthorized {
                reference: target.subject.to_string(),
                message: format!(
                    "the registry refused access to {} ({shown}; {})",
                    target.what, self.credentials.description
                ),
            },
            StatusCode::NOT_FOUND => RegistryError::NotFound {
                reference: target.subject.to_string(),
                message: format!("{} does not exist in the registry ({shown})", missing(target, &shown)),
            },
            s if s.is_server_error() => network(target, format!("{}: the registry answered {shown}", target.what)),
            _ => protocol(target, format!("the registry answered {shown}")),
        }
    }

    fn authorize(&self, request: reqwest::RequestBuilder, scope: &str) -> reqwest::RequestBuilder {
        match &self.credentials.secret {
            Secret::Bearer(token) => return request.bearer_auth(token),
            Secret::Basic(user, password) if self.basic.load(Ordering::Relaxed) => {
                return request.basic_auth(user, Some(password));
            }
            _ => {}
        }
        let mut tokens = match self.tokens.lock() {
            Ok(tokens) => tokens,
            Err(poisoned) => poisoned.into_inner(),
        };
        match tokens.get(scope) {
            Some(token) if token.expires > Instant::now() => request.bearer_auth(&token.value),
            Some(_) => {
                tokens.remove(scope);
                request
            }
            None => request,
        }
    }

    /// A live token for `scope` this transport holds, if any (for handing a pull-scoped token to workers).
    pub(crate) fn token(&self, scope: &str) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        tokens.get(scope).filter(|t| t.expires > Instant::now()).map(|t| t.value.clone())
    }

    /// Acts on a 401's challenge so that the next try is authenticated.
    async fn answer(&self, challenge: Option<Challenge>, target: &Target<'_>) -> Result<(), RegistryError> {
        let refused = |why: &str| RegistryError::Unauthorized {
            reference: target.subject.to_string(),
            message: format!(
                "the registry refused access to {}: {why} ({})",
                target.what, self.credentials.description
            ),
        };
        match challenge {
            Some(Challenge::Bearer { realm, service }) => {
                let realm_url = Url::parse(&realm).map_err(|e| RegistryError::Protocol {
                    reference: target.subject.to_string(),
                    message: format!("the token realm is not a URL: {e}"),
                })?;
                let anonymous = Credentials::anonymous(" (the token realm is not this registry's)");
                let credentials = match self.realm_use(&realm_url) {
                    RealmUse::WithCredentials => &self.credentials,
                    RealmUse::Anonymous => {
                        if !self.credentials.is_anonymous() {
                            tracing::warn!(registry = %self.registry, realm = %challenge::realm_shown(&realm_url),
                                "token realm is on another host; asking it without credentials");
                        }
                        &anonymous
                    }
                    RealmUse::Refused(why) => return Err(refused(&why)),
                };
                self.check_url(&realm_url, target)?;
                let token = challenge::fetch_token(
                    &self.http,
                    &realm_url,
                    service.as_deref(),
                    target.scope,
                    credentials,
                    target.subject,
                )
                .await?;
                let mut tokens = match self.tokens.lock() {
                    Ok(tokens) => tokens,
                    Err(poisoned) => poisoned.into_inner(),
                };
                tokens.insert(target.scope.to_string(), token);
                Ok(())
            }
            Some(Challenge::Basic) if matches!(self.credentials.secret, Secret::Basic(..)) => {
                if !self.may_send_credentials(&self.base) {
                    return Err(refused("it wants a password, which is never sent over plain HTTP"));
                }
                self.basic.store(true, Ordering::Relaxed);
                Ok(())
            }
            Some(Challenge::Basic) => Err(refused("it wants a username and password")),
            None => Err(refused("HTTP 401 without a challenge this client can answer")),
        }
    }

    pub(crate) fn realm_use(&self, realm: &Url) -> RealmUse {
        realm_use(&self.registry, &self.base, &self.credentials.token_hosts, &self.allowed, realm)
    }
}

/// `host[:port]` of a URL (port only when not the scheme's default), brackets kept for IPv6.
pub(crate) fn host_port(url: &Url) -> String {
    // `host_str` keeps an IPv6 literal's brackets.
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

fn redirect_target(from: &Url, response: &reqwest::Response, target: &Target<'_>) -> Result<Url, RegistryError> {
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| protocol(target, format!("HTTP {} without a Location", response.status().as_u16())))?;
    from.join(location).map_err(|e| protocol(target, format!("a redirect to something that is not a URL: {e}")))
}

/// Reads a body up to `cap` bytes; a `Content-Length` over the cap fails before reading anything.
pub(crate) async fn read_bounded(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|len| len > cap as u64) {
        return Err(format!("the answer is larger than {cap} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| error_chain(&e))? {
        if body.len() + chunk.len() > cap {
            return Err(format!("the answer is larger than {cap} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// [`read_bounded`] for a request's answer, its failures named for the target.
pub(crate) async fn read_capped(
    response: reqwest::Response,
    cap: usize,
    target: &Target<'_>,
) -> Result<Vec<u8>, RegistryError> {
    read_bounded(response, cap).await.map_err(|e| protocol(target, e))
}

pub(crate) fn protocol(target: &Target<'_>, detail: String) -> RegistryError {
    RegistryError::Protocol { reference: target.subject.to_string(), message: format!("{}: {detail}", target.what) }
}

pub(crate) fn network(target: &Target<'_>, message: String) -> RegistryError {
    RegistryError::Network { reference: target.subject.to_string(), message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports() {
        for (url, expected) in [
            ("https://r.example/", "r.example"),
            ("https://r.example:443/", "r.example"),
            ("http://127.0.0.1:5000/x", "127.0.0.1:5000"),
            ("http://[::1]:5000/", "[::1]:5000"),
        ] {
            assert_eq!(host_port(&Url::parse(url).unwrap()), expected);
        }
    }
}
