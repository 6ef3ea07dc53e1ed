//! Placeholder: version ordering per ecosystem (owned by the vulndb work).
