//! `strata-coordinator`: configuration from flags and `STRATA_*` environment variables, logging, the
//! runtime, and a graceful stop on SIGTERM/SIGINT.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use strata_coordinator::runner::RegistrySettings;
use strata_coordinator::server::{Config, TlsFiles, run};

#[derive(Debug, Parser)]
#[command(name = "strata-coordinator", version, about = "Strata's fleet coordinator (gRPC ScanService)")]
struct Args {
    /// A TOML file of settings (keys as in docs/fleet.md, e.g. `redis_url`); flags and env win over it.
    #[arg(long, env = "STRATA_CONFIG", value_name = "FILE")]
    #[allow(dead_code)] // read by apply_config_file before parsing; declared for --help and validation
    config: Option<std::path::PathBuf>,
    /// gRPC listen address (`0.0.0.0:50051` in a pod).
    #[arg(long, env = "STRATA_LISTEN", default_value = "127.0.0.1:50051")]
    listen: String,
    /// Redis: layer results, scan records, events (shared by coordinators and workers).
    #[arg(long, env = "STRATA_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// RabbitMQ: the layer job queue.
    #[arg(long, env = "STRATA_AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// The layer job queue's name; coordinators and workers of one fleet use the same.
    #[arg(long, env = "STRATA_QUEUE", default_value = "strata.layers")]
    queue: String,
    #[command(flatten)]
    brokers: strata_fleet::config::BrokerArgs,
    /// Prefix of every Redis key; coordinators and workers of one fleet use the same.
    #[arg(long, env = "STRATA_KEY_PREFIX", default_value = "strata")]
    key_prefix: String,
    /// The vulnerability DB file; replaced files are picked up without a restart. Without one, only scans
    /// without the vuln scanner (`--scanners secret,misconfig`) run.
    #[arg(long, env = "STRATA_DB")]
    db: Option<PathBuf>,
    /// Refresh the DB from here on a schedule: an OSV base URL (osv.dev or a mirror serving
    /// `{base}/{ecosystem}/all.zip`) or `oci://REGISTRY/REPO:TAG` (published by `strata db push`).
    #[arg(long, env = "STRATA_DB_SOURCE", requires = "db")]
    db_source: Option<String>,
    /// How often to refresh from STRATA_DB_SOURCE (`6h`, `30m`, `90s`).
    #[arg(long, env = "STRATA_DB_REFRESH", default_value = "6h", value_parser = strata_fleet::config::parse_duration)]
    db_refresh: Duration,
    /// The ecosystems an OSV source is fetched for, comma-separated.
    #[arg(long, env = "STRATA_DB_ECOSYSTEMS", value_delimiter = ',', default_value = strata_dbsource::osv::DEFAULT_ECOSYSTEMS)]
    db_ecosystems: Vec<String>,
    /// After each refreshed DB, re-match the latest scan of every image against it (once across the
    /// fleet): what new-vulnerability events (STRATA_EVENTS_*) announce.
    #[arg(long, env = "STRATA_DB_RESCAN", default_value_t = true, action = clap::ArgAction::Set)]
    db_rescan: bool,
    /// A refreshed DB with fewer advisories than this share of the current one's is refused, percent.
    #[arg(long, env = "STRATA_DB_MIN_ADVISORIES_PERCENT", default_value_t = strata_dbsource::floor::DEFAULT_MIN_PERCENT)]
    db_min_advisories_percent: u64,
    /// An artifact's DB file larger than this many bytes is not downloaded.
    #[arg(long, env = "STRATA_DB_MAX_BYTES", default_value_t = 2 << 30)]
    db_max_bytes: u64,
    /// `/readyz` reports not ready when the DB's newest advisory is older than this (`3d`); unset: never.
    #[arg(long, env = "STRATA_DB_MAX_AGE", value_parser = strata_fleet::config::parse_duration)]
    db_max_age: Option<Duration>,
    /// Ignore files (YAML, as `strata image --ignorefile`) applied to every scan: files or directories of
    /// them, comma-separated; edits are picked up at the next scan or rescan.
    #[arg(long, env = "STRATA_IGNOREFILE", value_delimiter = ',', value_name = "PATH")]
    ignorefile: Vec<PathBuf>,
    /// OpenVEX documents applied to every scan: files or directories of them, comma-separated; edits are
    /// picked up at the next scan or rescan.
    #[arg(long, env = "STRATA_VEX", value_delimiter = ',', value_name = "PATH")]
    vex: Vec<PathBuf>,
    /// File holding the bearer token clients must present (never pass the token itself as a flag).
    #[arg(long, env = "STRATA_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Plain HTTP to registries that are not on localhost.
    #[arg(long, env = "STRATA_REGISTRY_INSECURE")]
    registry_insecure: bool,
    /// Registry username, sent only to --registry-host (password: STRATA_REGISTRY_PASSWORD).
    #[arg(long, env = "STRATA_REGISTRY_USERNAME", hide_env_values = true, requires = "registry_host")]
    registry_username: Option<String>,
    #[arg(long, env = "STRATA_REGISTRY_PASSWORD", hide_env_values = true, hide = true)]
    registry_password: Option<String>,
    /// The registries (`host[:port]`, comma-separated) the username/password are for; no other gets them.
    #[arg(long, env = "STRATA_REGISTRY_HOST", value_delimiter = ',')]
    registry_host: Vec<String>,
    /// A JSON file of credentials by registry host (docs/security.md).
    #[arg(long, env = "STRATA_REGISTRY_CREDENTIALS_FILE")]
    registry_credentials_file: Option<PathBuf>,
    /// Registries (`host[:port]` globs, comma-separated) scans may name, besides those with credentials and
    /// the sweep and notify registries. `*` allows any (an explicit opt-in).
    #[arg(long, env = "STRATA_ALLOWED_REGISTRIES", default_value = "")]
    allowed_registries: String,
    /// Scans in progress per replica (they mostly wait on layers).
    #[arg(long, env = "STRATA_MAX_CONCURRENT_SCANS", default_value_t = 256)]
    max_concurrent_scans: usize,
    /// How long a layer's result stays in the cache, days.
    #[arg(long, env = "STRATA_LAYER_TTL_DAYS", default_value_t = 30)]
    layer_ttl_days: u64,
    /// Re-check of pending layers without a notification, milliseconds.
    #[arg(long, env = "STRATA_RECHECK_MS", default_value_t = 5000)]
    recheck_ms: u64,
    /// Serve `/metrics`, `/healthz`, `/readyz` over HTTP here (e.g. `0.0.0.0:9090` in a pod).
    #[arg(long, env = "STRATA_OPS_LISTEN")]
    ops_listen: Option<String>,
    /// Serve gRPC over TLS with this certificate chain (PEM)…
    #[arg(long, env = "STRATA_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// …and this private key (PEM).
    #[arg(long, env = "STRATA_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (mutual TLS).
    #[arg(long, env = "STRATA_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Serve the HTTP API here: registry notifications and the Harbor scanner adapter (docs/continuous.md).
    #[arg(long, env = "STRATA_HTTP_LISTEN")]
    http_listen: Option<String>,
    /// File holding the secret the registry sends (`Authorization: Bearer …`); turns scan on push on.
    #[arg(long, env = "STRATA_NOTIFY_TOKEN_FILE", requires = "http_listen")]
    notify_token_file: Option<PathBuf>,
    /// The registry's address as the fleet reaches it; required with scan on push (the event's own host
    /// is the pusher's `Host` header and never used).
    #[arg(long, env = "STRATA_NOTIFY_REGISTRY")]
    notify_registry: Option<String>,
    /// Pushes of the same digest inside this many seconds start one scan.
    #[arg(long, env = "STRATA_NOTIFY_DEDUP_SECS", default_value_t = 3600)]
    notify_dedup_secs: u64,
    /// Scans started from push events per second, at most (fleet-wide).
    #[arg(long, env = "STRATA_NOTIFY_RATE", default_value_t = 2.0)]
    notify_rate: f64,
    /// Only repositories matching these globs (comma-separated; `*` stays within a path segment).
    #[arg(long, env = "STRATA_NOTIFY_INCLUDE", default_value = "")]
    notify_include: String,
    /// Never repositories matching these globs (comma-separated).
    #[arg(long, env = "STRATA_NOTIFY_EXCLUDE", default_value = "")]
    notify_exclude: String,
    /// Sweep STRATA_SWEEP_REGISTRY on this cron schedule (UTC; e.g. `0 2 * * *`), see docs/sweep.md.
    #[arg(long, env = "STRATA_SWEEP_SCHEDULE", requires = "sweep_registry")]
    sweep_schedule: Option<String>,
    /// The registry the scheduled sweep lists (`host[:port]` or a URL).
    #[arg(long, env = "STRATA_SWEEP_REGISTRY")]
    sweep_registry: Option<String>,
    /// Only repositories matching these glob patterns (comma-separated, e.g. `team/*,base/**`).
    #[arg(long, env = "STRATA_SWEEP_REPOS", value_delimiter = ',')]
    sweep_repos: Vec<String>,
    /// Registry requests in flight per registry during a sweep.
    #[arg(long, env = "STRATA_SWEEP_CONCURRENCY", default_value_t = 8)]
    sweep_concurrency: usize,
    /// Catalog and tag-list page size (`n`) of sweeps that name none.
    #[arg(long, env = "STRATA_SWEEP_PAGE_SIZE", default_value_t = 100)]
    sweep_page_size: usize,
    /// Finished scans not updated (finished or rescanned) for this many days are pruned with their reports
    /// and unused image records; 0 keeps every scan.
    #[arg(long, env = "STRATA_RETAIN_DAYS", default_value_t = 30)]
    retain_days: u64,
    /// The latest this many done scans of each repository are kept whatever their age; 0: age alone.
    #[arg(long, env = "STRATA_RETAIN_LATEST", default_value_t = 3)]
    retain_latest: u32,
    /// How often one replica of the fleet runs a retention pass, seconds.
    #[arg(long, env = "STRATA_RETAIN_INTERVAL_SECS", default_value_t = 3600)]
    retain_interval_secs: u64,
}

/// A secret from a file, trimmed; never from a flag value (flags show in `ps`).
fn read_secret(path: &std::path::Path) -> anyhow::Result<String> {
    let secret = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let secret = secret.trim().to_string();
    anyhow::ensure!(!secret.is_empty(), "{} is empty", path.display());
    Ok(secret)
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    strata_fleet::config::apply_config_file(&argv).map_err(anyhow::Error::msg)?;
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let token = args.token_file.as_deref().map(read_secret).transpose()?;
    let notify = match &args.notify_token_file {
        Some(path) => Some(strata_coordinator::notify::Settings {
            token: read_secret(path).context("STRATA_NOTIFY_TOKEN_FILE")?,
            registry: args
                .notify_registry
                .clone()
                .filter(|r| !r.trim().is_empty())
                .context("scan on push (STRATA_NOTIFY_TOKEN_FILE) needs STRATA_NOTIFY_REGISTRY")?,
            dedup_window: Duration::from_secs(args.notify_dedup_secs.max(1)),
            rate: args.notify_rate,
            filter: strata_coordinator::notify::Filter::new(&args.notify_include, &args.notify_exclude)
                .context("STRATA_NOTIFY_INCLUDE / STRATA_NOTIFY_EXCLUDE")?,
        }),
        None => None,
    };
    anyhow::ensure!(
        args.notify_rate.is_finite() && args.notify_rate > 0.0,
        "STRATA_NOTIFY_RATE must be a positive number of scans per second"
    );
    let registry = RegistrySettings {
        insecure: args.registry_insecure,
        credentials: strata_registry::CredentialSources {
            username: args.registry_username,
            password: args.registry_password,
            hosts: args.registry_host.clone(),
            credentials_file: args.registry_credentials_file.clone(),
            docker_config: None,
        },
        allowed: strata_registry::AllowList::parse(&args.allowed_registries)
            .map_err(anyhow::Error::msg)
            .context("STRATA_ALLOWED_REGISTRIES")?
            .with_registries(args.sweep_registry.iter().chain(args.notify_registry.iter())),
    };
    let db_refresh = match &args.db_source {
        Some(source) => Some(strata_coordinator::db::refresh::RefreshSettings {
            source: strata_dbsource::Source::parse(source, &args.db_ecosystems).context("STRATA_DB_SOURCE")?,
            interval: args.db_refresh,
            floor: strata_dbsource::floor::Floor { min_percent: args.db_min_advisories_percent },
            max_bytes: args.db_max_bytes,
            registry: registry.clone(),
            rescan: args.db_rescan,
        }),
        None => None,
    };
    let config = Config {
        redis_url: args.redis_url,
        amqp_url: args.amqp_url,
        queue: args.queue,
        redis_tls: args.brokers.redis_tls.files(),
        amqp_tls: args.brokers.amqp_tls.files(),
        queue_kind: args.brokers.queue_kind,
        prefix: args.key_prefix,
        db: args.db,
        db_refresh,
        db_max_age: args.db_max_age,
        policy: strata_coordinator::policy::PolicySettings { ignorefiles: args.ignorefile, vex: args.vex },
        registry,
        token,
        max_concurrent_scans: args.max_concurrent_scans,
        layer_ttl: Duration::from_secs(args.layer_ttl_days * 86_400),
        recheck: Duration::from_millis(args.recheck_ms),
        ops_listen: args.ops_listen,
        http_listen: args.http_listen,
        notify,
        defectdojo: strata_coordinator::defectdojo::Settings::from_env()
            .context("DefectDojo settings (STRATA_DEFECTDOJO_*)")?
            .map(std::sync::Arc::new),
        sweep: strata_coordinator::sweep::SweepSettings {
            concurrency: args.sweep_concurrency,
            page_size: args.sweep_page_size,
            ..Default::default()
        },
        sweep_schedule: args.sweep_schedule.map(|cron| strata_coordinator::schedule::ScheduledSweep {
            cron,
            registry: args.sweep_registry.clone().unwrap_or_default(),
            repositories: args.sweep_repos.clone(),
        }),
        retention: strata_coordinator::retention::RetentionSettings {
            days: args.retain_days,
            latest: args.retain_latest,
            interval: Duration::from_secs(args.retain_interval_secs.max(1)),
        },
        events: strata_coordinator::events::Settings::from_env()
            .context("new-vulnerability events (STRATA_EVENTS_*)")?
            .map(std::sync::Arc::new),
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key, client_ca: args.tls_client_ca }),
            _ => None,
        },
    };
    let runtime = tokio::runtime::Runtime::new()?;
    // Inside the runtime: the OTLP exporter's connection lives on it.
    let telemetry = {
        let _context = runtime.enter();
        strata_fleet::telemetry::init("strata-coordinator").context("logging and tracing (OTEL_*)")?
    };
    let outcome = runtime.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("binding {}", args.listen))?;
        tracing::info!(addr = %listener.local_addr()?, "coordinator listening");
        run(listener, config, strata_fleet::ops::shutdown_signal()).await.context("coordinator")
    });
    // Export the spans still buffered while the runtime runs: a graceful stop loses none.
    drop(telemetry);
    // `run` has joined every task it started; what is left (Redis subscriptions, blocking work a stopped
    // scan no longer waits for) must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_secs(5));
    outcome
}
