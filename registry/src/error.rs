//! What can go wrong talking to a registry, sorted into the few cases a user acts on differently. Every
//! message names the image reference (and the digest where one is involved) and never a credential.

use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
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
            RegistryError::Invalid { .. } => ErrorKind::Invalid,
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
    /// e.g. `no credentials were sent`; only ever a description of where credentials came from.
    pub credentials: &'a str,
}

impl Context<'_> {
    pub(crate) fn classify(&self, err: OciDistributionError) -> RegistryError {
        let reference = self.reference.to_string();
        let what = &self.what;
        let denied = |detail: &str| RegistryError::Unauthorized {
            reference: reference.clone(),
            message: format!("the registry refused access to {what}{detail} ({})", self.credentials),
        };
        let not_found = |detail: &str| RegistryError::NotFound {
            reference: reference.clone(),
            message: format!("{what} does not exist in the registry ({detail})"),
        };
        let protocol = |detail: String| RegistryError::Protocol {
            reference: reference.clone(),
            message: format!("{what}: {detail}"),
        };
        let network = |detail: String| RegistryError::Network {
            reference: reference.clone(),
            message: format!("{what}: {detail}"),
        };
        match err {
            OciDistributionError::UnauthorizedError { .. } => denied(""),
            OciDistributionError::AuthenticationFailure(_) => denied(": the token service refused the login"),
            OciDistributionError::RegistryError { envelope, .. } => {
                let detail: Vec<String> =
                    envelope.errors.iter().map(|e| format!("{:?}: {}", e.code, e.message)).collect();
                let detail = truncate(&detail.join("; "));
                match envelope.errors.first().map(|e| &e.code) {
                    Some(OciErrorCode::Unauthorized | OciErrorCode::Denied) => denied(&format!(": {detail}")),
                    Some(
                        OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound,
                    ) => not_found(&detail),
                    Some(OciErrorCode::Toomanyrequests) => network(format!("rate limited by the registry: {detail}")),
                    _ => protocol(detail),
                }
            }
            OciDistributionError::ServerError { code, message, .. } => match code {
                401 | 403 => denied(&format!(": HTTP {code}")),
                404 => not_found(&format!("HTTP 404: {}", truncate(&message))),
                429 | 500.. => network(format!("the registry answered HTTP {code}: {}", truncate(&message))),
                _ => protocol(format!("the registry answered HTTP {code}: {}", truncate(&message))),
            },
            OciDistributionError::DigestError(DigestError::VerificationError { expected, actual }) => {
                RegistryError::DigestMismatch { reference, expected, actual }
            }
            OciDistributionError::RequestError(e) => network(error_chain(&e)),
            OciDistributionError::IoError(e) => network(error_chain(&e)),
            other => protocol(error_chain(&other)),
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
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
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

/// Registries answer errors with whole HTML pages; a line is enough.
pub(crate) fn truncate(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> Context<'static> {
        Context { reference: "r.example/app:1", what: "manifest 1".into(), credentials: "no credentials were sent" }
    }

    #[test]
    fn status_codes_map_to_kinds() {
        let server = |code| OciDistributionError::ServerError { code, url: "u".into(), message: "<html>".into() };
        assert_eq!(cx().classify(server(401)).kind(), ErrorKind::Unauthorized);
        assert_eq!(cx().classify(server(403)).kind(), ErrorKind::Unauthorized);
        assert!(matches!(cx().classify(server(403)), RegistryError::Unauthorized { .. }));
        assert_eq!(cx().classify(server(404)).kind(), ErrorKind::NotFound);
        assert_eq!(cx().classify(server(503)).kind(), ErrorKind::Io);
        assert!(matches!(cx().classify(server(404)), RegistryError::NotFound { .. }));
        assert!(matches!(cx().classify(server(503)), RegistryError::Network { .. }));
        assert!(matches!(cx().classify(server(418)), RegistryError::Protocol { .. }));
    }

    #[test]
    fn envelope_codes_map_to_kinds() {
        let env = |code: &str| OciDistributionError::RegistryError {
            envelope: serde_json::from_str(&format!(r#"{{"errors":[{{"code":"{code}","message":"m"}}]}}"#)).unwrap(),
            url: "u".into(),
        };
        assert!(matches!(cx().classify(env("MANIFEST_UNKNOWN")), RegistryError::NotFound { .. }));
        assert!(matches!(cx().classify(env("NAME_UNKNOWN")), RegistryError::NotFound { .. }));
        assert!(matches!(cx().classify(env("DENIED")), RegistryError::Unauthorized { .. }));
        assert!(matches!(cx().classify(env("TOOMANYREQUESTS")), RegistryError::Network { .. }));
        let err = cx().classify(env("UNAUTHORIZED"));
        assert!(err.to_string().starts_with("r.example/app:1: access denied"), "{err}");
        assert!(err.to_string().contains("no credentials were sent"), "{err}");
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

    #[test]
    fn long_bodies_are_cut() {
        assert_eq!(truncate(&"x".repeat(1000)).chars().count(), 301);
        assert_eq!(truncate(" short "), "short");
    }
}
