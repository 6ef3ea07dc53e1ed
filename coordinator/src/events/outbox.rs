//! The events outbox in Redis. Keys under `{prefix}:events:` — `announced:{image digest}` (set of the
//! finding keys already announced for the image; pruned with the image record), `entry:{id}` (JSON
//! [`Entry`]: the body as sent and the attempts), `due` (sorted set of undelivered ids by next attempt,
//! Unix ms; a lease pushes the score forward), `dead` (list of dead-lettered ids), `stats` (counters).
//!
//! An event is queued by one script run in the MULTI that stores the rescan's report: it adds the findings
//! to the announced set and queues the entry only if no entry of that id exists (the id is a hash of the
//! digest and the findings, so a repeat of the same rescan — another replica, a resumed pass — is a no-op).

use std::collections::BTreeSet;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use sha2::Digest as _;
use strata_scanner::report::{Finding, Report};

use crate::error::{CoordinatorError, Result};
use crate::runner::now_ms;

/// How long a delivered event's record is kept (for `X-Strata-Event-Id` lookups when investigating).
const KEEP: Duration = Duration::from_secs(7 * 86_400);

/// KEYS: entry, due, announced, stats. ARGV: entry JSON, id, due ms, then the finding keys.
const QUEUE: &str = r"
for i = 4, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
  redis.call('HINCRBY', KEYS[4], 'queued', 1)
  return 1
end
return 0
";

/// KEYS: due. ARGV: now ms, how many, lease end ms. The due ids, each leased until the lease end.
const LEASE: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[3], id) end
return ids
";

/// One new finding as the webhook receives it. `key` is what dedup is on: advisory, package, version, file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventFinding {
    pub key: String,
    pub id: String,
    pub aliases: Vec<String>,
    pub package: String,
    pub installed_version: String,
    pub fixed_version: Option<String>,
    pub severity: String,
    pub title: Option<String>,
    pub path: String,
}

/// The webhook's body.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub image_digest: String,
    pub reference: String,
    pub scan_id: String,
    pub db_digest: String,
    pub created_unix_ms: i64,
    pub findings: Vec<EventFinding>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub id: String,
    /// The JSON body, fixed when queued: every attempt sends (and signs) the same bytes.
    pub body: String,
    pub attempts: u32,
    pub last_error: String,
}

/// The key a finding is compared and announced by (the rescan delta's key).
pub fn finding_key(f: &Finding) -> String {
    format!("{} {}@{} {}", f.id, f.package, f.installed_version, f.path)
}

/// Every finding of `report`, by key.
pub fn findings_by_key(report: &Report) -> std::collections::BTreeMap<String, &Finding> {
    report.results.iter().flat_map(|r| &r.findings).map(|f| (finding_key(f), f)).collect()
}

/// `sha256(digest, sorted keys)`, hex, first 128 bits: the same image and findings, the same id.
pub fn event_id(image_digest: &str, keys: &BTreeSet<String>) -> String {
    let mut h = sha2::Sha256::new();
    h.update(image_digest.as_bytes());
    for k in keys {
        h.update([0u8]);
        h.update(k.as_bytes());
    }
    format!("evt_{}", hex::encode(&h.finalize()[..16]))
}

#[derive(Clone)]
pub struct Outbox {
    conn: ConnectionManager,
    prefix: String,
}

impl Outbox {
    pub async fn connect(client: &redis::Client, prefix: &str) -> Result<Outbox> {
        let conn = strata_fleet::redis_link::manager(client).await?;
        Ok(Outbox { conn, prefix: prefix.to_string() })
    }

    fn key(&self, what: &str) -> String {
        format!("{}:events:{what}", self.prefix)
    }

    /// The finding keys already announced for an image.
    pub async fn announced(&self, image_digest: &str) -> Result<BTreeSet<String>> {
        Ok(self.conn.clone().smembers(format!("{}:{}", self.prefix, announced_key(image_digest))).await?)
    }

    /// The commands that queue one event for the findings of `report` keyed in `delta` and not in
    /// `announced`; none when nothing is left to announce. The caller runs them in the report's MULTI.
    pub fn prepare(
        &self,
        scan: &strata_proto::v1::Scan,
        report: &Report,
        delta: &BTreeSet<String>,
        announced: &BTreeSet<String>,
    ) -> Vec<redis::Cmd> {
        let by_key = findings_by_key(report);
        let fresh: BTreeSet<String> =
            delta.iter().filter(|k| !announced.contains(*k) && by_key.contains_key(*k)).cloned().collect();
        if fresh.is_empty() || scan.image_digest.is_empty() {
            return Vec::new();
        }
        let event = Event {
            id: event_id(&scan.image_digest, &fresh),
            kind: "strata.new_findings".into(),
            image_digest: scan.image_digest.clone(),
            reference: scan.reference.clone(),
            scan_id: scan.id.clone(),
            db_digest: report.db.content_digest.clone(),
            created_unix_ms: now_ms(),
            findings: fresh.iter().filter_map(|k| by_key.get(k).map(|f| event_finding(k, f))).collect(),
        };
        vec![self.queue(&event)]
    }

    /// The command that queues `event` (unless an event of its id exists) and adds its findings to the
    /// image's announced set.
    pub fn queue(&self, event: &Event) -> redis::Cmd {
        let body = serde_json::to_string(event).unwrap_or_default();
        let entry = Entry { id: event.id.clone(), body, attempts: 0, last_error: String::new() };
        let json = serde_json::to_string(&entry).unwrap_or_default();
        let keys: Vec<&str> = event.findings.iter().map(|f| f.key.as_str()).collect();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(QUEUE)
            .arg(4)
            .arg(self.key(&format!("entry:{}", event.id)))
            .arg(self.key("due"))
            .arg(format!("{}:{}", self.prefix, announced_key(&event.image_digest)))
            .arg(self.key("stats"))
            .arg(json)
            .arg(&event.id)
            .arg(now_ms())
            .arg(keys);
        cmd
    }

    /// Leases up to `count` due events until `lease` from now; returns them (dropping ids without record).
    pub async fn lease(&self, count: usize, lease: Duration) -> Result<Vec<Entry>> {
        let now = now_ms();
        let ids: Vec<String> = redis::cmd("EVAL")
            .arg(LEASE)
            .arg(1)
            .arg(self.key("due"))
            .arg(now)
            .arg(count)
            .arg(now + lease.as_millis() as i64)
            .query_async(&mut self.conn.clone())
            .await?;
        let mut entries = Vec::with_capacity(ids.len());
        for id in ids {
            let json: Option<String> = self.conn.clone().get(self.key(&format!("entry:{id}"))).await?;
            match json.and_then(|j| serde_json::from_str::<Entry>(&j).ok()) {
                Some(entry) => entries.push(entry),
                None => {
                    tracing::warn!(event = %id, "a queued event has no readable record; dropping it");
                    let _: () = self.conn.clone().zrem(self.key("due"), &id).await?;
                }
            }
        }
        Ok(entries)
    }

    /// The receiver took it: off the queue; the record is kept a while.
    pub async fn delivered(&self, entry: &Entry) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .zrem(self.key("due"), &entry.id)
            .ignore()
            .expire(self.key(&format!("entry:{}", entry.id)), KEEP.as_secs() as i64)
            .ignore()
            .hincr(self.key("stats"), "delivered", 1)
            .ignore();
        let _: () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// A failed attempt: recorded, and due again at `next_ms` (unless another replica finished it since).
    pub async fn retry_at(&self, entry: &Entry, next_ms: i64) -> Result<()> {
        let json = serde_json::to_string(entry).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .set(self.key(&format!("entry:{}", entry.id)), json)
            .ignore()
            .cmd("ZADD")
            .arg(self.key("due"))
            .arg("XX")
            .arg(next_ms)
            .arg(&entry.id)
            .ignore()
            .hincr(self.key("stats"), "retries", 1)
            .ignore();
        let _: () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Gives a leased event back, due now (this replica stops mid-delivery: the next one need not wait out
    /// the lease).
    pub async fn release(&self, id: &str) -> Result<()> {
        let _: () = redis::cmd("ZADD")
            .arg(self.key("due"))
            .arg("XX")
            .arg(now_ms())
            .arg(id)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Out of attempts: off the queue, onto the dead-letter list, the record kept for inspection.
    pub async fn dead_letter(&self, entry: &Entry) -> Result<()> {
        let json = serde_json::to_string(entry).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .zrem(self.key("due"), &entry.id)
            .ignore()
            .set(self.key(&format!("entry:{}", entry.id)), json)
            .ignore()
            .rpush(self.key("dead"), &entry.id)
            .ignore()
            .hincr(self.key("stats"), "dead", 1)
            .ignore();
        let _: () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Undelivered events (due or leased) and dead letters.
    pub async fn depth(&self) -> Result<(u64, u64)> {
        let mut pipe = redis::pipe();
        pipe.zcard(self.key("due")).llen(self.key("dead"));
        Ok(pipe.query_async(&mut self.conn.clone()).await?)
    }
}

/// The announced set of an image, under the prefix: retention's prune removes it with the image record.
pub fn announced_key(image_digest: &str) -> String {
    format!("events:announced:{image_digest}")
}

fn event_finding(key: &str, f: &Finding) -> EventFinding {
    EventFinding {
        key: key.to_string(),
        id: f.id.clone(),
        aliases: f.aliases.clone(),
        package: f.package.clone(),
        installed_version: f.installed_version.clone(),
        fixed_version: f.fixed_version.clone(),
        severity: f.severity.to_string(),
        title: f.title.clone(),
        path: f.path.clone(),
    }
}
