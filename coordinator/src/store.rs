//! Scan state in Redis, so any coordinator replica can answer for any scan and a restarted coordinator
//! resumes every scan that was in flight.
//!
//! Keys (under the configured prefix): `scan:{id}` the `Scan` record (protobuf), `scans` a sorted set of
//! ids by creation time, `scans:active` the ids not yet finished, `lease:{id}` which replica runs a scan,
//! `report:{id}` the JSON report (zstd), `image:{manifest digest}` the merged inventory kept for rescans,
//! `policy:{sha256}` the ignore files and VEX documents a submission sent (`ScanPolicy`, protobuf),
//! `sweep:tick:{unix}` which replica runs a scheduled sweep, `sweeps` the last scheduled sweeps' summaries,
//! and the `events` channel that carries every record update to `WatchScans` streams on all replicas.
//!
//! Retention's indexes ([`crate::retention`]), written with every record: `done:{repository}` the
//! repository's done scans by finish time (`repository` as in the reference: registry and path),
//! `refs:image:{digest}` and `refs:policy:{digest}` the scans that use an image record or a policy
//! document, so the last scan to go takes them along.

use std::time::Duration;

use prost::Message;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use strata_proto::v1::Scan;
use strata_scanner::image::ResolvedImage;
use strata_scanner::merge::ImageInventory;
use tokio::sync::broadcast;

use crate::error::{CoordinatorError, Result};

/// What a rescan needs without touching the registry: the resolved image and its merged inventory.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredImage {
    pub image: ResolvedImage,
    pub inventory: ImageInventory,
    /// The analyser version the layers were analysed with (0: stored before it was recorded). A sweep
    /// re-matches only inventories of the current version and scans the others again.
    #[serde(default)]
    pub analyzer_version: u32,
}

impl StoredImage {
    pub fn is_current(&self) -> bool {
        self.analyzer_version == strata_scanner::ANALYZER_VERSION
    }
}

#[derive(Clone)]
pub struct ScanStore {
    conn: ConnectionManager,
    prefix: String,
    events: broadcast::Sender<Scan>,
}

/// How long a scan record's save waits for Redis to come back (a restart takes a second or two).
const TRANSIENT_RETRY: Duration = Duration::from_secs(15);

/// Errors of the connection, not of the command: worth a retry once the connection manager reconnects.
fn transient(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

impl ScanStore {
    pub async fn connect(client: &redis::Client, prefix: &str) -> Result<Self> {
        let conn = strata_fleet::redis_link::manager(client).await?;
        let (events, _) = broadcast::channel(8192);
        let sender = events.clone();
        strata_fleet::redis_link::listen(client.clone(), format!("{prefix}:events"), move |message| {
            if let Ok(bytes) = message.get_payload::<Vec<u8>>()
                && let Ok(scan) = Scan::decode(&bytes[..])
            {
                let _ = sender.send(scan);
            }
        })
        .await?;
        Ok(ScanStore { conn, prefix: prefix.to_string(), events })
    }

    pub(crate) fn key(&self, what: &str) -> String {
        format!("{}:{what}", self.prefix)
    }

    pub(crate) fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Adds `scan` to retention's indexes (idempotent: sets, and a sorted set keyed by the scan id).
    pub(crate) fn index(&self, pipe: &mut redis::Pipeline, scan: &Scan) {
        if !scan.image_digest.is_empty() {
            pipe.sadd(self.key(&format!("refs:image:{}", scan.image_digest)), &scan.id).ignore();
        }
        if let Some(digest) = scan.options.as_ref().map(|o| o.policy_digest.as_str()).filter(|d| !d.is_empty()) {
            pipe.sadd(self.key(&format!("refs:policy:{digest}")), &scan.id).ignore();
        }
        if scan.status == strata_proto::v1::ScanStatus::Done as i32 {
            let repository = strata_registry::repository_of(&scan.reference);
            pipe.zadd(self.key(&format!("done:{repository}")), &scan.id, scan.updated_unix_ms).ignore();
        }
    }

    /// Stores a record and announces it to every replica's watchers.
    pub async fn save(&self, scan: &Scan) -> Result<()> {
        self.save_with(scan, Vec::new()).await
    }

    /// As [`save`](Self::save), running `extra` in the same MULTI (the DefectDojo outbox entries of a
    /// scan that becomes done: both happen, or neither).
    pub async fn save_with(&self, scan: &Scan, extra: Vec<redis::Cmd>) -> Result<()> {
        let bytes = scan.encode_to_vec();
        let mut pipe = redis::pipe();
        let is_transaction = !extra.is_empty();
        if is_transaction {
            pipe.atomic();
        }
        for cmd in extra {
            pipe.add_command(cmd).ignore();
        }
        pipe.set(self.key(&format!("scan:{}", scan.id)), &bytes).zadd(
            self.key("scans"),
            &scan.id,
            scan.created_unix_ms,
        );
        if strata_proto::status::is_terminal(scan.status) {
            pipe.srem(self.key("scans:active"), &scan.id);
        } else {
            pipe.sadd(self.key("scans:active"), &scan.id);
        }
        self.index(&mut pipe, scan);
        pipe.publish(self.key("events"), &bytes);
        // A Redis restart breaks the connection under a submit or a status change; the connection manager
        // reconnects, so wait for it rather than fail the caller. Only without `extra`: a MULTI whose reply
        // was lost may have run, and its commands are not all idempotent (this pipeline's are).
        let retry_for = if is_transaction { Duration::ZERO } else { TRANSIENT_RETRY };
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            match pipe.query_async::<()>(&mut self.conn.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) if transient(&e) && started.elapsed() + pause < retry_for => {
                    tracing::warn!(scan = %scan.id, error = %e, "saving a scan record: Redis unavailable, retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub async fn get(&self, id: &str) -> Result<Scan> {
        let bytes: Option<Vec<u8>> = self.conn.clone().get(self.key(&format!("scan:{id}"))).await?;
        let bytes = bytes.ok_or_else(|| CoordinatorError::NotFound(format!("scan {id}")))?;
        Scan::decode(&bytes[..]).map_err(|e| CoordinatorError::Internal(format!("scan {id}: {e}")))
    }

    /// Every scan, oldest first (a nightly run of 10,000 is a 10,000-key MGET in chunks).
    pub async fn list(&self) -> Result<Vec<Scan>> {
        let ids: Vec<String> = self.conn.clone().zrange(self.key("scans"), 0, -1).await?;
        self.get_many(&ids).await
    }

    pub async fn active_ids(&self) -> Result<Vec<String>> {
        Ok(self.conn.clone().smembers(self.key("scans:active")).await?)
    }

    pub async fn get_many(&self, ids: &[String]) -> Result<Vec<Scan>> {
        let mut scans = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let keys: Vec<String> = chunk.iter().map(|id| self.key(&format!("scan:{id}"))).collect();
            let values: Vec<Option<Vec<u8>>> =
                redis::cmd("MGET").arg(&keys).query_async(&mut self.conn.clone()).await?;
            scans.extend(values.into_iter().flatten().filter_map(|b| Scan::decode(&b[..]).ok()));
        }
        Ok(scans)
    }

    /// Takes or renews the lease that says this replica runs the scan. `false`: another replica does.
    pub async fn lease(&self, id: &str, owner: &str, ttl: Duration) -> Result<bool> {
        let key = self.key(&format!("lease:{id}"));
        let mut conn = self.conn.clone();
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::EX(ttl.as_secs().max(1)));
        let set: Option<String> = conn.set_options(&key, owner, options).await?;
        if set.is_some() {
            return Ok(true);
        }
        let holder: Option<String> = conn.get(&key).await?;
        if holder.as_deref() == Some(owner) {
            let _: () = conn.expire(&key, ttl.as_secs().max(1) as i64).await?;
            return Ok(true);
        }
        Ok(false)
    }

    pub async fn release(&self, id: &str) -> Result<()> {
        let _: () = self.conn.clone().del(self.key(&format!("lease:{id}"))).await?;
        Ok(())
    }

    /// Stores a scan's report, only while its record exists: a rescan that finishes after retention removed
    /// the scan must not leave a report nothing points to (it gets `NotFound`, as its record update would).
    pub async fn put_report(&self, id: &str, json: &[u8]) -> Result<()> {
        const SCRIPT: &str =
            "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SET', KEYS[2], ARGV[1]) return 1 end return 0";
        let packed = zstd::encode_all(json, 3).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        let stored: i64 = redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(2)
            .arg(self.key(&format!("scan:{id}")))
            .arg(self.key(&format!("report:{id}")))
            .arg(packed)
            .query_async(&mut self.conn.clone())
            .await?;
        if stored == 0 {
            return Err(CoordinatorError::NotFound(format!("scan {id}")));
        }
        Ok(())
    }

    pub async fn get_report(&self, id: &str) -> Result<Vec<u8>> {
        let packed: Option<Vec<u8>> = self.conn.clone().get(self.key(&format!("report:{id}"))).await?;
        let packed = packed.ok_or_else(|| CoordinatorError::NotFound(format!("report of scan {id}")))?;
        zstd::decode_all(&packed[..]).map_err(|e| CoordinatorError::Internal(e.to_string()))
    }

    pub async fn put_image(&self, digest: &str, stored: &StoredImage) -> Result<()> {
        let json = serde_json::to_vec(stored).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        let packed = zstd::encode_all(&json[..], 3).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        let _: () = self.conn.clone().set(self.key(&format!("image:{digest}")), packed).await?;
        Ok(())
    }

    pub async fn get_image(&self, digest: &str) -> Result<StoredImage> {
        let packed: Option<Vec<u8>> = self.conn.clone().get(self.key(&format!("image:{digest}"))).await?;
        let packed = packed.ok_or_else(|| CoordinatorError::NotFound(format!("stored inventory of {digest}")))?;
        let json = zstd::decode_all(&packed[..]).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        serde_json::from_slice(&json).map_err(|e| CoordinatorError::Internal(e.to_string()))
    }

    /// Stores a submission's policy documents under their digest (the same documents sent again, by any
    /// number of scans, are one key).
    pub async fn put_policy(&self, digest: &str, encoded: &[u8]) -> Result<()> {
        let _: () = self.conn.clone().set(self.key(&format!("policy:{digest}")), encoded).await?;
        Ok(())
    }

    pub async fn get_policy(&self, digest: &str) -> Result<Vec<u8>> {
        let encoded: Option<Vec<u8>> = self.conn.clone().get(self.key(&format!("policy:{digest}"))).await?;
        encoded.ok_or_else(|| CoordinatorError::NotFound(format!("policy documents {digest}")))
    }

    /// Claims the scheduled sweep of `tick` (Unix seconds) for `owner`: `true` for exactly one replica.
    /// The claim outlives every replica's clock skew, then expires.
    pub async fn claim_sweep_tick(&self, tick: i64, owner: &str) -> Result<bool> {
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::EX(3600));
        let set: Option<String> =
            self.conn.clone().set_options(self.key(&format!("sweep:tick:{tick}")), owner, options).await?;
        Ok(set.is_some())
    }

    /// Keeps the summary of a scheduled sweep (JSON) in `sweeps`, newest first, the last 100.
    pub async fn record_sweep(&self, summary: &serde_json::Value) -> Result<()> {
        let key = self.key("sweeps");
        let _: () = redis::pipe()
            .lpush(&key, summary.to_string())
            .ltrim(&key, 0, 99)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<()> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Scan> {
        self.events.subscribe()
    }
}
