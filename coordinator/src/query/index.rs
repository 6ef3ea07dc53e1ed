//! Writing and removing an image's index entries. Both are one Lua script each, so that superseding the
//! previous latest scan (removing its entries, adding the new ones) is atomic, and the write can sit in
//! the MULTI that marks the scan done.
//!
//! Keys, under the store's prefix and `q:`: `img:{reference}` a hash (`scan`, `created`, `meta` as
//! [`ImageMeta`], and `f:{advisory}` the image's [`IndexedFinding`]s of that advisory); `adv:{id}` (aliases
//! too) and `pkg:{name}` sets of `{reference}\t{field}`; `images` the set of indexed references;
//! `mk:{reference}` / `mm:{reference}` the (key, member) pairs the image was added to, which is what a
//! supersede or a prune removes.

use std::collections::{BTreeMap, BTreeSet};

use strata_proto::v1::Scan;
use strata_scanner::report::Report;

use super::{ImageMeta, IndexedFinding, IndexedLayer};
use crate::store::ScanStore;

/// Findings indexed per image at most: the engine bounds a report, this bounds the index whatever it says.
pub const MAX_FINDINGS: usize = 20_000;

/// ARGV: base, reference, scan id, created (ms), n, n (field, value) pairs, then (set key, member) pairs.
/// An older scan of the reference finishing after a newer one leaves the newer one indexed.
const INDEX: &str = r"
local q, ref, scan, created = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local img, mk, mm = q .. 'img:' .. ref, q .. 'mk:' .. ref, q .. 'mm:' .. ref
local old = redis.call('HMGET', img, 'scan', 'created')
if old[1] and old[1] ~= scan then
  local was = tonumber(old[2]) or 0
  if was > created or (was == created and old[1] > scan) then return 0 end
end
local keys = redis.call('LRANGE', mk, 0, -1)
local members = redis.call('LRANGE', mm, 0, -1)
for i = 1, #keys do redis.call('SREM', keys[i], members[i]) end
redis.call('DEL', img, mk, mm)
redis.call('HSET', img, 'scan', scan, 'created', ARGV[4])
local at = 6
for _ = 1, tonumber(ARGV[5]) do
  redis.call('HSET', img, ARGV[at], ARGV[at + 1])
  at = at + 2
end
while at < #ARGV do
  redis.call('SADD', ARGV[at], ARGV[at + 1])
  redis.call('RPUSH', mk, ARGV[at])
  redis.call('RPUSH', mm, ARGV[at + 1])
  at = at + 2
end
return 1
";

/// ARGV: base, reference, scan id, the scan record's key. Only once the record is gone (retention's
/// removal ran, and was not refused) and only when the reference's indexed scan is that one.
const UNINDEX: &str = r"
local q, ref, scan = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', ARGV[4]) == 1 then return 0 end
local img, mk, mm = q .. 'img:' .. ref, q .. 'mk:' .. ref, q .. 'mm:' .. ref
if redis.call('HGET', img, 'scan') ~= scan then return 0 end
local keys = redis.call('LRANGE', mk, 0, -1)
local members = redis.call('LRANGE', mm, 0, -1)
for i = 1, #keys do redis.call('SREM', keys[i], members[i]) end
redis.call('DEL', img, mk, mm)
return 1
";

/// The key all index keys start with.
pub fn base(store: &ScanStore) -> String {
    store.key("q:")
}

/// The field of an image's hash that holds its findings of `advisory`.
pub fn field(advisory: &str) -> String {
    format!("f:{advisory}")
}

/// The command that indexes `report` as `scan`'s, superseding the reference's previous latest scan.
pub fn prepare(store: &ScanStore, scan: &Scan, report: &Report) -> redis::Cmd {
    let base = base(store);
    let reference = scan.reference.as_str();
    let (mut meta, by_advisory, aliases) = entries(report);
    meta.scan_id.clone_from(&scan.id);
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(INDEX).arg(0).arg(&base).arg(reference).arg(&scan.id).arg(scan.created_unix_ms);
    cmd.arg(by_advisory.len() + 1);
    cmd.arg("meta").arg(serde_json::to_vec(&meta).unwrap_or_default());
    for (advisory, findings) in &by_advisory {
        cmd.arg(field(advisory)).arg(serde_json::to_vec(findings).unwrap_or_default());
    }
    cmd.arg(format!("{base}images")).arg(reference);
    for (advisory, findings) in &by_advisory {
        let member = format!("{reference}\t{}", field(advisory));
        cmd.arg(format!("{base}adv:{advisory}")).arg(&member);
        for alias in aliases.get(advisory).into_iter().flatten() {
            cmd.arg(format!("{base}adv:{alias}")).arg(&member);
        }
        let packages: BTreeSet<&str> = findings.iter().map(|f| f.package.as_str()).collect();
        for package in packages {
            cmd.arg(format!("{base}pkg:{package}")).arg(&member);
        }
    }
    cmd
}

/// The command that removes the index entries of `scan`, run after retention's removal of the scan.
pub fn unindex(store: &ScanStore, scan: &Scan) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(UNINDEX)
        .arg(0)
        .arg(base(store))
        .arg(&scan.reference)
        .arg(&scan.id)
        .arg(store.key(&format!("scan:{}", scan.id)));
    cmd
}

type Grouped = (ImageMeta, BTreeMap<String, Vec<IndexedFinding>>, BTreeMap<String, BTreeSet<String>>);

/// The image's index entries: its meta, its findings by advisory (one row per package, version and
/// layer), and each advisory's aliases.
pub fn entries(report: &Report) -> Grouped {
    let layers: Vec<IndexedLayer> = report
        .artifact
        .layers
        .iter()
        .map(|l| IndexedLayer { digest: l.diff_id.clone(), created_by: l.created_by.clone() })
        .collect();
    let mut fixable = vec![0u32; layers.len()];
    let mut by_advisory: BTreeMap<String, Vec<IndexedFinding>> = BTreeMap::new();
    let mut aliases: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut truncated = false;
    for result in &report.results {
        for f in &result.findings {
            // The same package found by two files of one layer is one finding for the fleet.
            if !seen.insert((&f.id, &f.package, &f.installed_version, f.layer.index)) {
                continue;
            }
            if seen.len() > MAX_FINDINGS {
                truncated = true;
                break;
            }
            if f.fixed_version.is_some()
                && let Some(n) = fixable.get_mut(f.layer.index)
            {
                *n += 1;
            }
            aliases.entry(f.id.clone()).or_default().extend(f.aliases.iter().filter(|a| **a != f.id).cloned());
            by_advisory.entry(f.id.clone()).or_default().push(IndexedFinding {
                package: f.package.clone(),
                version: f.installed_version.clone(),
                fixed: f.fixed_version.clone(),
                severity: f.severity.as_str().to_string(),
                ecosystem: result.ecosystem.clone(),
                layer: f.layer.index,
            });
        }
    }
    let meta = ImageMeta { scan_id: String::new(), layers, fixable, truncated };
    (meta, by_advisory, aliases)
}
