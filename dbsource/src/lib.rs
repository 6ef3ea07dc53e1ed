//! Where the vulnerability DB comes from, shared by `strata db update | push` and the coordinator's
//! scheduled refresh, so that there is one download and one artifact format:
//!
//! - [`osv`]: osv.dev's per-ecosystem `all.zip` exports (or a mirror of them), downloaded bounded and built
//!   into a DB;
//! - [`artifact`]: a DB file published as an OCI artifact (`strata db push`) and pulled by digest;
//! - [`floor`]: the sanity floor a new DB must clear before it replaces the current one.
//!
//! Integrity (magic, format version, content digest) is the DB file's own check
//! ([`strata_scanner::vulndb::VulnDb::from_bytes`]); what is here decides whether valid data is also
//! plausible data.

pub mod artifact;
pub mod floor;
pub mod osv;

use std::fmt;

use strata_registry::RegistryError;

pub type Result<T, E = DbSourceError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum DbSourceError {
    #[error("downloading {url}: {message}")]
    Download { url: String, message: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the vulnerability DB: {0}")]
    Db(#[from] strata_scanner::Error),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

/// A configured DB source (`STRATA_DB_SOURCE`): an OSV base URL (osv.dev or a mirror) or `oci://REF`.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    Osv { base_url: String, ecosystems: Vec<String> },
    Oci { reference: String },
}

impl Source {
    /// `oci://registry/repository:tag` or an `http(s)://` base URL serving `{base}/{ecosystem}/all.zip`.
    pub fn parse(text: &str, ecosystems: &[String]) -> Result<Source> {
        let text = text.trim();
        if let Some(reference) = text.strip_prefix("oci://") {
            strata_registry::registry_of(reference)?;
            return Ok(Source::Oci { reference: reference.to_string() });
        }
        let url = reqwest::Url::parse(text)
            .map_err(|e| DbSourceError::Invalid(format!("DB source {text:?} is neither oci://REF nor a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(DbSourceError::Invalid(format!(
                "DB source: the {:?} scheme is not http(s) or oci",
                url.scheme()
            )));
        }
        if ecosystems.is_empty() {
            return Err(DbSourceError::Invalid("an OSV DB source needs at least one ecosystem".into()));
        }
        Ok(Source::Osv { base_url: text.to_string(), ecosystems: ecosystems.to_vec() })
    }
}

/// Shown in logs: a URL's user information (a mirror's password) is left out.
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Oci { reference } => write!(f, "oci://{reference}"),
            Source::Osv { base_url, .. } => match reqwest::Url::parse(base_url) {
                Ok(mut url) => {
                    let _ = url.set_username("");
                    let _ = url.set_password(None);
                    write!(f, "{url}")
                }
                Err(_) => f.write_str("(unparsable URL)"),
            },
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        let ecosystems = vec!["Debian".to_string()];
        assert_eq!(
            Source::parse("oci://127.0.0.1:5000/strata/db:latest", &ecosystems).unwrap(),
            Source::Oci { reference: "127.0.0.1:5000/strata/db:latest".into() }
        );
        let osv = Source::parse("https://user:secret@mirror.example/osv", &ecosystems).unwrap();
        assert_eq!(osv.to_string(), "https://mirror.example/osv");
        assert!(Source::parse("ftp://mirror.example", &ecosystems).is_err());
        assert!(Source::parse("https://mirror.example", &[]).is_err());
        assert!(Source::parse("oci://Not A Reference", &ecosystems).is_err());
    }
}
