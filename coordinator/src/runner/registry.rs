//! Registry access for manifest resolution: the coordinator's own settings, credentials a caller lends
//! for one scan, one client per platform.

use std::sync::Arc;

use strata_registry::{AllowList, CredentialSources, RegistryClient, RegistryOptions};

use super::Runner;
use crate::error::{CoordinatorError, Result};

/// Registry settings the coordinator resolves manifests and lists catalogs with: its own credentials (each
/// for its own registry) and the registries it may contact at all.
#[derive(Clone, Default, Debug)]
pub struct RegistrySettings {
    pub insecure: bool,
    pub credentials: CredentialSources,
    /// `STRATA_ALLOWED_REGISTRIES` plus the configured sweep and notify registries; the registries the
    /// credentials are for are added by the client.
    pub allowed: AllowList,
}

/// Credentials a caller lends for one scan (Harbor's robot account): held in memory until the scan
/// resolves, never stored, logged or sent to workers (they get a pull token minted with it), and only for
/// the registry of the scan's reference.
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

impl Runner {
    pub(super) fn client(&self, platform: &str) -> Result<Arc<RegistryClient>> {
        let mut clients = self.clients.lock().map_err(|_| CoordinatorError::Internal("client lock poisoned".into()))?;
        if let Some(c) = clients.get(platform) {
            return Ok(c.clone());
        }
        let options = RegistryOptions {
            insecure: self.registry.insecure,
            platform: platform.parse()?,
            credentials: self.registry.credentials.clone(),
            allowed: self.registry.allowed.clone(),
        };
        let client = Arc::new(RegistryClient::new(options)?);
        clients.insert(platform.to_string(), client.clone());
        Ok(client)
    }

    /// Refuses a reference whose registry the coordinator may not contact, before anything is stored,
    /// queued or connected to.
    pub fn check_registry(&self, reference: &str) -> Result<()> {
        self.client("linux/amd64")?.check_allowed(reference)?;
        Ok(())
    }

    /// A client holding only `credential`, for the registry of `reference` only (and allowed as the
    /// coordinator's own client is).
    pub(super) fn lent_client(
        &self,
        reference: &str,
        platform: &str,
        credential: RegistryCredential,
    ) -> Result<Arc<RegistryClient>> {
        let registry = self.client(platform)?.check_allowed(reference)?;
        let credentials = CredentialSources {
            username: Some(credential.username),
            password: Some(credential.password),
            hosts: vec![registry],
            // The lent pair wins for its registry, the only one this client talks to.
            docker_config: None,
            credentials_file: None,
        };
        let options = RegistryOptions {
            insecure: self.registry.insecure,
            platform: platform.parse()?,
            credentials,
            allowed: self.registry.allowed.clone(),
        };
        Ok(Arc::new(RegistryClient::new(options)?))
    }
}

/// The pull-scoped token the registry's token service issued for a lent credential while `client` resolved
/// `reference`. A registry that takes the credential as basic auth issues none: the scan fails rather than
/// have its workers use the password, their own credential (mixing parties) or none (docs/security.md).
pub(super) async fn lent_pull_token(client: &RegistryClient, reference: &str) -> Result<String> {
    client.pull_token(reference).await?.ok_or_else(|| {
        CoordinatorError::Invalid(format!(
            "{reference}: the registry took the lent credential as basic auth and issued no pull token; a lent \
             basic credential cannot be passed to workers, so this scan is not run (docs/security.md)"
        ))
    })
}
