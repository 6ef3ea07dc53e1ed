//! Layer analysis throughput against its anchor, plain decompression of the same blob with the same
//! decoder. Input: the real bullseye minbase root filesystem (`scripts/fixtures.sh`), gzip-compressed once at
//! the default level, as `docker push` does. Both run from memory so disk speed does not enter; times are
//! the thread's CPU time (`common::cpu_time`), steady on a shared machine.
//!
//! cargo bench -p strata-scanner --bench layer

mod common;

use std::io::{self, Read};

use common::cpu_time::ThreadCpuTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};

fn layer(c: &mut Criterion<ThreadCpuTime>) {
    let Some((blob, uncompressed)) = common::bullseye_gz() else { return };
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&blob)));
    let mut group = c.benchmark_group("bullseye-minbase layer (gzip)");
    group.sample_size(10).throughput(Throughput::Bytes(uncompressed));
    group.bench_function("anchor: gunzip to sink", |b| {
        b.iter(|| {
            let mut decoder = flate2::bufread::MultiGzDecoder::new(io::BufReader::with_capacity(256 * 1024, &blob[..]));
            io::copy(&mut decoder, &mut io::sink()).unwrap()
        })
    });
    group.bench_function("analyze_layer (hash + gunzip + tar + analysers)", |b| {
        b.iter(|| {
            let inventory = strata_scanner::layer::analyze_layer(&blob[..], &digest).unwrap();
            assert!(!inventory.files.is_empty());
            inventory
        })
    });
    group.finish();

    // The same with zstd, the other compression registries serve.
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(&blob[..]).read_to_end(&mut tar).unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let zdigest = format!("sha256:{}", hex::encode(Sha256::digest(&zst)));
    let mut group = c.benchmark_group("bullseye-minbase layer (zstd)");
    group.sample_size(10).throughput(Throughput::Bytes(uncompressed));
    group.bench_function("anchor: unzstd to sink", |b| {
        b.iter(|| io::copy(&mut zstd::Decoder::new(&zst[..]).unwrap(), &mut io::sink()).unwrap())
    });
    group.bench_function("analyze_layer (hash + unzstd + tar + analysers)", |b| {
        b.iter(|| strata_scanner::layer::analyze_layer(&zst[..], &zdigest).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = layer
}
criterion_main!(benches);
