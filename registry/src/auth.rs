//! Registry credentials: an explicit username/password, else the Docker CLI's `config.json` `auths`, else
//! anonymous. Nothing here ever formats a secret: types holding one have a redacting `Debug`, and parse
//! errors name a line and column, never a value.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::error::RegistryError;
use crate::reference::{canonical_host, normalize_config_key};

/// The credentials to present to one registry, and a description of where they came from (for error
/// messages: "credentials were sent: …" or "no credentials were sent").
#[derive(Clone)]
pub(crate) struct Credentials {
    pub auth: RegistryAuth,
    pub description: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `RegistryAuth`'s own Debug shows the username; we show only the kind.
        let kind = match self.auth {
            RegistryAuth::Anonymous => "anonymous",
            RegistryAuth::Basic(..) => "basic <redacted>",
            RegistryAuth::Bearer(_) => "bearer <redacted>",
        };
        f.debug_struct("Credentials").field("auth", &kind).field("description", &self.description).finish()
    }
}

/// Everything credentials can come from, loaded once per client.
pub(crate) struct CredentialStore {
    explicit: Option<(String, String)>,
    docker_config: Option<(PathBuf, DockerConfig)>,
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialStore")
            .field("explicit", &self.explicit.as_ref().map(|_| "<redacted>"))
            .field("docker_config", &self.docker_config.as_ref().map(|(path, _)| path))
            .finish()
    }
}

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

/// One `auths` entry. Deliberately not `Debug`.
#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

impl CredentialStore {
    /// `docker_config` is the file (or its directory) the user named; without it `$DOCKER_CONFIG/config.json`
    /// or `~/.docker/config.json` is read if it exists.
    pub(crate) fn load(
        username: Option<&str>,
        password: Option<&str>,
        docker_config: Option<&Path>,
    ) -> Result<Self, RegistryError> {
        let explicit = match (username.filter(|u| !u.is_empty()), password) {
            (Some(user), Some(pass)) => Some((user.to_string(), pass.to_string())),
            (None, None) => None,
            _ => {
                return Err(RegistryError::Invalid {
                    reference: "registry credentials".into(),
                    message: "a username and a password must be given together".into(),
                });
            }
        };
        let (path, required) = config_path(docker_config, std::env::var_os("DOCKER_CONFIG"), home::home_dir());
        let docker_config = match path {
            Some(path) => read_config(&path, required)?.map(|config| (path, config)),
            None => None,
        };
        Ok(CredentialStore { explicit, docker_config })
    }

    /// Credentials for `registry` (`host[:port]` as the client connects to it, `index.docker.io` for Hub).
    pub(crate) fn for_registry(&self, registry: &str) -> Credentials {
        if let Some((user, pass)) = &self.explicit {
            return Credentials {
                auth: RegistryAuth::Basic(user.clone(), pass.clone()),
                description: "credentials were sent: the explicitly given username and password".into(),
            };
        }
        let Some((path, config)) = &self.docker_config else {
            return anonymous(String::new());
        };
        let host = canonical_host(registry);
        let entry = config
            .auths
            .iter()
            .find(|(key, _)| key.as_str() == registry)
            .or_else(|| config.auths.iter().find(|(key, _)| normalize_config_key(key) == host));
        let mut unsupported = None;
        if let Some((key, entry)) = entry {
            let from = format!("credentials were sent: the auths entry {key:?} in {}", path.display());
            match entry.credentials() {
                EntryCredentials::Usable(auth) => return Credentials { auth, description: from },
                EntryCredentials::Malformed(why) => {
                    unsupported = Some(format!("the auths entry {key:?} in {} {why}", path.display()))
                }
                EntryCredentials::IdentityToken => {
                    unsupported = Some(format!(
                        "the auths entry {key:?} in {} holds an identity token, which is not supported",
                        path.display()
                    ))
                }
                EntryCredentials::None => {}
            }
        }
        let helper = config
            .cred_helpers
            .iter()
            .find(|(key, _)| normalize_config_key(key) == host)
            .map(|(_, helper)| (helper, "credHelpers"))
            .or(config.creds_store.as_ref().map(|helper| (helper, "credsStore")));
        if let (None, Some((helper, field))) = (&unsupported, helper) {
            unsupported = Some(format!(
                "{} names the credential helper docker-credential-{helper} ({field}), which is not supported",
                path.display()
            ));
        }
        match unsupported {
            Some(why) => anonymous(format!("; {why}: give the username and password explicitly")),
            None => anonymous(String::new()),
        }
    }
}

fn anonymous(note: String) -> Credentials {
    Credentials { auth: RegistryAuth::Anonymous, description: format!("no credentials were sent{note}") }
}

enum EntryCredentials {
    Usable(RegistryAuth),
    Malformed(&'static str),
    IdentityToken,
    None,
}

impl AuthEntry {
    fn credentials(&self) -> EntryCredentials {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        if let Some(auth) = non_empty(&self.auth) {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(auth.trim()) else {
                return EntryCredentials::Malformed("has an `auth` field that is not base64");
            };
            let Ok(decoded) = String::from_utf8(decoded) else {
                return EntryCredentials::Malformed("has an `auth` field that is not UTF-8");
            };
            return match decoded.split_once(':') {
                Some((user, pass)) => EntryCredentials::Usable(RegistryAuth::Basic(user.into(), pass.into())),
                None => EntryCredentials::Malformed("has an `auth` field that is not `user:password`"),
            };
        }
        if let (Some(user), Some(pass)) = (non_empty(&self.username), non_empty(&self.password)) {
            return EntryCredentials::Usable(RegistryAuth::Basic(user, pass));
        }
        if let Some(token) = non_empty(&self.registrytoken) {
            return EntryCredentials::Usable(RegistryAuth::Bearer(token));
        }
        if non_empty(&self.identitytoken).is_some() {
            return EntryCredentials::IdentityToken;
        }
        EntryCredentials::None
    }
}

/// Which config file to read, and whether its absence is an error (it is when the user named it).
fn config_path(
    explicit: Option<&Path>,
    docker_config_env: Option<OsString>,
    home: Option<PathBuf>,
) -> (Option<PathBuf>, bool) {
    let in_dir = |dir: PathBuf| dir.join("config.json");
    match explicit {
        Some(path) if path.is_dir() => (Some(in_dir(path.to_path_buf())), true),
        Some(path) => (Some(path.to_path_buf()), true),
        None => match docker_config_env.filter(|d| !d.is_empty()) {
            Some(dir) => (Some(in_dir(PathBuf::from(dir))), false),
            None => (home.map(|h| in_dir(h.join(".docker"))), false),
        },
    }
}

fn read_config(path: &Path, required: bool) -> Result<Option<DockerConfig>, RegistryError> {
    let invalid =
        |message: String| RegistryError::Invalid { reference: format!("Docker config {}", path.display()), message };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => return Err(invalid(format!("cannot read it: {e}"))),
    };
    // serde_json's message can quote the offending value, which may be a secret: give only the position.
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        invalid(format!(
            "not a valid Docker config ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(json: &str) -> (tempfile::TempDir, CredentialStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        let store = CredentialStore::load(None, None, Some(&path)).unwrap();
        (dir, store)
    }

    fn basic(c: &Credentials) -> Option<(String, String)> {
        match &c.auth {
            RegistryAuth::Basic(u, p) => Some((u.clone(), p.clone())),
            _ => None,
        }
    }

    #[test]
    fn auth_field_and_username_password_fields() {
        let (_d, s) = store(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnMzY3JldA=="},
                "http://127.0.0.1:5000":{"username":"u","password":"p"}}}"#,
        );
        assert_eq!(basic(&s.for_registry("index.docker.io")), Some(("hub".into(), "s3cret".into())));
        assert_eq!(basic(&s.for_registry("127.0.0.1:5000")), Some(("u".into(), "p".into())));
        assert!(matches!(s.for_registry("127.0.0.1:5001").auth, RegistryAuth::Anonymous));
    }

    #[test]
    fn exact_key_wins_over_normalized() {
        let (_d, s) = store(
            r#"{"auths":{"https://reg.example":{"username":"a","password":"1"},"reg.example":{"username":"b","password":"2"}}}"#,
        );
        assert_eq!(basic(&s.for_registry("reg.example")), Some(("b".into(), "2".into())));
    }

    #[test]
    fn credential_helpers_are_reported_as_unsupported() {
        let (_d, s) = store(r#"{"auths":{"https://index.docker.io/v1/":{}},"credsStore":"desktop"}"#);
        let c = s.for_registry("index.docker.io");
        assert!(matches!(c.auth, RegistryAuth::Anonymous));
        assert!(c.description.contains("docker-credential-desktop"), "{}", c.description);
        assert!(c.description.contains("not supported"), "{}", c.description);
        let (_d, s) = store(r#"{"credHelpers":{"gcr.io":"gcloud"}}"#);
        assert!(s.for_registry("gcr.io").description.contains("docker-credential-gcloud"));
        assert_eq!(s.for_registry("quay.io").description, "no credentials were sent");
    }

    #[test]
    fn malformed_config_error_does_not_quote_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{"reg.example":"hunter2-secret"}}"#).unwrap();
        let err = CredentialStore::load(None, None, Some(&path)).unwrap_err();
        assert!(matches!(err, RegistryError::Invalid { .. }));
        assert!(!err.to_string().contains("hunter2") && !format!("{err:?}").contains("hunter2"), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn missing_file_is_an_error_only_when_named() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("nope.json");
        assert!(CredentialStore::load(None, None, Some(&named)).is_err());
        assert!(read_config(&named, false).unwrap().is_none());
    }

    #[test]
    fn config_path_precedence() {
        let home = Some(PathBuf::from("/home/u"));
        let env = Some(OsString::from("/etc/dc"));
        assert_eq!(config_path(None, None, home.clone()).0, Some(PathBuf::from("/home/u/.docker/config.json")));
        assert_eq!(config_path(None, env.clone(), home.clone()).0, Some(PathBuf::from("/etc/dc/config.json")));
        let explicit = config_path(Some(Path::new("/x/auth.json")), env, home);
        assert_eq!(explicit, (Some(PathBuf::from("/x/auth.json")), true));
    }

    #[test]
    fn explicit_credentials_win_and_are_redacted() {
        let s = CredentialStore::load(Some("alice"), Some("hunter2"), None).unwrap();
        let c = s.for_registry("anything.example");
        assert_eq!(basic(&c), Some(("alice".into(), "hunter2".into())));
        for text in [format!("{c:?}"), format!("{s:?}"), c.description.clone()] {
            assert!(!text.contains("hunter2") && !text.contains("alice"), "{text}");
        }
        assert!(CredentialStore::load(Some("alice"), None, None).is_err());
    }
}
