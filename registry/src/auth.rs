//! Registry credentials, keyed by registry host as Docker keys its `auths`: the single username/password
//! pair only for the host(s) named with it, a credentials file (host → user/password or identity token),
//! the Docker CLI's `config.json` (`auths`, `credHelpers`, `credsStore`), else anonymous. A credential is
//! only ever looked up for the registry a request goes to, so it cannot reach another one.
//!
//! Nothing here ever formats a secret: types holding one have a redacting `Debug`, and parse errors name a
//! line and column, never a value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::docker::DockerConfig;
use crate::error::RegistryError;
use crate::reference::{canonical_host, normalize_config_key};

/// What is presented to a registry (or its token realm).
#[derive(Clone)]
pub(crate) enum Secret {
    Anonymous,
    Basic(String, String),
    /// An OAuth2 refresh token (Docker's `identitytoken`), exchanged at the token realm.
    IdentityToken(String),
    /// A registry token presented as is (Docker's `registrytoken`).
    Bearer(String),
}

/// The credentials for one registry, where they came from (for error messages: "credentials were sent:
/// …" or "no credentials were sent"), and the token hosts besides the registry's own that may receive them.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub secret: Secret,
    pub description: String,
    pub token_hosts: Vec<String>,
}

impl Credentials {
    pub(crate) fn anonymous(note: &str) -> Self {
        Credentials {
            secret: Secret::Anonymous,
            description: format!("no credentials were sent{note}"),
            token_hosts: Vec::new(),
        }
    }

    pub(crate) fn is_anonymous(&self) -> bool {
        matches!(self.secret, Secret::Anonymous)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.secret {
            Secret::Anonymous => "anonymous",
            Secret::Basic(..) => "basic <redacted>",
            Secret::IdentityToken(_) => "identity token <redacted>",
            Secret::Bearer(_) => "bearer <redacted>",
        };
        f.debug_struct("Credentials").field("secret", &kind).field("description", &self.description).finish()
    }
}

/// Where credentials may come from; every field optional.
#[derive(Clone, Default)]
pub struct CredentialSources {
    /// The single pair (`STRATA_REGISTRY_USERNAME`/`_PASSWORD`), sent only to `hosts`. Give both or neither.
    pub username: Option<String>,
    pub password: Option<String>,
    /// The registries (`host[:port]`) the pair is for (`STRATA_REGISTRY_HOST`, comma-separated). Required
    /// with the pair: a credential without a registry would go to whichever registry a request names.
    pub hosts: Vec<String>,
    /// A JSON file: `{"host[:port]": {"username": …, "password": …} | {"identity_token": …},
    /// "token_hosts": [extra token realm hosts]}` (see docs/security.md).
    pub credentials_file: Option<PathBuf>,
    /// A Docker `config.json` (or its directory). Without it, `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json` is used if present.
    pub docker_config: Option<PathBuf>,
}

impl fmt::Debug for CredentialSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("CredentialSources")
            .field("username", &redact(&self.username))
            .field("password", &redact(&self.password))
            .field("hosts", &self.hosts)
            .field("credentials_file", &self.credentials_file)
            .field("docker_config", &self.docker_config)
            .finish()
    }
}

/// One credentials-file entry. Deliberately not `Debug`.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identity_token: Option<String>,
    #[serde(default)]
    token_hosts: Vec<String>,
}

/// Everything credentials can come from, loaded once per client. Cheap to clone.
#[derive(Clone)]
pub(crate) struct CredentialStore {
    inner: Arc<Inner>,
}

struct Inner {
    explicit: Option<(String, String, Vec<String>)>,
    file: Option<(PathBuf, BTreeMap<String, FileEntry>)>,
    docker: Option<(PathBuf, DockerConfig)>,
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialStore")
            .field("explicit_for", &self.inner.explicit.as_ref().map(|(_, _, hosts)| hosts))
            .field("file", &self.inner.file.as_ref().map(|(path, _)| path))
            .field("docker_config", &self.inner.docker.as_ref().map(|(path, _)| path))
            .finish()
    }
}

fn invalid(what: &str, message: impl Into<String>) -> RegistryError {
    RegistryError::Invalid { reference: what.into(), message: message.into() }
}

impl CredentialStore {
    pub(crate) fn load(sources: &CredentialSources) -> Result<Self, RegistryError> {
        let explicit = match (sources.username.as_deref().filter(|u| !u.is_empty()), sources.password.as_deref()) {
            (Some(user), Some(pass)) => {
                let hosts: Vec<String> =
                    sources.hosts.iter().map(|h| normalize_config_key(h.trim())).filter(|h| !h.is_empty()).collect();
                if hosts.is_empty() {
                    return Err(invalid(
                        "registry credentials",
                        "a username and password need the registry host they are for (STRATA_REGISTRY_HOST); \
                         without one they would be offered to any registry a request names",
                    ));
                }
                Some((user.to_string(), pass.to_string(), hosts))
            }
            (None, None) => None,
            _ => return Err(invalid("registry credentials", "a username and a password must be given together")),
        };
        let file = match &sources.credentials_file {
            Some(path) => Some((path.clone(), read_credentials_file(path)?)),
            None => None,
        };
        let docker = crate::docker::load(sources.docker_config.as_deref())?;
        Ok(CredentialStore { inner: Arc::new(Inner { explicit, file, docker }) })
    }

    /// The registries this store holds a credential for (`host[:port]`), for the default allow-list.
    /// A `credsStore` serves any registry and names none, so it adds nothing here.
    pub(crate) fn registries(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((_, _, hosts)) = &self.inner.explicit {
            out.extend(hosts.iter().cloned());
        }
        if let Some((_, entries)) = &self.inner.file {
            out.extend(entries.keys().map(|k| normalize_config_key(k)));
        }
        if let Some((_, config)) = &self.inner.docker {
            out.extend(config.registries());
        }
        out
    }

    /// Credentials for `registry` (`host[:port]` as the client connects to it, `index.docker.io` for Hub).
    /// May run a Docker credential helper.
    pub(crate) async fn for_registry(&self, registry: &str) -> Result<Credentials, RegistryError> {
        let host = canonical_host(registry);
        if let Some((user, pass, hosts)) = &self.inner.explicit
            && hosts.contains(&host)
        {
            return Ok(Credentials {
                secret: Secret::Basic(user.clone(), pass.clone()),
                description: "credentials were sent: the username and password configured for this registry".into(),
                // Every host named with the pair is trusted with it, so one of them may be the token realm.
                token_hosts: hosts.clone(),
            });
        }
        if let Some((path, entries)) = &self.inner.file
            && let Some((key, entry)) = entries.iter().find(|(key, _)| normalize_config_key(key) == host)
        {
            let description = format!("credentials were sent: the entry {key:?} in {}", path.display());
            let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
            let secret =
                match (non_empty(&entry.username), non_empty(&entry.password), non_empty(&entry.identity_token)) {
                    (_, _, Some(token)) => Secret::IdentityToken(token),
                    (Some(user), Some(pass), None) => Secret::Basic(user, pass),
                    _ => {
                        return Err(invalid(
                            &format!("credentials file {}", path.display()),
                            format!("the entry {key:?} needs a username and password, or an identity_token"),
                        ));
                    }
                };
            let token_hosts = entry.token_hosts.iter().map(|h| normalize_config_key(h)).collect();
            return Ok(Credentials { secret, description, token_hosts });
        }
        if let Some((path, config)) = &self.inner.docker {
            return config.credentials(path, registry, &host).await;
        }
        Ok(Credentials::anonymous(""))
    }
}

fn read_credentials_file(path: &Path) -> Result<BTreeMap<String, FileEntry>, RegistryError> {
    let what = format!("credentials file {}", path.display());
    let bytes = std::fs::read(path).map_err(|e| invalid(&what, format!("cannot read it: {e}")))?;
    // serde_json's message can quote the offending value, which may be a secret: give only the position.
    serde_json::from_slice(&bytes).map_err(|e| {
        invalid(
            &what,
            format!(
                "not a credentials file ({:?} error at line {}, column {}; see docs/security.md)",
                e.classify(),
                e.line(),
                e.column()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(c: &Credentials) -> Option<(String, String)> {
        match &c.secret {
            Secret::Basic(u, p) => Some((u.clone(), p.clone())),
            _ => None,
        }
    }

    fn sources(dir: &tempfile::TempDir) -> CredentialSources {
        // An empty Docker config, so the test never reads the developer's own.
        let docker = dir.path().join("docker.json");
        std::fs::write(&docker, "{}").unwrap();
        CredentialSources { docker_config: Some(docker), ..Default::default() }
    }

    #[tokio::test]
    async fn the_pair_goes_only_to_its_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let s = CredentialStore::load(&CredentialSources {
            username: Some("alice".into()),
            password: Some("hunter2".into()),
            hosts: vec!["Registry.Example:5000".into(), "docker.io".into()],
            ..sources(&dir)
        })
        .unwrap();
        let c = s.for_registry("registry.example:5000").await.unwrap();
        assert_eq!(basic(&c), Some(("alice".into(), "hunter2".into())));
        assert!(basic(&s.for_registry("index.docker.io").await.unwrap()).is_some());
        for other in ["registry.example", "registry.example:5001", "evil.example", "127.0.0.1:6379"] {
            assert!(s.for_registry(other).await.unwrap().is_anonymous(), "{other}");
        }
        for text in [format!("{c:?}"), format!("{s:?}"), c.description.clone()] {
            assert!(!text.contains("hunter2") && !text.contains("alice"), "{text}");
        }
        let no_host = CredentialSources { username: Some("a".into()), password: Some("b".into()), ..sources(&dir) };
        assert!(CredentialStore::load(&no_host).is_err());
        let half = CredentialSources { username: Some("a".into()), hosts: vec!["h".into()], ..sources(&dir) };
        assert!(CredentialStore::load(&half).is_err());
    }

    #[tokio::test]
    async fn credentials_file_by_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds.json");
        std::fs::write(
            &path,
            r#"{"reg.example":{"username":"u","password":"p"},
                "https://idp.example:5000":{"identity_token":"refresh-me","token_hosts":["auth.idp.example"]}}"#,
        )
        .unwrap();
        let s = CredentialStore::load(&CredentialSources { credentials_file: Some(path), ..sources(&dir) }).unwrap();
        assert_eq!(basic(&s.for_registry("reg.example").await.unwrap()), Some(("u".into(), "p".into())));
        let idp = s.for_registry("idp.example:5000").await.unwrap();
        assert!(matches!(idp.secret, Secret::IdentityToken(ref t) if t == "refresh-me"));
        assert_eq!(idp.token_hosts, vec!["auth.idp.example".to_string()]);
        assert!(s.for_registry("other.example").await.unwrap().is_anonymous());
        let mut registries = s.registries();
        registries.sort();
        assert_eq!(registries, vec!["idp.example:5000", "reg.example"]);
    }

    #[test]
    fn malformed_credentials_file_does_not_quote_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds.json");
        std::fs::write(&path, r#"{"reg.example":{"password":"hunter2-secret","extra":1}}"#).unwrap();
        let err = read_credentials_file(&path).map(|_| ()).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
