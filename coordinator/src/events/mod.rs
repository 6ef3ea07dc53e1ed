//! New-vulnerability events: when a rescan against a new DB finds what an image did not have before (the
//! rescan delta), one event per image lists the new findings and is POSTed, signed, to a webhook.
//!
//! - [`outbox`]: the event is written in the MULTI that stores the rescan's report (a crash leaves both or
//!   neither), under a deterministic id, and its findings join the image's announced set so that no finding
//!   is announced twice — across DB updates, replicas and restarts.
//! - [`delivery`]: leases due events, POSTs them, retries with backoff, dead-letters after the last attempt.
//! - [`signature`]: `X-Strata-Signature`, the HMAC-SHA256 a receiver checks.
//!
//! Settings are `STRATA_EVENTS_*` (docs/events.md); without `STRATA_EVENTS_WEBHOOK_URL` nothing is queued.

pub mod delivery;
pub mod outbox;
pub mod signature;

use std::time::Duration;

use crate::error::{CoordinatorError, Result};

#[derive(Clone)]
pub struct Settings {
    pub url: String,
    /// The HMAC key; from `STRATA_EVENTS_SECRET_FILE`, never from a flag or a plain variable.
    pub secret: Vec<u8>,
    pub max_attempts: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub timeout: Duration,
    pub concurrency: usize,
}

impl std::fmt::Debug for Settings {
    // The secret never reaches a log, and the URL's query or user-info may carry a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("url", &redacted_url(&self.url))
            .field("max_attempts", &self.max_attempts)
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// `None` when `STRATA_EVENTS_WEBHOOK_URL` is unset; an error (the coordinator does not start) when it
    /// is set without a readable, non-empty secret file or with a setting that does not parse.
    pub fn from_env() -> Result<Option<Settings>> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let Some(url) = var("STRATA_EVENTS_WEBHOOK_URL") else { return Ok(None) };
        let invalid = |why: String| CoordinatorError::Invalid(why);
        let parsed = reqwest::Url::parse(url.trim())
            .map_err(|e| invalid(format!("STRATA_EVENTS_WEBHOOK_URL is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("STRATA_EVENTS_WEBHOOK_URL must be http:// or https://".into()));
        }
        let path = var("STRATA_EVENTS_SECRET_FILE").ok_or_else(|| {
            invalid("STRATA_EVENTS_WEBHOOK_URL needs STRATA_EVENTS_SECRET_FILE (the HMAC key)".into())
        })?;
        let secret = read_secret(&path)?;
        if secret.is_empty() {
            return Err(invalid(format!("STRATA_EVENTS_SECRET_FILE {path} is empty")));
        }
        let number = |name: &str, default: u64| -> Result<u64> {
            match var(name) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| invalid(format!("{name} must be a whole number, not {v:?}"))),
            }
        };
        Ok(Some(Settings {
            url: url.trim().to_string(),
            secret,
            max_attempts: number("STRATA_EVENTS_MAX_ATTEMPTS", 12)?.clamp(1, 1000) as u32,
            backoff: Duration::from_millis(number("STRATA_EVENTS_BACKOFF_MS", 2000)?),
            max_backoff: Duration::from_millis(number("STRATA_EVENTS_MAX_BACKOFF_MS", 300_000)?),
            timeout: Duration::from_secs(number("STRATA_EVENTS_TIMEOUT_SECS", 10)?.max(1)),
            concurrency: number("STRATA_EVENTS_CONCURRENCY", 4)?.clamp(1, 256) as usize,
        }))
    }
}

/// A key is a few dozen bytes: a larger file is not a key file (and is not read whole).
const MAX_SECRET_BYTES: u64 = 4096;

fn read_secret(path: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let invalid = |why: String| CoordinatorError::Invalid(format!("STRATA_EVENTS_SECRET_FILE {path}: {why}"));
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| invalid(e.to_string()))?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(invalid(format!("over {MAX_SECRET_BYTES} bytes")));
    }
    Ok(text.trim().as_bytes().to_vec())
}

/// The webhook URL as it may be logged: scheme, host, port and path only.
pub fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "(unparsable URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logged_url_has_no_credentials_nor_query() {
        assert_eq!(redacted_url("https://user:pw@hook.example:8443/p/a?token=x#f"), "https://hook.example:8443/p/a");
        assert_eq!(redacted_url("not a url"), "(unparsable URL)");
    }

    #[test]
    fn the_secret_file_is_trimmed_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "  k3y\n").unwrap();
        assert_eq!(read_secret(path.to_str().unwrap()).unwrap(), b"k3y");
        std::fs::write(&path, "x".repeat(5000)).unwrap();
        let err = read_secret(path.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("over 4096 bytes") && !err.contains("xxxx"), "{err}");
    }
}
