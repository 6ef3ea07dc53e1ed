//! Serving: `run(listener, config, shutdown)` owns nothing global, so tests start a coordinator on a port
//! of their choosing and stop it by resolving `shutdown`; it returns once every task it started has ended
//! ([`Tasks`]).

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use strata_fleet::cache::{LayerCache, RedisCache};
use strata_fleet::queue::{JobQueue, RabbitQueue};
use strata_pipeline::fanout::LayerFanout;
use strata_proto::v1::scan_service_server::ScanServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Status};

use crate::db::DbHandle;
use crate::error::Result;
use crate::policy::ConfiguredPolicy;
use crate::runner::{RegistrySettings, Runner};
use crate::service::ScanApi;
use crate::store::ScanStore;
use crate::sweep::Sweeper;
use crate::tasks::Tasks;

#[derive(Clone)]
pub struct Config {
    pub redis_url: String,
    pub amqp_url: String,
    pub queue: String,
    /// `rediss://` and `amqps://`: CA and client certificate (`STRATA_REDIS_*`, `STRATA_AMQP_*`).
    pub redis_tls: strata_fleet::tls::TlsFiles,
    pub amqp_tls: strata_fleet::tls::TlsFiles,
    /// Classic or quorum job queue (`STRATA_QUEUE_TYPE`, `STRATA_QUEUE_DELIVERY_LIMIT`).
    pub queue_kind: strata_fleet::queue_type::QueueArgs,
    pub prefix: String,
    /// `None`: no DB; scans without the vuln scanner (secret, misconfig) still run.
    pub db: Option<PathBuf>,
    /// Refresh the DB on a schedule from a source (`STRATA_DB_SOURCE`); needs `db`.
    pub db_refresh: Option<crate::db::refresh::RefreshSettings>,
    /// `/readyz` fails when the DB's newest advisory is older than this (`STRATA_DB_MAX_AGE`).
    pub db_max_age: Option<Duration>,
    /// The coordinator's own ignore files and VEX documents, applied to every scan.
    pub policy: crate::policy::PolicySettings,
    pub registry: RegistrySettings,
    /// Bearer token clients must send (`authorization: Bearer …`); `None` disables the check.
    pub token: Option<String>,
    pub max_concurrent_scans: usize,
    pub layer_ttl: Duration,
    pub recheck: Duration,
    /// Where to serve `/metrics`, `/healthz` and `/readyz` (HTTP); `None` serves none.
    pub ops_listen: Option<String>,
    /// TLS for gRPC: server certificate chain and key (PEM), and optionally the CA that client
    /// certificates must chain to (mutual TLS).
    pub tls: Option<TlsFiles>,
    /// Forward every finished scan to DefectDojo (`STRATA_DEFECTDOJO_*`, docs/defectdojo.md).
    pub defectdojo: Option<Arc<crate::defectdojo::Settings>>,
    /// Where to serve the HTTP API (registry notifications, Harbor adapter); `None` serves none.
    pub http_listen: Option<String>,
    /// Scan on push (`STRATA_NOTIFY_*`, docs/continuous.md); needs `http_listen`.
    pub notify: Option<crate::notify::Settings>,
    /// How sweeps reach registries, and the scheduled sweep if any (`STRATA_SWEEP_*`, docs/sweep.md).
    pub sweep: crate::sweep::SweepSettings,
    pub sweep_schedule: Option<crate::schedule::ScheduledSweep>,
    /// How long finished scans are kept (`STRATA_RETAIN_*`, docs/operations.md).
    pub retention: crate::retention::RetentionSettings,
    /// New-vulnerability events to a webhook (`STRATA_EVENTS_*`, docs/events.md).
    pub events: Option<Arc<crate::events::Settings>>,
}

#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

fn tls_config(files: &TlsFiles) -> Result<tonic::transport::ServerTlsConfig> {
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| crate::error::CoordinatorError::Invalid(format!("reading {}: {e}", p.display())))
    };
    let identity = tonic::transport::Identity::from_pem(read(&files.cert)?, read(&files.key)?);
    let mut config = tonic::transport::ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &files.client_ca {
        config = config.client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?));
    }
    Ok(config)
}

/// Connects to Redis and RabbitMQ, resumes unfinished scans, and serves until `shutdown` resolves; then
/// stops every background task and waits for them (scans in flight are left to be resumed, not failed).
pub async fn run(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    let tasks = Tasks::new();
    let stop = tasks.clone();
    let shutdown = async move {
        shutdown.await;
        // Before the gRPC server drains its calls: open watches and waiting sweeps end on it.
        stop.request_stop();
    };
    let served = serve(listener, &config, shutdown, &tasks).await;
    tasks.stop().await;
    tracing::info!("coordinator stopped");
    served
}

async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()>,
    tasks: &Tasks,
) -> Result<()> {
    // Before anything records a metric (the DB's gauges are set as it loads).
    let prometheus = strata_fleet::ops::install_metrics();
    let redis = strata_fleet::tls::redis_client(&config.redis_url, &config.redis_tls).await?;
    let store = ScanStore::connect(&redis, &config.prefix).await?;
    crate::retention::eviction::check_and_log(&store).await;
    let cache: Arc<dyn LayerCache> = Arc::new(RedisCache::open(redis.clone(), &config.prefix, config.layer_ttl).await?);
    let queue: Arc<dyn JobQueue> = Arc::new(
        RabbitQueue::connect_with(&config.amqp_url, &config.queue, &config.amqp_tls, &config.queue_kind).await?,
    );
    let policy = tokio::task::spawn_blocking({
        let policy = config.policy.clone();
        move || ConfiguredPolicy::load(policy).map(Arc::new)
    })
    .await
    .map_err(|e| crate::error::CoordinatorError::Internal(e.to_string()))??;
    if config.db.is_none() && config.db_refresh.is_some() {
        return Err(crate::error::CoordinatorError::Invalid(
            "STRATA_DB_SOURCE needs STRATA_DB: the file the refreshed DB is kept in".into(),
        ));
    }
    // Filled once the DB is loaded; until then the ops endpoint is up (liveness holds while the first DB
    // downloads) and readiness says what it waits for.
    let loaded_db: Arc<OnceLock<Arc<DbHandle>>> = Arc::default();
    if let Some(addr) = &config.ops_listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| crate::error::CoordinatorError::Invalid(format!("binding the ops endpoint {addr}: {e}")))?;
        let (queue, cache, store) = (queue.clone(), cache.clone(), store.clone());
        let (db, wants_db, max_age) = (loaded_db.clone(), config.db.is_some(), config.db_max_age);
        let ready: strata_fleet::ops::ReadyCheck = Arc::new(move || {
            let (queue, cache, store, db) = (queue.clone(), cache.clone(), store.clone(), db.clone());
            Box::pin(async move {
                cache.ping().await.map_err(|e| e.to_string())?;
                store.ping().await.map_err(|e| e.to_string())?;
                let depth = queue.depth().await.map_err(|e| e.to_string())?;
                metrics::gauge!("strata_queue_depth").set(f64::from(depth));
                match (db.get(), max_age) {
                    (None, _) if wants_db => return Err("the vulnerability DB is not loaded yet".into()),
                    (Some(db), Some(max_age)) => {
                        crate::db::metrics::check_fresh(&*db.loaded().map_err(|e| e.to_string())?, max_age)?
                    }
                    _ => {}
                }
                Ok(())
            })
        });
        tasks.spawn_graceful(strata_fleet::ops::serve(listener, prometheus, ready, tasks.stopped()));
    }
    let db = match &config.db {
        Some(path) => {
            let db = crate::db::refresh::open(path.clone(), config.db_refresh.clone(), tasks).await?;
            let _ = loaded_db.set(db.clone());
            Some(db)
        }
        None => None,
    };
    let mut fanout = LayerFanout::new(queue, cache);
    fanout.recheck = config.recheck;
    if let Some(schedule) = &config.sweep_schedule {
        schedule.validate()?;
    }
    let runner = Runner::new(
        store.clone(),
        fanout,
        db,
        policy,
        config.registry.clone(),
        config.max_concurrent_scans,
        tasks.clone(),
    );
    // Before resuming scans, so that those that finish now are queued for DefectDojo too.
    if let Some(settings) = &config.defectdojo {
        let outbox = crate::defectdojo::outbox::Outbox::connect(&redis, &config.prefix, settings.clone()).await?;
        let _ = runner.outbox.set(outbox.clone());
        crate::defectdojo::delivery::start(outbox, tasks)?;
    }
    if let Some(settings) = &config.events {
        let outbox = crate::events::outbox::Outbox::connect(&redis, &config.prefix).await?;
        let _ = runner.events.set(outbox.clone());
        crate::events::delivery::start(outbox, settings.clone(), tasks)?;
    }
    if let (Some(db), Some(refresh)) = (runner.db(), &config.db_refresh)
        && refresh.rescan
    {
        crate::db::refresh::start_rescans(db.clone(), runner.clone(), tasks);
    }
    runner.resume().await?;
    runner.start_resumer();
    crate::retention::start(store.clone(), config.retention, tasks);
    if let Some(addr) = &config.http_listen {
        serve_http(addr, config, &runner, &redis).await?;
    }
    let sweeper = Arc::new(Sweeper::new(runner.clone(), config.registry.clone(), config.sweep.clone()));
    if let Some(schedule) = config.sweep_schedule.clone() {
        crate::schedule::start(sweeper.clone(), store, schedule, tasks)?;
    }

    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<ScanServiceServer<ScanApi>>().await;
    let token = config.token.clone();
    let api = ScanServiceServer::new(ScanApi::new(runner, sweeper))
        .max_decoding_message_size(64 * 1024 * 1024)
        .max_encoding_message_size(256 * 1024 * 1024);
    let service = tonic::service::interceptor::InterceptedService::new(api, move |request: Request<()>| {
        check_token(token.as_deref(), request)
    });
    let mut server = tonic::transport::Server::builder();
    if let Some(files) = &config.tls {
        server = server
            .tls_config(tls_config(files)?)
            .map_err(|e| crate::error::CoordinatorError::Invalid(format!("TLS configuration: {e}")))?;
    }
    server
        .add_service(health)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
        .map_err(|e| crate::error::CoordinatorError::Internal(e.to_string()))
}

/// Binds the HTTP listener and serves it until the stop: the Harbor adapter always, the registry
/// notification endpoint (and its drainer) when configured.
async fn serve_http(addr: &str, config: &Config, runner: &Arc<Runner>, redis: &redis::Client) -> Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| crate::error::CoordinatorError::Invalid(format!("binding the HTTP endpoint {addr}: {e}")))?;
    let notify = match &config.notify {
        Some(settings) => {
            let inbox = crate::notify::inbox::Inbox::connect(redis, &config.prefix).await?;
            let wake = Arc::new(tokio::sync::Notify::new());
            crate::notify::drainer::start(inbox.clone(), runner.clone(), settings.rate, wake.clone());
            Some(Arc::new(crate::notify::endpoint::Endpoint { settings: settings.clone(), inbox, wake }))
        }
        None => None,
    };
    tracing::info!(addr = %addr, scan_on_push = notify.is_some(), "HTTP API listening");
    let adapter = Arc::new(crate::harbor::api::Adapter { runner: runner.clone(), token: config.token.clone() });
    let fleet = Arc::new(crate::query::http::FleetApi { store: runner.store.clone(), token: config.token.clone() });
    let router = crate::http::router(adapter, notify, fleet);
    runner.tasks.spawn_graceful(crate::http::serve(listener, router, runner.tasks.stopped()));
    Ok(())
}

fn check_token(expected: Option<&str>, request: Request<()>) -> std::result::Result<Request<()>, Status> {
    let Some(expected) = expected else { return Ok(request) };
    let given = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
    match crate::auth::check(given, expected) {
        crate::auth::Bearer::Valid => Ok(request),
        crate::auth::Bearer::Invalid => Err(Status::unauthenticated("invalid bearer token")),
        crate::auth::Bearer::Missing => Err(Status::unauthenticated("missing bearer token")),
    }
}
