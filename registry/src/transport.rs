//! One registry's HTTP API as [`crate::catalog`] uses it: each request authenticated as the registry's
//! challenge asks (basic credentials, or a bearer token for the request's scope from [`crate::challenge`],
//! cached per scope until it expires), retried while the registry throttles (`429`/`503`, under a
//! [`RetryPolicy`]), with at most a set number of requests in flight, and its failures sorted into
//! [`RegistryError`]s that name what was asked for and never a credential.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use oci_client::secrets::RegistryAuth;
use reqwest::header::{ACCEPT, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use tokio::sync::Semaphore;

use crate::auth::Credentials;
use crate::challenge::{self, Challenge, Token};
use crate::error::{RegistryError, error_chain, truncate};
use crate::throttle::{Decision, RetryPolicy};

/// A listing or manifest is small; the cap keeps a hostile registry from making us buffer gigabytes.
const MAX_BODY_BYTES: usize = 16 << 20;

/// Which request, for error messages and the token scope.
pub(crate) struct Target<'a> {
    pub subject: &'a str,
    pub what: &'a str,
    pub scope: &'a str,
}

pub(crate) struct Transport {
    host: String,
    http: reqwest::Client,
    pub credentials: Credentials,
    tokens: Mutex<HashMap<String, Token>>,
    /// The registry answered a challenge with `Basic`: send the credentials with every request.
    basic: AtomicBool,
    limit: Semaphore,
    retry: RetryPolicy,
}

impl Transport {
    pub(crate) fn new(
        host: String,
        http: reqwest::Client,
        credentials: Credentials,
        concurrency: usize,
        retry: RetryPolicy,
    ) -> Self {
        Transport {
            host,
            http,
            credentials,
            tokens: Mutex::default(),
            basic: AtomicBool::new(false),
            limit: Semaphore::new(concurrency.max(1)),
            retry,
        }
    }

    /// Sends one request: authenticated as the registry's challenge asks, retried while throttled.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        target: &Target<'_>,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let (mut throttled, mut challenged) = (0u32, false);
        loop {
            let response = {
                let _permit = self.limit.acquire().await.map_err(|e| network(target, e.to_string()))?;
                let mut request = self.http.request(method.clone(), url.clone());
                if let Some(accept) = accept {
                    request = request.header(ACCEPT, accept);
                }
                self.authorize(request, target.scope)
                    .send()
                    .await
                    .map_err(|e| network(target, format!("{} {url}: {}", target.what, error_chain(&e))))?
            };
            let status = response.status();
            match status {
                StatusCode::UNAUTHORIZED if !challenged => {
                    challenged = true;
                    let header = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
                    self.answer(header.and_then(challenge::parse), target).await?;
                }
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    throttled += 1;
                    let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok());
                    match self.retry.decide(throttled, retry_after, SystemTime::now()) {
                        Decision::Wait(wait) => {
                            tracing::info!(registry = %self.host, url = %url, status = status.as_u16(),
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
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(RegistryError::Unauthorized {
                        reference: target.subject.to_string(),
                        message: format!(
                            "the registry refused access to {} (HTTP {}; {})",
                            target.what,
                            status.as_u16(),
                            self.credentials.description
                        ),
                    });
                }
                StatusCode::NOT_FOUND => {
                    return Err(RegistryError::NotFound {
                        reference: target.subject.to_string(),
                        message: format!("{} does not exist in the registry (HTTP 404)", target.what),
                    });
                }
                s if s.is_success() => return Ok(response),
                s => {
                    let body = response.text().await.unwrap_or_default();
                    return Err(protocol(target, format!("HTTP {}: {}", s.as_u16(), truncate(&body))));
                }
            }
        }
    }

    fn authorize(&self, request: reqwest::RequestBuilder, scope: &str) -> reqwest::RequestBuilder {
        match &self.credentials.auth {
            RegistryAuth::Bearer(token) => return request.bearer_auth(token),
            RegistryAuth::Basic(user, password) if self.basic.load(Ordering::Relaxed) => {
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
                let token = challenge::fetch_token(
                    &self.http,
                    &realm,
                    service.as_deref(),
                    target.scope,
                    &self.credentials,
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
            Some(Challenge::Basic) if matches!(self.credentials.auth, RegistryAuth::Basic(..)) => {
                self.basic.store(true, Ordering::Relaxed);
                Ok(())
            }
            Some(Challenge::Basic) => Err(refused("it wants a username and password")),
            None => Err(refused("HTTP 401 without a challenge this client can answer")),
        }
    }
}

pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    target: &Target<'_>,
) -> Result<Vec<u8>, RegistryError> {
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| network(target, format!("{}: {}", target.what, error_chain(&e))))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(protocol(target, format!("larger than {MAX_BODY_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub(crate) fn protocol(target: &Target<'_>, detail: String) -> RegistryError {
    RegistryError::Protocol { reference: target.subject.to_string(), message: format!("{}: {detail}", target.what) }
}

pub(crate) fn network(target: &Target<'_>, message: String) -> RegistryError {
    RegistryError::Network { reference: target.subject.to_string(), message }
}
