//! Layer analysis with the secret scan (every small text file read and prefiltered) against its anchor,
//! plain decompression of the same blob with the same decoder: the issue asks for at least 0.8 × the
//! anchor. Input as in `benches/layer.rs`: the real bullseye minbase root filesystem, gzip-compressed once at
//! the default level. Also the secret scan alone over every text file of that layer, for where time goes.
//!
//! cargo bench -p strata-scanner --bench secrets

mod common;

use std::io::{self, Read};

use common::cpu_time::ThreadCpuTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use strata_scanner::secret::{self, Scanner};

/// The text files of the layer that the walk would hand to the secret scan.
fn text_files(blob: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(blob));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if !entry.header().entry_type().is_file() || entry.size() > secret::SIZE_CAP {
            continue;
        }
        let path = entry.path().unwrap().display().to_string().trim_start_matches("./").to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if !secret::looks_binary(&bytes) && !Scanner::builtin().skips(&path) {
            out.push((path, bytes));
        }
    }
    out
}

fn secrets(c: &mut Criterion<ThreadCpuTime>) {
    let Some((blob, uncompressed)) = common::bullseye_gz() else { return };
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&blob)));
    let mut group = c.benchmark_group("bullseye-minbase layer with secrets (gzip)");
    group.sample_size(10).throughput(Throughput::Bytes(uncompressed));
    group.bench_function("anchor: gunzip to sink", |b| {
        b.iter(|| {
            let mut decoder = flate2::bufread::MultiGzDecoder::new(io::BufReader::with_capacity(256 * 1024, &blob[..]));
            io::copy(&mut decoder, &mut io::sink()).unwrap()
        })
    });
    group.bench_function("analyze_layer (hash + gunzip + tar + analysers + secrets)", |b| {
        b.iter(|| {
            let inventory = strata_scanner::layer::analyze_layer(&blob[..], &digest).unwrap();
            assert!(inventory.secrets.is_empty(), "a clean base has no secrets: {:?}", inventory.secrets);
            inventory
        })
    });
    group.finish();

    let files = text_files(&blob);
    let text_bytes: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
    let mut group = c.benchmark_group("bullseye-minbase text files");
    group.sample_size(10).throughput(Throughput::Bytes(text_bytes));
    group.bench_function(format!("secret scan of {} files", files.len()), |b| {
        b.iter(|| files.iter().map(|(p, bytes)| Scanner::builtin().scan(p, bytes).len()).sum::<usize>())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = secrets
}
criterion_main!(benches);
