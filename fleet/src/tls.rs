//! TLS to the brokers: `amqps://` (RabbitMQ) and `rediss://` (Redis), with rustls on ring (the workspace's
//! only TLS provider; each binary installs it first thing in `main`). By default a broker's certificate
//! must chain to the system's roots; a CA file names a private CA, and a client certificate and key answer
//! a broker that asks for one (mutual TLS).
//!
//! The coordinator, the workers and `strata image --cache redis…` take the same settings
//! ([`AmqpTlsArgs`], [`RedisTlsArgs`]) and connect through here, so they all trust alike. The files are
//! read and checked before connecting: a wrong path or a file that is not PEM stops the process at start,
//! naming the broker, the setting and the file (never a URL's password).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::cache::redact;
use crate::{FleetError, Result};

/// A CA bundle or a certificate chain is a few KiB (a whole system bundle some hundred): a larger file is
/// not one, and is not read into memory.
const MAX_PEM_BYTES: u64 = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broker {
    RabbitMq,
    Redis,
}

impl Broker {
    /// Prefix of the broker's settings (`STRATA_AMQP_CA`, …).
    fn settings(self) -> &'static str {
        match self {
            Broker::RabbitMq => "STRATA_AMQP",
            Broker::Redis => "STRATA_REDIS",
        }
    }

    /// An error that names the broker (`RabbitMQ: …`, `Redis: …`).
    fn error(self, message: String) -> FleetError {
        match self {
            Broker::RabbitMq => FleetError::Queue(message),
            Broker::Redis => FleetError::Cache(message),
        }
    }
}

/// The files that secure one broker's connection. All `None`: the system's roots, no client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificates of the CA that signs the broker's certificate.
    pub ca: Option<PathBuf>,
    /// PEM certificate chain and private key presented to a broker that asks for a client certificate.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// The files' checked contents.
struct Pem {
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsFiles {
    pub fn is_empty(&self) -> bool {
        self.ca.is_none() && self.client_cert.is_none() && self.client_key.is_none()
    }

    /// What a connection error adds, so a failed handshake names the CA it was checked against.
    fn describe(&self) -> String {
        match &self.ca {
            Some(ca) => format!(" (trusting the CA in {})", ca.display()),
            None => String::new(),
        }
    }

    fn load(&self, broker: Broker) -> Result<Pem> {
        let prefix = broker.settings();
        let ca = match &self.ca {
            Some(path) => {
                let setting = format!("{prefix}_CA");
                let pem = read(broker, &setting, path)?;
                certificates(broker, &setting, path, &pem)?;
                Some(pem)
            }
            None => None,
        };
        let identity = match (&self.client_cert, &self.client_key) {
            (None, None) => None,
            (Some(cert_path), Some(key_path)) => {
                let (cert_setting, key_setting) = (format!("{prefix}_CLIENT_CERT"), format!("{prefix}_CLIENT_KEY"));
                let cert = read(broker, &cert_setting, cert_path)?;
                certificates(broker, &cert_setting, cert_path, &cert)?;
                let key = read(broker, &key_setting, key_path)?;
                // The error says which file; its text never includes the key.
                PrivateKeyDer::from_pem_slice(&key).map_err(|e| {
                    broker.error(format!("{key_setting} {}: no PEM private key in it ({e})", key_path.display()))
                })?;
                Some((cert, key))
            }
            _ => {
                return Err(broker
                    .error(format!("{prefix}_CLIENT_CERT and {prefix}_CLIENT_KEY go together: set both or neither")));
            }
        };
        Ok(Pem { ca, identity })
    }
}

/// Reads one PEM file, bounded.
fn read(broker: Broker, setting: &str, path: &Path) -> Result<Vec<u8>> {
    let fail = |what: String| broker.error(format!("{setting} {}: {what}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut pem = Vec::new();
    file.take(MAX_PEM_BYTES + 1).read_to_end(&mut pem).map_err(|e| fail(e.to_string()))?;
    if pem.len() as u64 > MAX_PEM_BYTES {
        return Err(fail(format!("larger than {} MiB, not a PEM file", MAX_PEM_BYTES >> 20)));
    }
    Ok(pem)
}

/// Checks that `pem` holds at least one certificate and nothing malformed.
fn certificates(broker: Broker, setting: &str, path: &Path, pem: &[u8]) -> Result<()> {
    let fail = |what: String| broker.error(format!("{setting} {}: {what}", path.display()));
    let mut count = 0;
    for certificate in CertificateDer::pem_slice_iter(pem) {
        certificate.map_err(|e| fail(format!("not a PEM certificate ({e})")))?;
        count += 1;
    }
    if count == 0 {
        return Err(fail("no PEM certificate (BEGIN CERTIFICATE) in it".to_string()));
    }
    Ok(())
}

fn scheme_is(url: &str, scheme: &str) -> bool {
    url.get(..scheme.len()).is_some_and(|s| s.eq_ignore_ascii_case(scheme))
}

/// The TLS settings of a RabbitMQ connection; they apply to `amqps://` URLs (lapin adds the CA to the
/// system's roots: it offers no way to replace them).
pub(crate) fn amqp_config(url: &str, files: &TlsFiles) -> Result<OwnedTLSConfig> {
    if !files.is_empty() && !scheme_is(url, "amqps://") {
        return Err(Broker::RabbitMq.error(format!(
            "STRATA_AMQP_CA / STRATA_AMQP_CLIENT_CERT are set but STRATA_AMQP_URL ({}) is not amqps://",
            redact(url)
        )));
    }
    let pem = files.load(Broker::RabbitMq)?;
    Ok(OwnedTLSConfig {
        identity: pem.identity.map(|(pem, key)| OwnedIdentity::PKCS8 { pem, key }),
        cert_chain: pem.ca.map(|ca| String::from_utf8_lossy(&ca).into_owned()),
    })
}

/// What a failed RabbitMQ connection reports: the URL without its password, the CA if one is set.
pub(crate) fn amqp_connect_error(url: &str, files: &TlsFiles, error: &lapin::Error) -> FleetError {
    Broker::RabbitMq.error(redact(&format!("connecting to {url}{}: {error}", files.describe())))
}

/// Connects once, without retrying, to an `amqps://` broker and fails on a TLS error: a certificate that
/// does not chain to the CA, or a client certificate the broker refuses, does not mend with time, and the
/// connection proper would retry it for its whole reconnect backoff (minutes) before saying anything.
/// Any other failure (the broker starting, unreachable) is left to the connection proper, which waits.
pub(crate) async fn amqp_probe(url: &str, files: &TlsFiles, config: &OwnedTLSConfig) -> Result<()> {
    if !scheme_is(url, "amqps://") {
        return Ok(());
    }
    let runtime = lapin::runtime::default_runtime()?;
    let once = lapin::ConnectionProperties::default();
    match lapin::Connection::connect_with_config(url, once, config.clone(), runtime).await {
        Ok(connection) => {
            let _ = connection.close(200, "checked".into()).await;
            Ok(())
        }
        Err(e) if is_tls_failure(&e) => Err(amqp_connect_error(url, files, &e)),
        Err(_) => Ok(()),
    }
}

/// rustls reports a bad certificate or a TLS alert as an `InvalidData` I/O error around its own error.
fn is_tls_failure(error: &lapin::Error) -> bool {
    match error.kind() {
        lapin::ErrorKind::IOError(io) => {
            io.kind() == std::io::ErrorKind::InvalidData || io.get_ref().is_some_and(|e| e.is::<rustls::Error>())
        }
        _ => false,
    }
}

/// A Redis client for `url`, checked by connecting once: a `rediss://` URL trusts the CA in `files` (only
/// it) or else the system's roots, and presents the client certificate if one is set.
pub async fn redis_client(url: &str, files: &TlsFiles) -> Result<redis::Client> {
    let broker = Broker::Redis;
    let client = if files.is_empty() {
        redis::Client::open(url)?
    } else {
        if !scheme_is(url, "rediss://") {
            return Err(broker.error(format!(
                "STRATA_REDIS_CA / STRATA_REDIS_CLIENT_CERT are set but the Redis URL ({}) is not rediss://",
                redact(url)
            )));
        }
        let pem = files.load(broker)?;
        let certificates = redis::TlsCertificates {
            client_tls: pem
                .identity
                .map(|(client_cert, client_key)| redis::ClientTlsConfig { client_cert, client_key }),
            root_cert: pem.ca,
        };
        redis::Client::build_with_tls(url, certificates)?
    };
    // Connecting now puts a TLS failure (an unknown CA, a refused client certificate) in one clear error at
    // start, instead of in the first command of whichever part connects first.
    let config = redis::AsyncConnectionConfig::new().set_connection_timeout(Some(Duration::from_secs(10)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| broker.error(redact(&format!("connecting to {url}{}: {e}", files.describe()))))?;
    Ok(client)
}

/// `--amqp-ca`, `--amqp-client-cert`, `--amqp-client-key` (`STRATA_AMQP_*`), for `amqps://`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AmqpTlsArgs {
    /// PEM file of the CA that signs RabbitMQ's certificate (amqps://), trusted besides the system's roots.
    #[arg(long, env = "STRATA_AMQP_CA", value_name = "FILE")]
    pub amqp_ca: Option<PathBuf>,
    /// PEM client certificate (chain) for a RabbitMQ that asks for one; needs --amqp-client-key.
    #[arg(long, env = "STRATA_AMQP_CLIENT_CERT", value_name = "FILE", requires = "amqp_client_key")]
    pub amqp_client_cert: Option<PathBuf>,
    /// PEM private key of --amqp-client-cert.
    #[arg(long, env = "STRATA_AMQP_CLIENT_KEY", value_name = "FILE", requires = "amqp_client_cert")]
    pub amqp_client_key: Option<PathBuf>,
}

impl AmqpTlsArgs {
    pub fn files(&self) -> TlsFiles {
        TlsFiles {
            ca: self.amqp_ca.clone(),
            client_cert: self.amqp_client_cert.clone(),
            client_key: self.amqp_client_key.clone(),
        }
    }
}

/// `--redis-ca`, `--redis-client-cert`, `--redis-client-key` (`STRATA_REDIS_*`), for `rediss://`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RedisTlsArgs {
    /// PEM file of the CA that signs Redis's certificate (rediss://), trusted instead of the system's roots.
    #[arg(long, env = "STRATA_REDIS_CA", value_name = "FILE")]
    pub redis_ca: Option<PathBuf>,
    /// PEM client certificate (chain) for a Redis that asks for one; needs --redis-client-key.
    #[arg(long, env = "STRATA_REDIS_CLIENT_CERT", value_name = "FILE", requires = "redis_client_key")]
    pub redis_client_cert: Option<PathBuf>,
    /// PEM private key of --redis-client-cert.
    #[arg(long, env = "STRATA_REDIS_CLIENT_KEY", value_name = "FILE", requires = "redis_client_cert")]
    pub redis_client_key: Option<PathBuf>,
}

impl RedisTlsArgs {
    pub fn files(&self) -> TlsFiles {
        TlsFiles {
            ca: self.redis_ca.clone(),
            client_cert: self.redis_client_cert.clone(),
            client_key: self.redis_client_key.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_certificate_needs_its_key() {
        let files = TlsFiles { client_cert: Some("/nonexistent/cert.pem".into()), ..Default::default() };
        let e = files.load(Broker::Redis).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("STRATA_REDIS_CLIENT_CERT and STRATA_REDIS_CLIENT_KEY go together"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_pem_is_named() {
        let dir = std::env::temp_dir().join(format!("strata-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let files = TlsFiles { ca: Some(path.clone()), ..Default::default() };
        let e = files.load(Broker::RabbitMq).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("RabbitMQ: STRATA_AMQP_CA"), "{e}");
        assert!(e.contains(&path.display().to_string()) && e.contains("no PEM certificate"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn tls_files_need_a_tls_url_and_the_error_hides_the_password() {
        let files = TlsFiles { ca: Some("/nonexistent/ca.pem".into()), ..Default::default() };
        let e = amqp_config("amqp://user:s3cret@broker:5672/%2f", &files).err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.contains("is not amqps://") && !e.contains("s3cret"), "{e}");
    }
}
