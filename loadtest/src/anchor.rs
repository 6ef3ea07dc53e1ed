//! The anchor for night 1: plain decompression of the same layers (the decoder the worker uses, `flate2`
//! `MultiGzDecoder` on zlib-rs, into a sink), on one core, fetched from the same registry. Night 1's
//! analysed MiB per worker CPU second is compared with it.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::push::{LayerInfo, Registry};

#[derive(Debug, Clone, Serialize)]
pub struct Anchor {
    pub layers: usize,
    pub compressed_mib: f64,
    pub uncompressed_mib: f64,
    pub seconds: f64,
    /// Uncompressed MiB per second on one core.
    pub mib_per_second: f64,
}

/// Decompresses the largest layers (the bases first), then every `k`-th other one, up to `budget_mib`
/// of compressed input.
pub async fn measure(registry: &Registry, layers: &BTreeMap<String, LayerInfo>, budget_mib: f64) -> Result<Anchor> {
    let mut by_size: Vec<(&String, &LayerInfo)> = layers.iter().collect();
    by_size.sort_by_key(|(_, l)| std::cmp::Reverse(l.gz_len));
    let total: f64 = by_size.iter().map(|(_, l)| l.gz_len as f64).sum::<f64>() / 1_048_576.0;
    let step = (total / budget_mib).ceil().max(1.0) as usize;
    let mut picked: Vec<(&String, &LayerInfo)> = by_size.iter().take(4).copied().collect();
    picked.extend(by_size.iter().skip(4).step_by(step).copied());
    let mut blobs = Vec::new();
    let mut compressed = 0.0;
    for (digest, info) in picked {
        if compressed > budget_mib {
            break;
        }
        let blob = registry.get_blob(&info.repository, digest).await?;
        compressed += blob.len() as f64 / 1_048_576.0;
        blobs.push(blob);
    }
    let count = blobs.len();
    let (uncompressed, seconds) = tokio::task::spawn_blocking(move || -> Result<(u64, f64)> {
        let started = Instant::now();
        let mut uncompressed = 0u64;
        for blob in &blobs {
            uncompressed += std::io::copy(&mut flate2::read::MultiGzDecoder::new(&blob[..]), &mut std::io::sink())?;
        }
        Ok((uncompressed, started.elapsed().as_secs_f64()))
    })
    .await??;
    let uncompressed_mib = uncompressed as f64 / 1_048_576.0;
    Ok(Anchor {
        layers: count,
        compressed_mib: compressed,
        uncompressed_mib,
        seconds,
        mib_per_second: uncompressed_mib / seconds.max(1e-9),
    })
}
