//! Layer analysis of real `node_modules` layers against plain decompression of the same blob (the issue's
//! target: at least 0.85 × the anchor). Inputs from `scripts/fixtures.d/npm.sh`: the test app (48 packages,
//! lockfile, 2 MB gzip) and the machine's global `node_modules` (npm itself, ~185 package manifests).
//! Both run from memory so disk speed does not enter; times are the thread's CPU time
//! (`common::cpu_time`), what a worker core pays, steady on a shared machine.
//!
//! cargo bench -p strata-scanner --bench npm

mod common;

use std::io::{self, Read};
use std::path::PathBuf;

use common::cpu_time::ThreadCpuTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};

fn fixture(name: &str) -> Option<(Vec<u8>, u64)> {
    let dir =
        std::env::var_os("STRATA_FIXTURES").map_or_else(|| PathBuf::from("/var/tmp/strata-fixtures"), PathBuf::from);
    let path = dir.join("npm-app").join(name);
    let Ok(blob) = std::fs::read(&path) else {
        eprintln!("{} missing: run scripts/fixtures.sh; skipping", path.display());
        return None;
    };
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(&blob[..]).read_to_end(&mut tar).ok()?;
    Some((blob, tar.len() as u64))
}

fn npm_layers(c: &mut Criterion<ThreadCpuTime>) {
    for name in ["global-node_modules.tar.gz", "node_modules.tar.gz"] {
        let Some((blob, uncompressed)) = fixture(name) else { continue };
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&blob)));
        let mut group = c.benchmark_group(format!("npm layer {name}"));
        group.sample_size(20).throughput(Throughput::Bytes(uncompressed));
        group.bench_function("anchor: gunzip to sink", |b| {
            b.iter(|| {
                let mut decoder =
                    flate2::bufread::MultiGzDecoder::new(io::BufReader::with_capacity(256 * 1024, &blob[..]));
                io::copy(&mut decoder, &mut io::sink()).unwrap()
            })
        });
        // The same inflate asked for 128 KiB at a time (io::copy asks for 8 KiB): the stricter anchor.
        group.bench_function("anchor: gunzip in 128 KiB reads", |b| {
            let mut out = vec![0u8; 128 * 1024];
            b.iter(|| {
                let mut decoder =
                    flate2::bufread::MultiGzDecoder::new(io::BufReader::with_capacity(256 * 1024, &blob[..]));
                let mut total = 0;
                while let n @ 1.. = decoder.read(&mut out).unwrap() {
                    total += n;
                }
                total
            })
        });
        group.bench_function("analyze_layer (hash + gunzip + tar + npm analysis)", |b| {
            b.iter(|| {
                let inventory = strata_scanner::layer::analyze_layer(&blob[..], &digest).unwrap();
                assert!(inventory.files.len() > 40, "the package manifests were analysed");
                inventory
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = npm_layers
}
criterion_main!(benches);
