//! The DB as an OCI artifact: `strata db push` publishes a DB file under its own artifact type with
//! annotations that say what it holds (format version, content digest, advisory count, newest advisory),
//! and coordinators pull it by digest — resolve the tag, stop when the file is the one they hold, else
//! read the file bounded and digest-checked.

use std::collections::BTreeMap;

use strata_registry::{Artifact, NewArtifact, RegistryClient};
use strata_scanner::vulndb::{DbHeader, FORMAT_VERSION, VulnDb};

use crate::{DbSourceError, Result};

pub const ARTIFACT_TYPE: &str = "application/vnd.strata.vulndb.v1";
/// The DB file itself (format: `strata_scanner::vulndb`, version in [`FORMAT_VERSION_ANNOTATION`]).
pub const FILE_MEDIA_TYPE: &str = "application/vnd.strata.vulndb.file.v1";
pub const FORMAT_VERSION_ANNOTATION: &str = "dev.strata.vulndb.format-version";
pub const CONTENT_DIGEST_ANNOTATION: &str = "dev.strata.vulndb.content-digest";
pub const ADVISORIES_ANNOTATION: &str = "dev.strata.vulndb.advisories";
pub const NEWEST_ADVISORY_ANNOTATION: &str = "dev.strata.vulndb.newest-advisory";
const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// The manifest annotations of `db`.
pub fn annotations(db: &VulnDb) -> BTreeMap<String, String> {
    let h = db.header();
    let mut out = BTreeMap::from([
        (FORMAT_VERSION_ANNOTATION.to_string(), h.format_version.to_string()),
        (CONTENT_DIGEST_ANNOTATION.to_string(), h.content_digest.clone()),
        (ADVISORIES_ANNOTATION.to_string(), db.advisories().len().to_string()),
        (CREATED_ANNOTATION.to_string(), h.built_at.clone()),
    ]);
    if let Some(newest) = &h.newest_advisory {
        out.insert(NEWEST_ADVISORY_ANNOTATION.to_string(), newest.clone());
    }
    out
}

/// Publishes the DB file `bytes` (checked first: a corrupt or unsupported file is never published) under
/// `reference`. Returns the manifest digest and the DB's header.
pub async fn push(client: &RegistryClient, reference: &str, bytes: Vec<u8>) -> Result<(String, DbHeader)> {
    let (db, bytes) = tokio::task::spawn_blocking(move || VulnDb::from_bytes(&bytes).map(|db| (db, bytes)))
        .await
        .map_err(|e| DbSourceError::Invalid(format!("reading the DB: {e}")))??;
    let artifact = NewArtifact {
        artifact_type: ARTIFACT_TYPE,
        file_media_type: FILE_MEDIA_TYPE,
        file_name: "strata.db",
        file: &bytes,
        annotations: annotations(&db),
    };
    let digest = client.push_artifact(reference, &artifact).await?;
    Ok((digest, db.header().clone()))
}

/// What a pull found.
pub enum Pulled {
    /// The artifact's file is one of those to skip (the one held, one refused before): nothing was
    /// downloaded.
    Unchanged { artifact: Artifact },
    /// A different file, downloaded and digest-checked (not yet decoded or checked as a DB).
    New { artifact: Artifact, bytes: Vec<u8> },
}

/// Resolves `reference` and downloads its file unless its digest is in `skip` (file digests), at most
/// `cap` bytes. An artifact announcing a format version this build does not read is refused before its
/// file is read.
pub async fn pull(client: &RegistryClient, reference: &str, skip: &[&str], cap: u64) -> Result<Pulled> {
    let artifact = client.artifact_manifest(reference, ARTIFACT_TYPE).await?;
    if skip.contains(&artifact.file.digest.as_str()) {
        return Ok(Pulled::Unchanged { artifact });
    }
    if let Some(version) = artifact.annotations.get(FORMAT_VERSION_ANNOTATION)
        && version.trim() != FORMAT_VERSION.to_string()
    {
        return Err(DbSourceError::Invalid(format!(
            "{reference} ({}) is DB format version {version}; this build reads version {FORMAT_VERSION}",
            artifact.digest
        )));
    }
    let bytes = client.fetch_artifact_file(reference, &artifact, cap).await?;
    Ok(Pulled::New { artifact, bytes })
}
