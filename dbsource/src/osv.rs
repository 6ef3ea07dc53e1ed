//! osv.dev's per-ecosystem exports (`{base}/{ecosystem}/all.zip`), from osv.dev or a mirror of it:
//! downloaded to files (streamed, each bounded by a size cap) and built into a DB. Nothing is replaced
//! here: the caller writes the DB once every download and the build succeeded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use strata_scanner::vulndb::VulnDb;
use tokio::io::AsyncWriteExt as _;

use strata_registry::error_chain;

use crate::{DbSourceError, Result};

pub const DEFAULT_BASE_URL: &str = "https://osv-vulnerabilities.storage.googleapis.com";
pub const DEFAULT_ECOSYSTEMS: &str = "Debian,Ubuntu,Alpine,npm,PyPI,Go,crates.io,RubyGems,Maven";
/// One ecosystem's `all.zip` is read at most this far (osv.dev's largest are a few hundred MB).
pub const MAX_ARCHIVE_BYTES: u64 = 4 << 30;

/// A built DB and what was downloaded for it (ecosystem, bytes).
pub struct Fetched {
    pub db: VulnDb,
    pub archives: Vec<(String, u64)>,
}

fn client() -> Result<reqwest::Client> {
    // reqwest is built without a crypto provider; ring is the workspace's only one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        // Per read: a large archive on a slow link is fine, a stalled one is not.
        .read_timeout(Duration::from_secs(120))
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| DbSourceError::Invalid(format!("setting up HTTP: {e}")))
}

/// Downloads every ecosystem's archive into `work` (created, and removed afterwards), then builds the DB
/// on the blocking pool.
pub async fn fetch(base_url: &str, ecosystems: &[String], work: &Path) -> Result<Fetched> {
    let io = |what: String| move |source| DbSourceError::Io { what, source };
    tokio::fs::create_dir_all(work).await.map_err(io(format!("creating {}", work.display())))?;
    let downloaded = download_all(base_url, ecosystems, work).await;
    let built = match downloaded {
        Ok((files, archives)) => tokio::task::spawn_blocking(move || VulnDb::build(&files))
            .await
            .map_err(|e| DbSourceError::Invalid(format!("building the DB: {e}")))?
            .map(|db| Fetched { db, archives })
            .map_err(DbSourceError::from),
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_dir_all(work).await;
    built
}

async fn download_all(
    base_url: &str,
    ecosystems: &[String],
    work: &Path,
) -> Result<(Vec<PathBuf>, Vec<(String, u64)>)> {
    let client = client()?;
    let (mut files, mut archives) = (Vec::new(), Vec::new());
    for ecosystem in ecosystems {
        let url = format!("{}/{}/all.zip", base_url.trim_end_matches('/'), ecosystem);
        let file = work.join(format!("{}.zip", ecosystem.replace(['/', ':', '\\'], "_")));
        let bytes = download(&client, &url, &file, MAX_ARCHIVE_BYTES).await?;
        archives.push((ecosystem.clone(), bytes));
        files.push(file);
    }
    Ok((files, archives))
}

/// Streams `url` into `file`, refusing more than `cap` bytes. The error names the URL without its user
/// information.
async fn download(client: &reqwest::Client, url: &str, file: &Path, cap: u64) -> Result<u64> {
    let shown = shown_url(url);
    let failed = |message: String| DbSourceError::Download { url: shown.clone(), message };
    let mut response = client.get(url).send().await.map_err(|e| {
        failed(format!(
            "the OSV data source is unreachable (offline?): {}; build a DB from local OSV files with `strata db build \
             --osv PATH`",
            error_chain(&e)
        ))
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(failed(format!("HTTP {status}")));
    }
    if response.content_length().is_some_and(|len| len > cap) {
        return Err(failed(format!("larger than the cap of {cap} bytes")));
    }
    let mut out = tokio::fs::File::create(file)
        .await
        .map_err(|source| DbSourceError::Io { what: format!("creating {}", file.display()), source })?;
    let mut total = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(error_chain(&e)))? {
        total += chunk.len() as u64;
        if total > cap {
            return Err(failed(format!("larger than the cap of {cap} bytes")));
        }
        out.write_all(&chunk)
            .await
            .map_err(|source| DbSourceError::Io { what: format!("writing {}", file.display()), source })?;
    }
    out.flush().await.map_err(|source| DbSourceError::Io { what: format!("writing {}", file.display()), source })?;
    Ok(total)
}

fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => url.to_string(),
    }
}
