//! `strata-worker`: configuration from flags and `STRATA_*` environment variables, logging, the runtime,
//! and a graceful stop on SIGTERM (stop consuming, finish the jobs in flight within the grace period,
//! exit). `strata-worker analyse` is the analysis child the worker runs layers in.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use strata_fleet::cache::RedisCache;
use strata_fleet::queue::RabbitQueue;
use strata_registry::{AllowList, CredentialSources, RegistryClient, RegistryOptions};
use strata_worker::{Isolation, RegistryBlobs, Worker, WorkerConfig};

#[derive(Debug, Parser)]
#[command(name = "strata-worker", version, about = "Strata's stateless layer worker")]
struct Args {
    /// A TOML file of settings (keys as in docs/fleet.md, e.g. `redis_url`); flags and env win over it.
    #[arg(long, env = "STRATA_CONFIG", value_name = "FILE")]
    #[allow(dead_code)] // read by apply_config_file before parsing; declared for --help and validation
    config: Option<std::path::PathBuf>,
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
    /// Jobs in flight; defaults to the CPU count.
    #[arg(long, env = "STRATA_PREFETCH")]
    prefetch: Option<u16>,
    /// Deliveries of one job before it is dead-lettered.
    #[arg(long, env = "STRATA_MAX_ATTEMPTS", default_value_t = 3)]
    max_attempts: u32,
    /// First retry delay, milliseconds (doubles per attempt).
    #[arg(long, env = "STRATA_RETRY_BACKOFF_MS", default_value_t = 500)]
    retry_backoff_ms: u64,
    /// How long a layer's result stays in the cache, days.
    #[arg(long, env = "STRATA_LAYER_TTL_DAYS", default_value_t = 30)]
    layer_ttl_days: u64,
    /// Fetch plus analysis of one layer, seconds; below the pod's terminationGracePeriodSeconds (120).
    #[arg(long, env = "STRATA_LAYER_DEADLINE_SECS", default_value_t = 90)]
    layer_deadline_secs: u64,
    /// After SIGTERM, how long jobs in flight may still run before the worker exits without them.
    #[arg(long, env = "STRATA_SHUTDOWN_GRACE_SECS", default_value_t = 100)]
    shutdown_grace_secs: u64,
    /// Address space of each analysis child, MiB (0: unlimited).
    #[arg(long, env = "STRATA_ANALYSIS_MEMORY_MIB", default_value_t = 1024)]
    analysis_memory_mib: u64,
    /// Secret rules (YAML, see docs/secrets.md) instead of the built-in ones, loaded by each analysis child.
    /// Results then depend on the file: give such workers their own `STRATA_KEY_PREFIX`.
    #[arg(long, env = "STRATA_SECRET_CONFIG", value_name = "FILE")]
    secret_config: Option<std::path::PathBuf>,
    /// The engine's per-layer budget (docs/security-layers.md): `key = value` pairs, comma-separated, e.g.
    /// `wall = 120, decompressed_bytes = 34359738368`; unnamed fields keep their defaults. Results under
    /// another budget may differ: give such workers their own `STRATA_KEY_PREFIX`.
    #[arg(long, env = "STRATA_LAYER_BUDGET", value_name = "SETTING", default_value = "")]
    layer_budget: String,
    /// Serve `/metrics`, `/healthz`, `/readyz` over HTTP here (e.g. `0.0.0.0:9090` in a pod).
    #[arg(long, env = "STRATA_OPS_LISTEN")]
    ops_listen: Option<String>,
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
    registry_credentials_file: Option<std::path::PathBuf>,
    /// Registries (`host[:port]` globs, comma-separated) jobs may name, besides those with credentials.
    /// A job naming another is refused before any connection. `*` allows any (an explicit opt-in).
    #[arg(long, env = "STRATA_ALLOWED_REGISTRIES", default_value = "")]
    allowed_registries: String,
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    // The analysis child (see strata_worker::isolation): no runtime, no config, no logging set up.
    if let [_, mode, rest @ ..] = &argv[..]
        && mode == strata_worker::isolation::SUBCOMMAND
    {
        std::process::exit(strata_worker::isolation::child_main(rest));
    }
    strata_fleet::config::apply_config_file(&argv).map_err(anyhow::Error::msg)?;
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new()?;
    // Inside the runtime: the OTLP exporter's connection lives on it.
    let telemetry = {
        let _context = runtime.enter();
        strata_fleet::telemetry::init("strata-worker").context("logging and tracing (OTEL_*)")?
    };
    let outcome = runtime.block_on(async {
        let redis = strata_fleet::tls::redis_client(&args.redis_url, &args.brokers.redis_tls.files()).await?;
        let cache = RedisCache::open(redis, &args.key_prefix, Duration::from_secs(args.layer_ttl_days * 86_400))
            .await
            .context("connecting to Redis")?;
        let queue = RabbitQueue::connect_with(
            &args.amqp_url,
            &args.queue,
            &args.brokers.amqp_tls.files(),
            &args.brokers.queue_kind,
        )
        .await
        .context("connecting to RabbitMQ")?;
        let client = RegistryClient::new(RegistryOptions {
            insecure: args.registry_insecure,
            credentials: CredentialSources {
                username: args.registry_username,
                password: args.registry_password,
                hosts: args.registry_host,
                credentials_file: args.registry_credentials_file,
                docker_config: None,
            },
            allowed: AllowList::parse(&args.allowed_registries)
                .map_err(anyhow::Error::msg)
                .context("STRATA_ALLOWED_REGISTRIES")?,
            ..RegistryOptions::default()
        })?;
        tracing::info!(allowed = %client.allowed().describe(), "registries this worker may contact");
        let limit = |n: u64| (n > 0).then_some(n);
        let mut isolation = Isolation::this_binary(limit(args.analysis_memory_mib << 20))
            .context("locating the worker binary for analysis children")?;
        if let Some(path) = &args.secret_config {
            // Checked here, so a bad file stops the worker at start rather than each child at its first job.
            strata_worker::isolation::load_secret_config(path).map_err(anyhow::Error::msg)?;
            let path = std::fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))?;
            isolation.secret_config = Some(path);
        }
        // Checked here, so a typo stops the worker at start rather than each child at its first job.
        let budget: strata_scanner::budget::Budget =
            args.layer_budget.parse().map_err(anyhow::Error::msg).context("STRATA_LAYER_BUDGET")?;
        if !args.layer_budget.trim().is_empty() {
            isolation.budget = Some(args.layer_budget.clone());
        }
        let mut config = WorkerConfig {
            budget,
            max_attempts: args.max_attempts,
            retry_backoff: Duration::from_millis(args.retry_backoff_ms),
            layer_deadline: Some(Duration::from_secs(args.layer_deadline_secs.max(1))),
            shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
            isolation: Some(isolation),
            ..WorkerConfig::default()
        };
        if let Some(p) = args.prefetch {
            config.prefetch = p;
        }
        tracing::info!(queue = %args.queue, prefetch = config.prefetch, "worker consuming");
        let (queue, cache) = (Arc::new(queue), Arc::new(cache));
        if let Some(addr) = &args.ops_listen {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            let (q, c) = (queue.clone(), cache.clone());
            let ready: strata_fleet::ops::ReadyCheck = Arc::new(move || {
                let (q, c) = (q.clone(), c.clone());
                Box::pin(async move {
                    use strata_fleet::{cache::LayerCache, queue::JobQueue};
                    c.ping().await.map_err(|e| e.to_string())?;
                    q.ping().await.map_err(|e| e.to_string())
                })
            });
            tokio::spawn(strata_fleet::ops::serve(
                listener,
                strata_fleet::ops::install_metrics(),
                ready,
                std::future::pending(),
            ));
        }
        let worker = Worker::new(queue, cache, Arc::new(RegistryBlobs::new(client)), config);
        worker.run(strata_fleet::ops::shutdown_signal()).await.context("worker")
    });
    // Export the spans still buffered while the runtime runs: a graceful stop loses none.
    drop(telemetry);
    // A job abandoned at the end of the grace period may leave a blocking read of a stalled registry
    // behind; it must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    outcome
}
