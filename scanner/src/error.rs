//! The engine's error type: a kind (what went wrong, for exit codes and gRPC codes), a message that names
//! the image, layer and file involved, and the underlying source.

use std::fmt;

/// What kind of failure, independent of where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Reading bytes failed (file system, truncated stream).
    Io,
    /// Bytes were read but are not what they claim to be: bad JSON, corrupt gzip, unsafe tar paths.
    Parse,
    /// The blob's sha256 does not match the digest it was fetched by.
    DigestMismatch,
    /// The reference points at something that is not a container image (Helm chart, signature, …).
    NotAnImage,
    /// The image, tag or platform does not exist in the source.
    NotFound,
    /// The source refused access (registry 401/403): credentials missing or wrong.
    Unauthorized,
    /// The vulnerability DB file is missing, of another format version, or corrupt.
    Database,
    /// A request the engine cannot serve (bad argument, unsupported media type).
    Invalid,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::Io => "I/O error",
            ErrorKind::Parse => "parse error",
            ErrorKind::DigestMismatch => "digest mismatch",
            ErrorKind::NotAnImage => "not an image",
            ErrorKind::NotFound => "not found",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Database => "database error",
            ErrorKind::Invalid => "invalid request",
        };
        f.write_str(s)
    }
}

/// An engine error: `kind: message` with the cause chained as `source()`.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), source: None }
    }

    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error { kind, message: message.into(), source: Some(Box::new(source)) }
    }

    /// Prefixes the message with more context (e.g. the image name), keeping kind and source.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
