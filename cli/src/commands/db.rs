//! `strata db build | info | update | push`, and finding the DB a scan uses.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use strata_scanner::vulndb::VulnDb;

use crate::args::{DbArgs, DbCommand};

/// Where `strata db update` writes and scans look when no `--db` is given.
pub fn default_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("STRATA_CACHE_DIR") {
        return Some(PathBuf::from(dir).join("db/strata.db"));
    }
    let base =
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| home::home_dir().map(|h| h.join(".cache")))?;
    Some(base.join("strata/db/strata.db"))
}

/// Opens the DB for a scan: `--osv` builds one in memory, `--db` loads a file, else the default file.
pub fn open(file: Option<&Path>, osv: &[PathBuf]) -> Result<VulnDb> {
    if !osv.is_empty() {
        return VulnDb::build(osv).context("building the vulnerability DB from --osv");
    }
    let path = match file {
        Some(p) => p.to_path_buf(),
        None => match default_path().filter(|p| p.is_file()) {
            Some(p) => p,
            None => bail!("no vulnerability DB: run `strata db update`, or pass --db FILE or --osv PATH"),
        },
    };
    VulnDb::load(&path).with_context(|| format!("loading the vulnerability DB {}", path.display()))
}

pub async fn run(args: DbArgs) -> Result<u8> {
    match args.command {
        DbCommand::Build { osv, out } => {
            let built = tokio::task::spawn_blocking(move || -> Result<_> {
                let built = VulnDb::build(&osv).context("building the vulnerability DB")?;
                built.write(&out).with_context(|| format!("writing {}", out.display()))?;
                Ok((built, out))
            })
            .await??;
            let (built, out) = built;
            for warning in built.warnings() {
                eprintln!("warning: {warning}");
            }
            print_header(&built, &out);
        }
        DbCommand::Info { file } => {
            let path = file.or_else(default_path).context("no DB file given and no default location")?;
            if !path.exists() {
                bail!(
                    "no vulnerability DB at {}: create one with `strata db update` (or `strata db build --osv PATH \
                     --out FILE`), or name one with `strata db info FILE`",
                    path.display()
                );
            }
            let db = tokio::task::spawn_blocking({
                let path = path.clone();
                move || VulnDb::load(&path)
            })
            .await??;
            print_header(&db, &path);
        }
        DbCommand::Update { base_url, ecosystems, out } => {
            let out = out.or_else(default_path).context("no --out given and no default location")?;
            update(&base_url, &ecosystems, &out).await?;
        }
        DbCommand::Push { reference, db, insecure } => {
            let path = db.or_else(default_path).context("no --db given and no default location")?;
            let bytes = tokio::fs::read(&path).await.with_context(|| format!("reading {}", path.display()))?;
            let client = crate::pipeline::registry_client(&reference, insecure, &Default::default())?;
            let (digest, header) = strata_dbsource::artifact::push(&client, &reference, bytes)
                .await
                .with_context(|| format!("publishing {} to {reference}", path.display()))?;
            println!("pushed:         {reference}@{digest}");
            println!("content digest: {}", header.content_digest);
            println!("newest advisory: {}", header.newest_advisory.as_deref().unwrap_or("(no dated advisory)"));
        }
    }
    Ok(0)
}

fn print_header(db: &VulnDb, path: &Path) {
    let h = db.header();
    println!("file:           {}", path.display());
    println!("format version: {}", h.format_version);
    println!("content digest: {}", h.content_digest);
    if let Ok(bytes) = std::fs::read(path) {
        println!("file digest:    {}", strata_scanner::source::sha256_digest(&bytes));
    }
    println!("built at:       {}", h.built_at);
    let today = chrono::Utc::now().date_naive();
    match &h.newest_advisory {
        Some(newest) => println!("newest advisory: {newest}"),
        None => println!("newest advisory: (no dated advisory)"),
    }
    if let Some(stale) = strata_scanner::vulndb::stale_notice("data", h.newest_advisory.as_deref(), today) {
        println!("warning: {stale}");
    }
    println!("severity from aliases: {} advisories", h.severity_from_aliases);
    println!("sources:");
    for s in &h.sources {
        println!("  {} ({} records)", s.location, s.records);
    }
    println!("records per ecosystem (newest advisory):");
    for (ecosystem, count) in &h.record_counts {
        let newest = h.newest_by_ecosystem.get(ecosystem).and_then(|d| d.get(..10)).unwrap_or("-");
        println!("  {ecosystem:<24} {count:>6}  {newest}");
    }
    println!("withdrawn (skipped): {}", h.withdrawn_skipped);
}

/// Downloads `{base}/{ecosystem}/all.zip` for each ecosystem, then builds the DB from them. Nothing is
/// replaced unless every download and the build succeed.
async fn update(base_url: &str, ecosystems: &[String], out: &Path) -> Result<()> {
    let work = out.parent().unwrap_or(Path::new(".")).join(".download");
    let fetched = strata_dbsource::osv::fetch(base_url, ecosystems, &work).await?;
    for (ecosystem, bytes) in &fetched.archives {
        eprintln!("fetched {ecosystem}: {bytes} bytes");
    }
    let out_path = out.to_path_buf();
    let built = tokio::task::spawn_blocking(move || -> Result<_> {
        fetched.db.write(&out_path).with_context(|| format!("writing {}", out_path.display()))?;
        Ok(fetched.db)
    })
    .await??;
    print_header(&built, out);
    Ok(())
}
