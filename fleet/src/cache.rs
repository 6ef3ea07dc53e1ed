//! The layer cache: one [`LayerResult`] per (analyser version, layer digest), shared by every scan.
//!
//! It is also where the fleet agrees on who analyses what. [`LayerCache::claim`] is the single-flight
//! lock: the first scan to claim a missing layer queues its job; every other scan (on any coordinator
//! replica) waits for the "done" notification that [`LayerCache::put`] publishes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::broadcast;

use crate::{LayerResult, Result, codec};

#[async_trait]
pub trait LayerCache: Send + Sync + 'static {
    async fn get(&self, digest: &str) -> Result<Option<LayerResult>>;
    /// Stores a result and tells every waiter that the layer is done.
    async fn put(&self, result: &LayerResult) -> Result<()>;
    /// Single-flight: `true` when the caller must queue the layer's job, `false` when a job for it is
    /// already queued or running. Claims expire, so a job lost with a crashed process is queued again.
    async fn claim(&self, digest: &str, ttl: Duration) -> Result<bool>;
    /// Digests whose result was just stored, by anyone.
    fn subscribe(&self) -> broadcast::Receiver<String>;
    /// Counts one analysis of `digest` (what "analysed exactly once" is measured by).
    async fn record_analysis(&self, digest: &str) -> Result<u64>;
    /// How many times `digest` was analysed.
    async fn analyses(&self, digest: &str) -> Result<u64>;
    /// Whether the backend answers (readiness).
    async fn ping(&self) -> Result<()>;
    /// Counts one attempt at `digest` *before* it is made, so an attempt that kills its process still
    /// counts. Returns this attempt's number (1 for the first) and why the last counted attempt failed,
    /// when a worker lived to say. Storing the layer's result ([`put`](Self::put)) starts the count over.
    async fn begin_attempt(&self, digest: &str) -> Result<Attempt>;
    /// Records why the current attempt at `digest` failed (read back by the next [`Self::begin_attempt`]).
    async fn attempt_failed(&self, digest: &str, reason: &str) -> Result<()>;
}

/// One counted attempt at a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first attempt; counts every attempt that began, whether or not its worker survived it.
    pub number: u32,
    /// Why the previous attempt failed, if a worker recorded it.
    pub last_failure: Option<String>,
}

/// How long an attempt count outlives its last attempt: far beyond any retry backoff or queue wait, short
/// enough that a layer which failed long ago is tried afresh.
const ATTEMPTS_TTL: Duration = Duration::from_secs(86_400);

/// Removes the password from a `redis://user:password@host` URL in a message.
pub fn redact(text: &str) -> String {
    match (text.find("://"), text.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &text[..scheme], &text[at..]),
        _ => text.to_string(),
    }
}

/// Redis key names under one prefix, so tests and tenants never collide.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Keys { prefix: prefix.to_string() }
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    fn versioned(&self, what: &str, digest: &str) -> String {
        format!("{}:{what}:v{}:{digest}", self.prefix, strata_scanner::ANALYZER_VERSION)
    }
    pub fn layer(&self, digest: &str) -> String {
        self.versioned("layer", digest)
    }
    pub fn claim(&self, digest: &str) -> String {
        self.versioned("claim", digest)
    }
    pub fn analyses(&self, digest: &str) -> String {
        self.versioned("analyses", digest)
    }
    pub fn attempts(&self, digest: &str) -> String {
        self.versioned("attempts", digest)
    }
    pub fn attempt_failure(&self, digest: &str) -> String {
        self.versioned("attempt-failure", digest)
    }
    pub fn done_channel(&self) -> String {
        format!("{}:layer-done", self.prefix)
    }
}

pub struct RedisCache {
    conn: ConnectionManager,
    keys: Keys,
    ttl: Duration,
    failed_ttl: Duration,
    done: broadcast::Sender<String>,
}

impl RedisCache {
    /// [`open`](Self::open) on a plain or `rediss://` URL trusting the system's roots (tests, tools).
    pub async fn connect(url: &str, prefix: &str, ttl: Duration) -> Result<Self> {
        Self::open(crate::tls::redis_client(url, &crate::tls::TlsFiles::default()).await?, prefix, ttl).await
    }

    /// Starts listening for "done" notifications. `ttl` keeps results (30 days by default); failures are
    /// kept an hour so a later scan retries the layer.
    pub async fn open(client: redis::Client, prefix: &str, ttl: Duration) -> Result<Self> {
        let conn = crate::redis_link::manager(&client).await?;
        let keys = Keys::new(prefix);
        let (done, _) = broadcast::channel(4096);
        let sender = done.clone();
        crate::redis_link::listen(client, keys.done_channel(), move |message| {
            if let Ok(digest) = message.get_payload::<String>() {
                let _ = sender.send(digest);
            }
        })
        .await?;
        Ok(RedisCache { conn, keys, ttl, failed_ttl: Duration::from_secs(3600), done })
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }
}

#[async_trait]
impl LayerCache for RedisCache {
    async fn get(&self, digest: &str) -> Result<Option<LayerResult>> {
        let bytes: Option<Vec<u8>> = self.conn.clone().get(self.keys.layer(digest)).await?;
        bytes.map(|b| codec::decode_result(&b)).transpose()
    }

    async fn put(&self, result: &LayerResult) -> Result<()> {
        let ttl = if result.ok { self.ttl } else { self.failed_ttl };
        let mut conn = self.conn.clone();
        let _: () = conn.set_ex(self.keys.layer(&result.digest), codec::encode_result(result), ttl.as_secs()).await?;
        let settled = [
            self.keys.claim(&result.digest),
            self.keys.attempts(&result.digest),
            self.keys.attempt_failure(&result.digest),
        ];
        let _: () = conn.del(&settled[..]).await?;
        let _: () = conn.publish(self.keys.done_channel(), &result.digest).await?;
        Ok(())
    }

    async fn claim(&self, digest: &str, ttl: Duration) -> Result<bool> {
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::EX(ttl.as_secs().max(1)));
        let set: Option<String> = self.conn.clone().set_options(self.keys.claim(digest), "1", options).await?;
        Ok(set.is_some())
    }

    fn subscribe(&self) -> broadcast::Receiver<String> {
        self.done.subscribe()
    }

    async fn record_analysis(&self, digest: &str) -> Result<u64> {
        Ok(self.conn.clone().incr(self.keys.analyses(digest), 1).await?)
    }

    async fn analyses(&self, digest: &str) -> Result<u64> {
        let n: Option<u64> = self.conn.clone().get(self.keys.analyses(digest)).await?;
        Ok(n.unwrap_or(0))
    }

    async fn ping(&self) -> Result<()> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    async fn begin_attempt(&self, digest: &str) -> Result<Attempt> {
        let (count, failure) = (self.keys.attempts(digest), self.keys.attempt_failure(digest));
        let (number, _, last_failure): (u64, (), Option<String>) = redis::pipe()
            .atomic()
            .incr(&count, 1)
            .expire(&count, ATTEMPTS_TTL.as_secs() as i64)
            .get(&failure)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(Attempt { number: u32::try_from(number).unwrap_or(u32::MAX), last_failure })
    }

    async fn attempt_failed(&self, digest: &str, reason: &str) -> Result<()> {
        let _: () = self.conn.clone().set_ex(self.keys.attempt_failure(digest), reason, ATTEMPTS_TTL.as_secs()).await?;
        Ok(())
    }
}

/// The cache for local mode: one process, nothing shared, nothing kept.
pub struct MemoryCache {
    results: Mutex<HashMap<String, LayerResult>>,
    claims: Mutex<HashMap<String, std::time::Instant>>,
    analyses: Mutex<HashMap<String, u64>>,
    attempts: Mutex<HashMap<String, Attempt>>,
    done: broadcast::Sender<String>,
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache {
            results: Mutex::default(),
            claims: Mutex::default(),
            analyses: Mutex::default(),
            attempts: Mutex::default(),
            done: broadcast::channel(1024).0,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl LayerCache for MemoryCache {
    async fn get(&self, digest: &str) -> Result<Option<LayerResult>> {
        Ok(lock(&self.results).get(digest).cloned())
    }

    async fn put(&self, result: &LayerResult) -> Result<()> {
        lock(&self.results).insert(result.digest.clone(), result.clone());
        lock(&self.claims).remove(&result.digest);
        lock(&self.attempts).remove(&result.digest);
        let _ = self.done.send(result.digest.clone());
        Ok(())
    }

    async fn claim(&self, digest: &str, ttl: Duration) -> Result<bool> {
        let now = std::time::Instant::now();
        let mut claims = lock(&self.claims);
        match claims.get(digest) {
            Some(expires) if *expires > now => Ok(false),
            _ => {
                claims.insert(digest.to_string(), now + ttl);
                Ok(true)
            }
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<String> {
        self.done.subscribe()
    }

    async fn record_analysis(&self, digest: &str) -> Result<u64> {
        let mut analyses = lock(&self.analyses);
        let n = analyses.entry(digest.to_string()).or_default();
        *n += 1;
        Ok(*n)
    }

    async fn analyses(&self, digest: &str) -> Result<u64> {
        Ok(lock(&self.analyses).get(digest).copied().unwrap_or(0))
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    async fn begin_attempt(&self, digest: &str) -> Result<Attempt> {
        let mut attempts = lock(&self.attempts);
        let attempt = attempts.entry(digest.to_string()).or_insert(Attempt { number: 0, last_failure: None });
        attempt.number += 1;
        Ok(attempt.clone())
    }

    async fn attempt_failed(&self, digest: &str, reason: &str) -> Result<()> {
        if let Some(attempt) = lock(&self.attempts).get_mut(digest) {
            attempt.last_failure = Some(reason.to_string());
        }
        Ok(())
    }
}
