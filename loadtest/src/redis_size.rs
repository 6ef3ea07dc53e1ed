//! What the run left in Redis, by key family: `MEMORY USAGE … SAMPLES 0` (exact, overhead included) of
//! every key under the run's prefix, read with `SCAN` after the last night. docs/operations.md derives
//! the bytes per scanned image and per retained scan from it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Family {
    pub keys: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RedisSize {
    /// Distinct images scanned (image records).
    pub images: u64,
    /// Scan records (one per image per night).
    pub scans: u64,
    pub total_bytes: u64,
    /// By family: the key's first segment after the prefix (two for `refs:*`, `done:*`'s is its own).
    pub families: BTreeMap<String, Family>,
}

impl RedisSize {
    fn bytes(&self, family: &str) -> u64 {
        self.families.get(family).map_or(0, |f| f.bytes)
    }

    /// A scan record with its report and its index entries (bytes per scan kept).
    pub fn per_scan(&self) -> f64 {
        let scan =
            ["scan", "report", "scans", "done", "refs:image", "refs:policy"].iter().map(|f| self.bytes(f)).sum::<u64>();
        scan as f64 / self.scans.max(1) as f64
    }

    /// What an image costs however many of its scans are kept: its image record and layer results.
    pub fn per_image(&self) -> f64 {
        let image: u64 = ["image", "layer", "analyses"].iter().map(|f| self.bytes(f)).sum();
        image as f64 / self.images.max(1) as f64
    }

    pub fn table(&self) -> String {
        let mut out = String::from("\nRedis after the run (MEMORY USAGE by key family):\n");
        for (name, family) in &self.families {
            let _ = writeln!(out, "  {name:<14} {:>8} keys {:>14} bytes", family.keys, family.bytes);
        }
        let _ = writeln!(
            out,
            "  total {} bytes; {} images, {} scans: {:.0} bytes per kept scan, {:.0} bytes per image besides",
            self.total_bytes,
            self.images,
            self.scans,
            self.per_scan(),
            self.per_image()
        );
        out
    }
}

fn family(key: &str) -> String {
    let mut parts = key.splitn(3, ':');
    match (parts.next(), parts.next()) {
        (Some("refs"), Some(kind)) => format!("refs:{kind}"),
        (Some(first), _) => first.to_string(),
        _ => String::new(),
    }
}

pub fn measure(redis_url: &str, prefix: &str) -> Result<RedisSize> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_connection().context("connecting to Redis to size the run's keys")?;
    let keys: Vec<String> =
        redis::Commands::scan_match::<_, String>(&mut conn, format!("{prefix}:*"))?.collect::<Result<_, _>>()?;
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for chunk in keys.chunks(1000) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("MEMORY").arg("USAGE").arg(key).arg("SAMPLES").arg(0);
        }
        let sizes: Vec<Option<u64>> = pipe.query(&mut conn).context("MEMORY USAGE")?;
        for (key, size) in chunk.iter().zip(sizes) {
            let entry = families.entry(family(&key[prefix.len() + 1..])).or_default();
            entry.keys += 1;
            entry.bytes += size.unwrap_or(0);
        }
    }
    let scans = families.get("scan").map_or(0, |f| f.keys);
    let images = families.get("image").map_or(0, |f| f.keys);
    let total_bytes = families.values().map(|f| f.bytes).sum();
    Ok(RedisSize { images, scans, total_bytes, families })
}

#[cfg(test)]
mod tests {
    #[test]
    fn families() {
        assert_eq!(super::family("scan:1"), "scan");
        assert_eq!(super::family("layer:v3:sha256:ab"), "layer");
        assert_eq!(super::family("refs:image:sha256:ab"), "refs:image");
        assert_eq!(super::family("done:127.0.0.1:5000/app"), "done");
        assert_eq!(super::family("scans"), "scans");
    }
}
