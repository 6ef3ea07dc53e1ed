//! What can go wrong talking to a registry, sorted into the few cases a user acts on differently. Every
//! message names the image reference (and the digest where one is involved) and never a credential.

use strata_scanner::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// 401/403: the message says whether credentials were sent and where they came from.
    #[error("{reference}: access denied: {message}")]
    Unauthorized { reference: String, message: String },
    /// Unknown repository, tag, digest or platform.
    #[error("{reference}: not found: {message}")]
    NotFound { reference: String, message: String },
    /// A Helm chart, signature or other OCI artifact rather than a container image.
    #[error("{reference}: not a container image: {message}")]
    NotAnImage { reference: String, message: String },
    /// The registry could not be reached or did not answer (refused, DNS, TLS, timeout, 5xx, rate limit).
    #[error("{reference}: cannot reach the registry: {message}")]
    Network { reference: String, message: String },
    /// The registry kept answering 429/503 (rate limit) beyond the retry policy, or asked for a longer
    /// wait than the policy allows.
    #[error("{reference}: rate limited by the registry: {message}")]
    RateLimited { reference: String, message: String },
    /// The registry answered with something that is not a valid manifest, config or protocol response.
    #[error("{reference}: unexpected registry response: {message}")]
    Protocol { reference: String, message: String },
    /// Content does not hash to the digest it was fetched by.
    #[error("{reference}: digest mismatch: expected {expected}, the registry sent content with digest {actual}")]
    DigestMismatch { reference: String, expected: String, actual: String },
    /// The registry (or an address it leads to) is outside what this process may contact; nothing was sent.
    #[error("{reference}: not allowed: {message}")]
    NotAllowed { reference: String, message: String },
    /// A bad reference or option, or an unreadable Docker config.
    #[error("{reference}: {message}")]
    Invalid { reference: String, message: String },
}

impl RegistryError {
    /// The engine's kind, which the CLI maps to an exit code. Access denied is `Unauthorized` (missing or
    /// wrong credentials), never `Io`, so a caller does not retry it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::Unauthorized { .. } => ErrorKind::Unauthorized,
            RegistryError::Invalid { .. } | RegistryError::NotAllowed { .. } => ErrorKind::Invalid,
            RegistryError::NotFound { .. } => ErrorKind::NotFound,
            RegistryError::NotAnImage { .. } => ErrorKind::NotAnImage,
            RegistryError::Network { .. } | RegistryError::RateLimited { .. } => ErrorKind::Io,
            RegistryError::Protocol { .. } => ErrorKind::Parse,
            RegistryError::DigestMismatch { .. } => ErrorKind::DigestMismatch,
        }
    }
}

impl From<RegistryError> for strata_scanner::Error {
    fn from(err: RegistryError) -> Self {
        strata_scanner::Error::new(err.kind(), err.to_string())
    }
}

/// What a failed request was about, to word the error.
pub(crate) struct Context<'a> {
    pub reference: &'a str,
    /// e.g. `manifest latest`, `blob sha256:…`.
    pub what: String,
}

impl Context<'_> {
    pub(crate) fn timed_out(&self, limit: std::time::Duration) -> RegistryError {
        RegistryError::Network {
            reference: self.reference.to_string(),
            message: format!("{}: no complete answer within {} s", self.what, limit.as_secs()),
        }
    }

    /// For errors the engine's parsers report about bytes we fetched (manifest, index, config).
    pub(crate) fn classify_engine(&self, err: strata_scanner::Error) -> RegistryError {
        let reference = self.reference.to_string();
        // `ResolvedImage::new` already prefixes the image name; keep it once.
        let prefix = format!("{reference}: ");
        let message = err.message.strip_prefix(&prefix).unwrap_or(&err.message).to_string();
        let message = match &err.source {
            Some(source) => format!("{}: {message}: {source}", self.what),
            None => format!("{}: {message}", self.what),
        };
        match err.kind {
            ErrorKind::NotAnImage => RegistryError::NotAnImage { reference, message },
            ErrorKind::NotFound => RegistryError::NotFound { reference, message },
            ErrorKind::Unauthorized => RegistryError::Unauthorized { reference, message },
            ErrorKind::Invalid => RegistryError::Invalid { reference, message },
            _ => RegistryError::Protocol { reference, message },
        }
    }
}

/// `a: b: c` from an error and its sources, skipping a cause whose text the previous one already shows
/// (reqwest and hyper often repeat themselves).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

/// What a failed upstream answer may say about itself in our errors, reports and logs: its status and the
/// registry's error codes (`HTTP 404 (MANIFEST_UNKNOWN)`), never its body. A hostile registry, or an
/// internal service a request was steered to, must not get its text reflected back to whoever can read the
/// scan's error.
pub(crate) fn upstream_status(status: u16, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: serde_json::Value,
    }
    let codes: Vec<String> = serde_json::from_slice::<Envelope>(body)
        .map(|e| e.errors)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.code.as_str().map(str::to_string))
        .filter(|c| {
            !c.is_empty()
                && c.len() <= 40
                && c.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .take(3)
        .collect();
    if codes.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status} ({})", codes.join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> Context<'static> {
        Context { reference: "r.example/app:1", what: "manifest 1".into() }
    }

    #[test]
    fn upstream_bodies_are_never_reflected() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"secret internal text"},{"code":"<script>"}]}"#;
        assert_eq!(upstream_status(404, body), "HTTP 404 (MANIFEST_UNKNOWN)");
        assert_eq!(upstream_status(500, b"<html>redis internal error: hunter2</html>"), "HTTP 500");
        assert_eq!(
            upstream_status(400, br#"{"errors":[{"code":"A_VERY_LONG_CODE_THAT_GOES_ON_AND_ON_AND_ON_X"}]}"#),
            "HTTP 400"
        );
    }

    #[test]
    fn engine_errors_keep_kind_and_name_the_image_once() {
        let err = strata_scanner::Error::new(ErrorKind::NotAnImage, "r.example/app:1: this is a helm chart");
        let err = cx().classify_engine(err);
        assert!(matches!(err, RegistryError::NotAnImage { .. }));
        assert_eq!(err.to_string().matches("r.example/app:1").count(), 1, "{err}");
        let err = strata_scanner::Error::new(ErrorKind::Unauthorized, "r.example/app:1: denied");
        let err = cx().classify_engine(err);
        assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
    }
}
