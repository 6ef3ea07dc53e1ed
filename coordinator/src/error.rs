//! The coordinator's error type and its one mapping to gRPC status codes.

use strata_scanner::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("{0}")]
    Scan(#[from] strata_scanner::Error),
    #[error("{0}")]
    Registry(#[from] strata_registry::RegistryError),
    #[error("{0}")]
    Fleet(#[from] strata_fleet::FleetError),
    #[error("Redis: {0}")]
    Redis(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<redis::RedisError> for CoordinatorError {
    fn from(e: redis::RedisError) -> Self {
        CoordinatorError::Redis(strata_fleet::cache::redact(&e.to_string()))
    }
}

impl From<CoordinatorError> for tonic::Status {
    fn from(e: CoordinatorError) -> Self {
        let kind = match &e {
            CoordinatorError::Scan(s) => Some(s.kind),
            CoordinatorError::Registry(r) => Some(r.kind()),
            _ => None,
        };
        let message = e.to_string();
        match (&e, kind) {
            (CoordinatorError::NotFound(_), _) | (_, Some(ErrorKind::NotFound)) => tonic::Status::not_found(message),
            (CoordinatorError::Invalid(_), _) | (_, Some(ErrorKind::Invalid | ErrorKind::NotAnImage)) => {
                tonic::Status::invalid_argument(message)
            }
            (_, Some(ErrorKind::Unauthorized)) => tonic::Status::permission_denied(message),
            (CoordinatorError::Redis(_) | CoordinatorError::Fleet(_), _) | (_, Some(ErrorKind::Io)) => {
                tonic::Status::unavailable(message)
            }
            _ => tonic::Status::internal(message),
        }
    }
}

pub type Result<T, E = CoordinatorError> = std::result::Result<T, E>;
