//! One retention pass over the `scans` index, oldest first, in batches: never `KEYS`, never the whole
//! keyspace in one reply. Only scans created before the cutoff can be old enough (a scan's last update
//! is never before its creation), so the pass reads `ZRANGEBYSCORE scans -inf cutoff` page by page.
//!
//! A scan goes in one script that first checks its record is unchanged since the pass read it (a rescan
//! or a cancel in between keeps it) and that it is not active; it removes the record, the report, its
//! index entries, and the image record and policy document when no other scan uses them; then the fleet
//! query index's entries of the scan ([`crate::query::index::unindex`]).

use prost::Message;
use strata_proto::status::is_terminal;
use strata_proto::v1::{Scan, ScanStatus};
use tracing::warn;

use super::RetentionSettings;
use crate::error::Result;
use crate::store::ScanStore;

/// Scans read per round trip.
const BATCH: usize = 500;
/// Scans one pass removes at most; the next pass continues (a first pass over a year of scans is not
/// one long stretch of Redis work).
const MAX_PER_PASS: u64 = 100_000;
/// Set once every scan recorded before the indexes existed has been added to them.
const INDEXED: &str = "retention:indexed";

/// What a pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Scan ids read from the index.
    pub examined: u64,
    /// Scans removed (with their reports).
    pub scans: u64,
    /// Image records removed (their last scan went).
    pub images: u64,
    /// Policy documents removed (their last scan went).
    pub policies: u64,
    /// Index entries without a record, dropped.
    pub orphans: u64,
    /// `false`: the pass stopped at its bound; older scans remain for the next one.
    pub complete: bool,
}

/// KEYS: scan, report, scans, scans:active, done:{repo}, refs:image:{d}, image:{d}, refs:policy:{p},
/// policy:{p}, events:announced:{d} (what was announced of the image goes with its record). ARGV: the record as read, the id, "1" when the scan has an image digest, "1" when a policy.
const REMOVE: &str = r"
local id = ARGV[2]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, 0, 0} end
if redis.call('SISMEMBER', KEYS[4], id) == 1 then return {0, 0, 0} end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[5], id)
local image, policy = 0, 0
if ARGV[3] == '1' then
  redis.call('SREM', KEYS[6], id)
  if redis.call('SCARD', KEYS[6]) == 0 then
    image = redis.call('DEL', KEYS[7])
    redis.call('DEL', KEYS[10])
  end
end
if ARGV[4] == '1' then
  redis.call('SREM', KEYS[8], id)
  if redis.call('SCARD', KEYS[8]) == 0 then policy = redis.call('DEL', KEYS[9]) end
end
return {1, image, policy}
";

/// Runs one pass as of `now_ms` (Unix milliseconds).
pub async fn prune(store: &ScanStore, settings: &RetentionSettings, now_ms: i64) -> Result<Pass> {
    let mut pass = Pass::default();
    let Some(cutoff) = settings.cutoff_ms(now_ms) else {
        pass.complete = true;
        return Ok(pass);
    };
    backfill(store).await?;
    let mut conn = store.conn();
    let mut offset = 0usize;
    loop {
        let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(store.key("scans"))
            .arg("-inf")
            .arg(cutoff)
            .arg("LIMIT")
            .arg(offset)
            .arg(BATCH)
            .query_async(&mut conn)
            .await?;
        let read = ids.len();
        let removed = batch(store, settings, cutoff, ids, &mut pass).await?;
        // What was removed left the index, so the next page starts after what was kept.
        offset += read - removed;
        if read < BATCH {
            pass.complete = true;
            return Ok(pass);
        }
        if pass.scans >= MAX_PER_PASS {
            return Ok(pass);
        }
    }
}

/// Decides and removes one page of candidates; returns how many left the `scans` index.
async fn batch(
    store: &ScanStore,
    settings: &RetentionSettings,
    cutoff: i64,
    ids: Vec<String>,
    pass: &mut Pass,
) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    pass.examined += ids.len() as u64;
    let mut conn = store.conn();
    let keys: Vec<String> = ids.iter().map(|id| store.key(&format!("scan:{id}"))).collect();
    let records: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
    let active: Vec<bool> =
        redis::cmd("SMISMEMBER").arg(store.key("scans:active")).arg(&ids).query_async(&mut conn).await?;

    let mut orphans = Vec::new();
    let mut old = Vec::new();
    for ((id, record), active) in ids.into_iter().zip(records).zip(active) {
        let Some(bytes) = record else {
            orphans.push(id);
            continue;
        };
        let scan = match Scan::decode(&bytes[..]) {
            Ok(scan) => scan,
            Err(e) => {
                warn!(scan = %id, error = %e, "retention: an undecodable scan record is kept");
                continue;
            }
        };
        if !active && is_terminal(scan.status) && scan.updated_unix_ms < cutoff {
            old.push((scan, bytes));
        }
    }
    let removable = without_latest(store, settings, old).await?;

    if orphans.is_empty() && removable.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    for id in &orphans {
        pipe.zrem(store.key("scans"), id).ignore().del(store.key(&format!("report:{id}"))).ignore();
    }
    for (scan, bytes) in &removable {
        pipe.add_command(remove(store, scan, bytes));
        // After the removal, which it checks happened: the image's query index entries go with its scan.
        pipe.add_command(crate::query::index::unindex(store, scan)).ignore();
    }
    let outcomes: Vec<(i64, i64, i64)> = pipe.query_async(&mut conn).await?;
    pass.orphans += orphans.len() as u64;
    let mut removed = orphans.len();
    for (scan, image, policy) in outcomes {
        removed += scan as usize;
        pass.scans += scan as u64;
        pass.images += image as u64;
        pass.policies += policy as u64;
    }
    Ok(removed)
}

/// Drops from `old` the done scans among the latest `settings.latest` of their repository.
async fn without_latest(
    store: &ScanStore,
    settings: &RetentionSettings,
    old: Vec<(Scan, Vec<u8>)>,
) -> Result<Vec<(Scan, Vec<u8>)>> {
    let done = |scan: &Scan| scan.status == ScanStatus::Done as i32;
    if settings.latest == 0 || !old.iter().any(|(scan, _)| done(scan)) {
        return Ok(old);
    }
    let mut pipe = redis::pipe();
    for (scan, _) in old.iter().filter(|(scan, _)| done(scan)) {
        let key = repository_key(store, scan);
        // A done scan missing from its repository's index (written before it existed) is added first, so
        // its rank is counted among the others'.
        pipe.cmd("ZADD").arg(&key).arg("NX").arg(scan.updated_unix_ms).arg(&scan.id).ignore();
        pipe.zrevrank(&key, &scan.id);
    }
    let ranks: Vec<Option<u64>> = pipe.query_async(&mut store.conn()).await?;
    let mut ranks = ranks.into_iter();
    Ok(old
        .into_iter()
        .filter(|(scan, _)| {
            !done(scan) || ranks.next().flatten().is_some_and(|rank| rank >= u64::from(settings.latest))
        })
        .collect())
}

fn repository_key(store: &ScanStore, scan: &Scan) -> String {
    store.key(&format!("done:{}", strata_registry::repository_of(&scan.reference)))
}

fn remove(store: &ScanStore, scan: &Scan, bytes: &[u8]) -> redis::Cmd {
    let policy = scan.options.as_ref().map_or("", |o| o.policy_digest.as_str());
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(REMOVE)
        .arg(10)
        .arg(store.key(&format!("scan:{}", scan.id)))
        .arg(store.key(&format!("report:{}", scan.id)))
        .arg(store.key("scans"))
        .arg(store.key("scans:active"))
        .arg(repository_key(store, scan))
        .arg(store.key(&format!("refs:image:{}", scan.image_digest)))
        .arg(store.key(&format!("image:{}", scan.image_digest)))
        .arg(store.key(&format!("refs:policy:{policy}")))
        .arg(store.key(&format!("policy:{policy}")))
        .arg(store.key(&crate::events::outbox::announced_key(&scan.image_digest)))
        .arg(bytes)
        .arg(&scan.id)
        .arg(if scan.image_digest.is_empty() { "0" } else { "1" })
        .arg(if policy.is_empty() { "0" } else { "1" });
    cmd
}

/// Adds every scan recorded before retention's indexes existed to them, once (a marker says it is done).
/// Idempotent, so a replica that dies half way leaves the next pass to start again.
async fn backfill(store: &ScanStore) -> Result<()> {
    let mut conn = store.conn();
    let marker = store.key(INDEXED);
    let done: bool = redis::cmd("EXISTS").arg(&marker).query_async(&mut conn).await?;
    if done {
        return Ok(());
    }
    let mut start = 0usize;
    loop {
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(store.key("scans"))
            .arg(start)
            .arg(start + BATCH - 1)
            .query_async(&mut conn)
            .await?;
        if ids.is_empty() {
            break;
        }
        let mut pipe = redis::pipe();
        for scan in store.get_many(&ids).await? {
            store.index(&mut pipe, &scan);
        }
        let _: () = pipe.query_async(&mut conn).await?;
        start += ids.len();
    }
    let _: () = redis::cmd("SET").arg(&marker).arg(crate::runner::now_ms()).query_async(&mut conn).await?;
    Ok(())
}
