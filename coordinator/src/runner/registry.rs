//! Registry access for manifest resolution: the coordinator's own settings, credentials a caller lends
//! for one scan, one client per platform.

use std::sync::Arc;

use strata_registry::{RegistryClient, RegistryOptions};

use super::Runner;
use crate::error::{CoordinatorError, Result};

/// Registry settings the coordinator resolves manifests with (its own credentials).
#[derive(Clone, Default)]
pub struct RegistrySettings {
    pub insecure: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub docker_config: Option<std::path::PathBuf>,
}

/// Credentials a caller lends for one scan's manifest resolution (Harbor's robot account): held in
/// memory until the scan resolves, never stored, logged or sent to workers.
#[derive(Clone)]
pub struct RegistryCredential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistryCredential(<redacted>)")
    }
}

/// `registry/name:tag` or `registry/name@sha256:…` → `registry/name`: where the layers' blobs live.
pub fn repository_of(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match (without_digest.rfind(':'), without_digest.rfind('/')) {
        (Some(colon), Some(slash)) if colon > slash => &without_digest[..colon],
        (Some(colon), None) => &without_digest[..colon],
        _ => without_digest,
    }
}

impl Runner {
    pub(super) fn client(&self, platform: &str) -> Result<Arc<RegistryClient>> {
        let mut clients = self.clients.lock().map_err(|_| CoordinatorError::Internal("client lock poisoned".into()))?;
        if let Some(c) = clients.get(platform) {
            return Ok(c.clone());
        }
        let options = RegistryOptions {
            insecure: self.registry.insecure,
            platform: platform.parse()?,
            docker_config: self.registry.docker_config.clone(),
            username: self.registry.username.clone(),
            password: self.registry.password.clone(),
        };
        let client = Arc::new(RegistryClient::new(options)?);
        clients.insert(platform.to_string(), client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::repository_of;

    #[test]
    fn repositories() {
        for (reference, repo) in [
            ("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app"),
            ("127.0.0.1:5000/team/app@sha256:abc", "127.0.0.1:5000/team/app"),
            ("127.0.0.1:5000/app", "127.0.0.1:5000/app"),
            ("debian:11", "debian"),
            ("registry.example.com/a/b:tag@sha256:abc", "registry.example.com/a/b"),
        ] {
            assert_eq!(repository_of(reference), repo);
        }
    }
}
