//! Placeholder: OSV range evaluation (owned by the vulndb work).
