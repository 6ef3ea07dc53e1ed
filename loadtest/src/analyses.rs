//! How many times each layer was analysed: the workers' own counters in Redis (`analyses:v{N}:{digest}`,
//! one increment per analysis), read before and after a night. They survive worker restarts, so "no
//! unchanged layer was analysed again" is checked layer by layer, not inferred from totals.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

pub type Counts = BTreeMap<String, u64>;

pub fn read(redis_url: &str, prefix: &str) -> Result<Counts> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_connection().context("connecting to Redis for the layer counters")?;
    let pattern = format!("{prefix}:analyses:*");
    let keys: Vec<String> = redis::Commands::scan_match::<_, String>(&mut conn, &pattern)?.collect::<Result<_, _>>()?;
    let mut counts = Counts::new();
    for chunk in keys.chunks(1000) {
        let values: Vec<Option<u64>> = redis::cmd("MGET").arg(chunk).query(&mut conn)?;
        for (key, value) in chunk.iter().zip(values) {
            let digest = key.rsplit_once(":sha256:").map_or_else(|| key.clone(), |(_, hex)| format!("sha256:{hex}"));
            counts.insert(digest, value.unwrap_or(0));
        }
    }
    Ok(counts)
}

/// Analyses between two reads, per layer.
pub fn delta(before: &Counts, after: &Counts) -> Counts {
    after
        .iter()
        .filter_map(|(digest, &n)| {
            let grew = n.saturating_sub(before.get(digest).copied().unwrap_or(0));
            (grew > 0).then(|| (digest.clone(), grew))
        })
        .collect()
}
