//! The Docker CLI's `config.json`: `auths` entries, and the credential helpers it names (`credHelpers` per
//! registry, `credsStore` for the rest), run as Docker runs them: `docker-credential-<name> get` with the
//! registry on stdin and `{"Username", "Secret"}` on stdout (`<token>` as the username marks an identity
//! token).
//!
//! A helper's output is never quoted in an error (it holds the secret, and a failing helper may print
//! anything); errors give its name and exit status. The `docker_credential` crate does the same lookup but
//! reads the config itself from fixed places and quotes helper output in its errors, so it is not used.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::auth::{Credentials, Secret};
use crate::error::RegistryError;
use crate::reference::normalize_config_key;

/// A helper that does not answer within this is killed (a keychain prompt nobody sees, a hung agent).
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// A helper's answer is a few hundred bytes.
const MAX_HELPER_OUTPUT: u64 = 64 << 10;

#[derive(Deserialize, Default)]
pub(crate) struct DockerConfig {
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

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

fn invalid(what: String, message: String) -> RegistryError {
    RegistryError::Invalid { reference: what, message }
}

/// `docker_config` is the file (or its directory) the user named; without it `$DOCKER_CONFIG/config.json`
/// or `~/.docker/config.json` is read if it exists.
pub(crate) fn load(docker_config: Option<&Path>) -> Result<Option<(PathBuf, DockerConfig)>, RegistryError> {
    let (path, required) = config_path(docker_config, std::env::var_os("DOCKER_CONFIG"), home::home_dir());
    match path {
        Some(path) => Ok(read_config(&path, required)?.map(|config| (path, config))),
        None => Ok(None),
    }
}

impl DockerConfig {
    pub(crate) fn registries(&self) -> Vec<String> {
        self.auths.keys().chain(self.cred_helpers.keys()).map(|k| normalize_config_key(k)).collect()
    }

    /// `registry` as the client connects to it, `host` its canonical form (Docker Hub's one name).
    pub(crate) async fn credentials(
        &self,
        path: &Path,
        registry: &str,
        host: &str,
    ) -> Result<Credentials, RegistryError> {
        let entry = self
            .auths
            .iter()
            .find(|(key, _)| key.as_str() == registry)
            .or_else(|| self.auths.iter().find(|(key, _)| normalize_config_key(key) == host));
        if let Some((key, entry)) = entry
            && let Some(secret) = entry.secret().map_err(|why| {
                invalid(format!("Docker config {}", path.display()), format!("the auths entry {key:?} {why}"))
            })?
        {
            let description = format!("credentials were sent: the auths entry {key:?} in {}", path.display());
            return Ok(Credentials { secret, description, token_hosts: Vec::new() });
        }
        let helper = self
            .cred_helpers
            .iter()
            .find(|(key, _)| normalize_config_key(key) == host)
            .map(|(_, helper)| helper)
            .or(self.creds_store.as_ref());
        let Some(helper) = helper.filter(|h| !h.is_empty()) else {
            return Ok(Credentials::anonymous(""));
        };
        // Docker asks helpers for Hub under its v1 URL, and for other registries under the bare host.
        let server = if host == "index.docker.io" { "https://index.docker.io/v1/" } else { registry };
        match run_helper(helper, server).await? {
            Some(secret) => Ok(Credentials {
                secret,
                description: format!("credentials were sent: from docker-credential-{helper}"),
                token_hosts: Vec::new(),
            }),
            None => Ok(Credentials::anonymous(&format!(" (docker-credential-{helper} has none for {registry})"))),
        }
    }
}

impl AuthEntry {
    /// `Ok(None)` for an entry without credentials (Docker writes those next to a `credsStore`).
    fn secret(&self) -> Result<Option<Secret>, &'static str> {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        if let Some(token) = non_empty(&self.identitytoken) {
            return Ok(Some(Secret::IdentityToken(token)));
        }
        if let Some(auth) = non_empty(&self.auth) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| "has an `auth` field that is not base64")?;
            let decoded = String::from_utf8(decoded).map_err(|_| "has an `auth` field that is not UTF-8")?;
            let (user, pass) = decoded.split_once(':').ok_or("has an `auth` field that is not `user:password`")?;
            return Ok(Some(Secret::Basic(user.into(), pass.into())));
        }
        if let (Some(user), Some(pass)) = (non_empty(&self.username), non_empty(&self.password)) {
            return Ok(Some(Secret::Basic(user, pass)));
        }
        Ok(non_empty(&self.registrytoken).map(Secret::Bearer))
    }
}

/// Runs `docker-credential-<helper> get`; `None` when the helper has no credential for `server`.
async fn run_helper(helper: &str, server: &str) -> Result<Option<Secret>, RegistryError> {
    let name = format!("docker-credential-{helper}");
    let fail = |why: String| invalid(format!("credential helper {name}"), why);
    if helper.contains(['/', '\\']) || helper.starts_with('.') {
        return Err(fail("a helper name cannot be a path".into()));
    }
    let mut child = tokio::process::Command::new(&name)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(server.as_bytes()).await?;
        }
        let mut out = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            stdout.take(MAX_HELPER_OUTPUT).read_to_end(&mut out).await?;
        }
        Ok::<_, std::io::Error>((child.wait().await?, out))
    };
    let (status, out) = tokio::time::timeout(HELPER_TIMEOUT, run)
        .await
        .map_err(|_| fail(format!("no answer within {} s", HELPER_TIMEOUT.as_secs())))?
        .map_err(|e| fail(format!("talking to it: {e}")))?;
    if !status.success() {
        // The protocol's "not found" is a failing exit with a message on stdout; Docker treats it as anonymous.
        if String::from_utf8_lossy(&out).contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("it failed ({status})")));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out)
        .map_err(|e| fail(format!("not a helper answer (line {}, column {})", e.line(), e.column())))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if answer.username == "<token>" {
        Secret::IdentityToken(answer.secret)
    } else {
        Secret::Basic(answer.username, answer.secret)
    }))
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
    let what = || format!("Docker config {}", path.display());
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => return Err(invalid(what(), format!("cannot read it: {e}"))),
    };
    // serde_json's message can quote the offending value, which may be a secret: give only the position.
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        invalid(
            what(),
            format!("not a valid Docker config ({:?} error at line {}, column {})", e.classify(), e.line(), e.column()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lookup(json: &str, registry: &str) -> Result<Credentials, RegistryError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        let (path, config) = load(Some(&path)).unwrap().unwrap();
        config.credentials(&path, registry, &crate::reference::canonical_host(registry)).await
    }

    fn basic(c: &Credentials) -> Option<(String, String)> {
        match &c.secret {
            Secret::Basic(u, p) => Some((u.clone(), p.clone())),
            _ => None,
        }
    }

    #[tokio::test]
    async fn auth_field_and_username_password_fields() {
        let json = r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnMzY3JldA=="},
                "http://127.0.0.1:5000":{"username":"u","password":"p"},
                "idp.example":{"identitytoken":"rt"}}}"#;
        assert_eq!(basic(&lookup(json, "index.docker.io").await.unwrap()), Some(("hub".into(), "s3cret".into())));
        assert_eq!(basic(&lookup(json, "127.0.0.1:5000").await.unwrap()), Some(("u".into(), "p".into())));
        assert!(lookup(json, "127.0.0.1:5001").await.unwrap().is_anonymous());
        assert!(matches!(lookup(json, "idp.example").await.unwrap().secret, Secret::IdentityToken(_)));
    }

    #[tokio::test]
    async fn exact_key_wins_over_normalized() {
        let json = r#"{"auths":{"https://reg.example":{"username":"a","password":"1"},"reg.example":{"username":"b","password":"2"}}}"#;
        assert_eq!(basic(&lookup(json, "reg.example").await.unwrap()), Some(("b".into(), "2".into())));
    }

    #[tokio::test]
    async fn a_missing_helper_is_an_error_naming_it() {
        let json = r#"{"credHelpers":{"gcr.io":"strata-test-no-such-helper"}}"#;
        let err = lookup(json, "gcr.io").await.unwrap_err();
        assert!(err.to_string().contains("docker-credential-strata-test-no-such-helper"), "{err}");
        assert!(lookup(json, "quay.io").await.unwrap().is_anonymous());
        assert!(lookup(r#"{"credsStore":"../x"}"#, "quay.io").await.is_err());
    }

    #[test]
    fn malformed_config_error_does_not_quote_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{"reg.example":"hunter2-secret"}}"#).unwrap();
        let err = load(Some(&path)).map(|_| ()).unwrap_err();
        assert!(matches!(err, RegistryError::Invalid { .. }));
        assert!(!err.to_string().contains("hunter2") && !format!("{err:?}").contains("hunter2"), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn missing_file_is_an_error_only_when_named() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("nope.json");
        assert!(load(Some(&named)).is_err());
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
}
