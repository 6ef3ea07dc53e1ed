//! The durable outbox in Redis. A finished scan's deliveries are queued by commands that run in the same
//! MULTI that marks the scan done ([`Outbox::prepare`]), so no scan is ever done but undelivered, and none
//! is queued twice. Per engagement, deliveries form a list: that list's order is the delivery order.
//!
//! Keys under `{prefix}:dd:` — `queue:{engagement}` (list of ids), `engagements` (set of engagements with
//! something queued), `entry:{id}` (JSON [`Entry`]), `file:{id}` (the zstd Trivy file), `scan:{scan id}`
//! (list of the scan's delivery ids), `last:{test}` (hash of the last delivered upload), `lock:{engagement}`
//! (which replica delivers to it now), `stats` (counters).

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use sha2::Digest as _;
use strata_proto::v1::{DeliveryTotals, Scan};
use strata_scanner::report::Report;
use tracing::warn;

use super::client::{DefectDojoError, ImportResult, Upload};
use super::{Names, Settings};
use crate::error::{CoordinatorError, Result};
use crate::runner::now_ms;

/// How long finished delivery records (and what `strata status` shows of them) are kept.
const KEEP: Duration = Duration::from_secs(30 * 86_400);

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Delivered,
    Skipped,
    Parked,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Skipped => "skipped",
            State::Parked => "parked",
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub id: String,
    pub scan_id: String,
    pub reference: String,
    pub upload: Upload,
    /// sha256 of the form fields (but `scan_date`) and the file: equal hashes, identical uploads.
    pub upload_hash: String,
    pub state: State,
    pub attempts: u32,
    pub error: String,
    pub next_attempt_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub result: Option<ImportResult>,
    /// W3C trace context the delivery continues (the scan run that queued it); empty without traces.
    #[serde(default)]
    pub traceparent: String,
}

impl Entry {
    pub fn engagement_key(&self) -> String {
        engagement_key(&self.upload.names)
    }

    pub fn test_key(&self) -> String {
        let n = &self.upload.names;
        short_hash(&[&n.product_type, &n.product, &n.engagement, &n.test_title])
    }

    pub fn to_proto(&self) -> strata_proto::v1::Delivery {
        let n = &self.upload.names;
        strata_proto::v1::Delivery {
            id: self.id.clone(),
            scan_id: self.scan_id.clone(),
            reference: self.reference.clone(),
            state: self.state.as_str().to_string(),
            attempts: self.attempts,
            error: self.error.clone(),
            product_type: n.product_type.clone(),
            product: n.product.clone(),
            engagement: n.engagement.clone(),
            test_title: n.test_title.clone(),
            test_id: self.result.as_ref().map_or(0, |r| r.test_id),
            delta: self.result.as_ref().map(|r| r.delta.to_proto()),
            created_unix_ms: self.created_ms,
            updated_unix_ms: self.updated_ms,
            next_attempt_unix_ms: self.next_attempt_ms,
        }
    }
}

/// Racing imports into one engagement create duplicate engagements: this key serialises them.
pub fn engagement_key(n: &Names) -> String {
    short_hash(&[&n.product_type, &n.product, &n.engagement])
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

fn upload_hash(upload: &Upload, file: &[u8]) -> String {
    let mut h = sha2::Sha256::new();
    // scan_date changes every night without changing anything DefectDojo keeps.
    for (k, v) in upload.fields().into_iter().filter(|(k, _)| *k != "scan_date") {
        h.update(k.as_bytes());
        h.update([0u8]);
        h.update(v.as_bytes());
        h.update([0u8]);
    }
    h.update(file);
    hex::encode(h.finalize())
}

#[derive(Clone)]
pub struct Outbox {
    conn: ConnectionManager,
    prefix: String,
    pub settings: std::sync::Arc<Settings>,
}

impl Outbox {
    pub async fn connect(client: &redis::Client, prefix: &str, settings: std::sync::Arc<Settings>) -> Result<Outbox> {
        let conn = strata_fleet::redis_link::manager(client).await?;
        Ok(Outbox { conn, prefix: prefix.to_string(), settings })
    }

    fn key(&self, what: &str) -> String {
        format!("{}:dd:{what}", self.prefix)
    }

    /// The commands that queue `scan`'s deliveries; the caller runs them in the MULTI that marks the scan
    /// done. A report DefectDojo would mangle (or names that do not render) is queued parked, with the
    /// reason, so it shows in `strata status` instead of vanishing.
    pub fn prepare(&self, scan: &Scan, report: &Report) -> Vec<redis::Cmd> {
        let now = now_ms();
        let options = scan.options.clone().unwrap_or_default();
        let base = Entry {
            id: String::new(),
            scan_id: scan.id.clone(),
            reference: scan.reference.clone(),
            upload: Upload {
                names: Names {
                    product_type: String::new(),
                    product: String::new(),
                    engagement: String::new(),
                    test_title: String::new(),
                    service: None,
                },
                scan_date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
                minimum_severity: self.settings.minimum_severity.clone(),
                image_digest: scan.image_digest.clone(),
                tags: self.settings.tags.clone(),
                dedup_sync: self.settings.dedup_sync,
                base_title: String::new(),
                titles: Vec::new(),
            },
            upload_hash: String::new(),
            state: State::Pending,
            attempts: 0,
            error: String::new(),
            next_attempt_ms: now,
            created_ms: now,
            updated_ms: now,
            result: None,
            // The run that finishes the scan; a rescan (no run) continues the submit's trace.
            traceparent: strata_fleet::telemetry::current_traceparent().unwrap_or_else(|| scan.traceparent.clone()),
        };
        let file = super::document::to_dojo_file(report);
        let prepared =
            self.settings.names.render(&scan.reference, &scan.labels, options.defectdojo.as_ref()).and_then(|names| {
                let mut upload = base.upload.clone();
                upload.names = names;
                super::document::uploads(&upload, file, self.settings.max_file_bytes)
            });
        let mut entries = Vec::new();
        match prepared {
            Ok(parts) => {
                for (upload, bytes) in parts {
                    let mut entry = base.clone();
                    entry.id = uuid::Uuid::new_v4().to_string();
                    entry.upload_hash = upload_hash(&upload, &bytes);
                    entry.upload = upload;
                    entries.push((entry, Some(bytes)));
                }
            }
            Err(e) => {
                warn!(scan = %scan.id, reference = %scan.reference, error = %e, "not sending to DefectDojo");
                let mut entry = base;
                entry.id = uuid::Uuid::new_v4().to_string();
                entry.state = State::Parked;
                entry.error = e.to_string();
                entries.push((entry, None));
            }
        }
        let mut cmds = Vec::new();
        let scan_list = self.key(&format!("scan:{}", scan.id));
        for (entry, bytes) in &entries {
            let json = serde_json::to_vec(entry).unwrap_or_default();
            let entry_key = self.key(&format!("entry:{}", entry.id));
            match bytes {
                Some(bytes) => {
                    let packed = zstd::encode_all(&bytes[..], 3).unwrap_or_default();
                    let engagement = entry.engagement_key();
                    cmds.push(redis::Cmd::set(entry_key, json));
                    cmds.push(redis::Cmd::set(self.key(&format!("file:{}", entry.id)), packed));
                    cmds.push(redis::Cmd::rpush(self.key(&format!("queue:{engagement}")), &entry.id));
                    cmds.push(redis::Cmd::sadd(self.key("engagements"), engagement));
                    cmds.push(redis::Cmd::hincr(self.key("stats"), "pending", 1));
                }
                None => {
                    cmds.push(redis::Cmd::set_ex(entry_key, json, KEEP.as_secs()));
                    cmds.push(redis::Cmd::hincr(self.key("stats"), "parked", 1));
                }
            }
            cmds.push(redis::Cmd::rpush(&scan_list, &entry.id));
        }
        cmds.push(redis::Cmd::expire(&scan_list, KEEP.as_secs() as i64));
        cmds
    }

    /// Engagements with something queued.
    pub async fn engagements(&self) -> Result<Vec<String>> {
        Ok(self.conn.clone().smembers(self.key("engagements")).await?)
    }

    /// The first queued delivery of an engagement (dropping ids whose record is gone).
    pub async fn head(&self, engagement: &str) -> Result<Option<Entry>> {
        let mut conn = self.conn.clone();
        let queue = self.key(&format!("queue:{engagement}"));
        loop {
            let id: Option<String> = conn.lindex(&queue, 0).await?;
            let Some(id) = id else {
                self.forget_if_empty(engagement).await?;
                return Ok(None);
            };
            match self.entry(&id).await? {
                Some(entry) => return Ok(Some(entry)),
                None => {
                    warn!(delivery = %id, "a queued DefectDojo delivery has no record; dropping it");
                    let _: () = conn.lrem(&queue, 1, &id).await?;
                }
            }
        }
    }

    pub async fn entry(&self, id: &str) -> Result<Option<Entry>> {
        let json: Option<Vec<u8>> = self.conn.clone().get(self.key(&format!("entry:{id}"))).await?;
        Ok(json.and_then(|j| serde_json::from_slice(&j).ok()))
    }

    pub async fn file(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let packed: Option<Vec<u8>> = self.conn.clone().get(self.key(&format!("file:{id}"))).await?;
        packed.map(|p| zstd::decode_all(&p[..]).map_err(|e| CoordinatorError::Internal(e.to_string()))).transpose()
    }

    /// Records a failed attempt that will be retried (the delivery stays at the head of its queue).
    pub async fn retry_later(&self, entry: &Entry) -> Result<()> {
        let json = serde_json::to_vec(entry).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        let mut pipe = redis::pipe();
        pipe.set(self.key(&format!("entry:{}", entry.id)), json).ignore();
        pipe.hincr(self.key("stats"), "retries", 1).ignore();
        let _: () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Ends a delivery (delivered, skipped or parked) and takes it off its queue, in one MULTI.
    pub async fn complete(&self, entry: &Entry) -> Result<()> {
        let json = serde_json::to_vec(entry).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        let engagement = entry.engagement_key();
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.set_ex(self.key(&format!("entry:{}", entry.id)), json, KEEP.as_secs()).ignore();
        pipe.lrem(self.key(&format!("queue:{engagement}")), 1, &entry.id).ignore();
        pipe.hincr(self.key("stats"), "pending", -1).ignore();
        pipe.hincr(self.key("stats"), entry.state.as_str(), 1).ignore();
        match entry.state {
            // A parked file stays (for a week) so it can be inspected.
            State::Parked => {
                pipe.expire(self.key(&format!("file:{}", entry.id)), 7 * 86_400).ignore();
            }
            _ => {
                pipe.del(self.key(&format!("file:{}", entry.id))).ignore();
            }
        }
        if let (State::Delivered, Some(result)) = (entry.state, &entry.result) {
            let last = format!("{} {}", entry.upload_hash, result.test_id);
            pipe.set(self.key(&format!("last:{}", entry.test_key())), last).ignore();
            for (name, counts) in [
                ("created", result.delta.created),
                ("closed", result.delta.closed),
                ("reactivated", result.delta.reactivated),
            ] {
                pipe.hincr(self.key("stats"), name, counts.total).ignore();
            }
        }
        let _: () = pipe.query_async(&mut self.conn.clone()).await?;
        self.forget_if_empty(&engagement).await
    }

    /// Drops an engagement from the set once its queue is empty, atomically, so a delivery queued at the
    /// same moment is not forgotten.
    async fn forget_if_empty(&self, engagement: &str) -> Result<()> {
        const SCRIPT: &str =
            "if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end return 0";
        let _: i64 = redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(2)
            .arg(self.key(&format!("queue:{engagement}")))
            .arg(self.key("engagements"))
            .arg(engagement)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// The hash of the last upload delivered to this delivery's test, and DefectDojo's id of that test.
    pub async fn last_delivered(&self, entry: &Entry) -> Result<Option<(String, i64)>> {
        let last: Option<String> = self.conn.clone().get(self.key(&format!("last:{}", entry.test_key()))).await?;
        Ok(last.and_then(|l| {
            let (hash, id) = l.split_once(' ')?;
            Some((hash.to_string(), id.parse().ok()?))
        }))
    }

    /// Takes or renews the engagement's lock; `false` when another replica holds it.
    pub async fn lock(&self, engagement: &str, owner: &str, ttl: Duration) -> Result<bool> {
        const SCRIPT: &str = "local v = redis.call('GET', KEYS[1]) \
            if v == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end \
            if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end return 0";
        let got: i64 = redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(1)
            .arg(self.key(&format!("lock:{engagement}")))
            .arg(owner)
            .arg(ttl.as_millis() as u64)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(got == 1)
    }

    pub async fn unlock(&self, engagement: &str, owner: &str) -> Result<()> {
        const SCRIPT: &str =
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
        let _: i64 = redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(1)
            .arg(self.key(&format!("lock:{engagement}")))
            .arg(owner)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Every delivery of these scans, each scan's in queueing order.
    pub async fn for_scans(&self, scan_ids: &[String]) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for id in scan_ids {
            let ids: Vec<String> = self.conn.clone().lrange(self.key(&format!("scan:{id}")), 0, -1).await?;
            for d in ids {
                if let Some(entry) = self.entry(&d).await? {
                    out.push(entry);
                }
            }
        }
        Ok(out)
    }

    /// Queues parked deliveries again: `ids` are delivery ids, or scan ids standing for each of the
    /// scan's parked deliveries. Returns the deliveries queued; one parked before it was ever sent (its
    /// names or report were refused) has no file to send and is an error that says so.
    pub async fn resend(&self, ids: &[String]) -> Result<Vec<Entry>> {
        let mut parked = Vec::new();
        for id in ids {
            match self.entry(id).await? {
                Some(entry) => parked.push(entry),
                None => {
                    let of_scan = self.for_scans(std::slice::from_ref(id)).await?;
                    if of_scan.is_empty() {
                        return Err(CoordinatorError::Invalid(format!("{id}: no such delivery or scan")));
                    }
                    parked.extend(of_scan.into_iter().filter(|e| e.state == State::Parked));
                }
            }
        }
        let mut queued = Vec::new();
        for mut entry in parked.into_iter().filter(|e| e.state == State::Parked) {
            let file_key = self.key(&format!("file:{}", entry.id));
            let has_file: bool = self.conn.clone().exists(&file_key).await?;
            if !has_file {
                return Err(CoordinatorError::Invalid(format!(
                    "delivery {} of {} was parked before it was sent ({}): fix the setting and `strata rescan` it",
                    entry.id, entry.reference, entry.error
                )));
            }
            entry.state = State::Pending;
            entry.attempts = 0;
            entry.error = String::new();
            entry.next_attempt_ms = now_ms();
            entry.updated_ms = now_ms();
            let json = serde_json::to_vec(&entry).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
            let engagement = entry.engagement_key();
            let mut pipe = redis::pipe();
            pipe.atomic();
            pipe.set(self.key(&format!("entry:{}", entry.id)), json).ignore();
            pipe.persist(&file_key).ignore();
            pipe.rpush(self.key(&format!("queue:{engagement}")), &entry.id).ignore();
            pipe.sadd(self.key("engagements"), engagement).ignore();
            pipe.hincr(self.key("stats"), "parked", -1).ignore();
            pipe.hincr(self.key("stats"), "pending", 1).ignore();
            let _: () = pipe.query_async(&mut self.conn.clone()).await?;
            queued.push(entry);
        }
        Ok(queued)
    }

    pub async fn totals(&self) -> Result<DeliveryTotals> {
        let stats: std::collections::HashMap<String, i64> = self.conn.clone().hgetall(self.key("stats")).await?;
        let get = |k: &str| stats.get(k).copied().unwrap_or(0).max(0) as u64;
        Ok(DeliveryTotals {
            delivered: get("delivered"),
            skipped: get("skipped"),
            parked: get("parked"),
            retries: get("retries"),
            created: get("created"),
            closed: get("closed"),
            reactivated: get("reactivated"),
            pending: get("pending"),
        })
    }
}

impl From<DefectDojoError> for CoordinatorError {
    fn from(e: DefectDojoError) -> Self {
        CoordinatorError::Invalid(e.to_string())
    }
}
