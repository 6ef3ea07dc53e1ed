//! An OCI artifact manifest as a registry answers it (a DB source's `oci://` tag): bytes it controls.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata_registry::parse_artifact_manifest;

const TYPE: &str = "application/vnd.strata.vulndb.v1";

fuzz_target!(|data: &[u8]| {
    if let Ok(artifact) = parse_artifact_manifest("fuzz/db:1", "manifest 1", data, TYPE) {
        // Only a manifest of the asked-for type with exactly one file is accepted.
        assert_eq!(artifact.artifact_type, TYPE);
        assert!(artifact.digest.starts_with("sha256:") && artifact.digest.len() == 71);
    }
});
