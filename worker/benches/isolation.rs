//! The cost of analysing a layer in a pooled child process ([`strata_worker::Isolation`]) against analysing
//! it in process, on a 0.25 MiB gzip layer (the mean compressed layer of the loadtest population) and on an
//! empty one (the pure round trip: request, blob, answer). Wall time: the child's work is not this thread's
//! CPU. A fresh child per job (the design before the pool) cost ~280 ms a job in a dev build.
//!
//! cargo bench -p strata-worker --bench isolation

use std::io::Write;

use criterion::{Criterion, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use strata_worker::Isolation;

/// A gzip layer of `bytes` of incompressible data in one file (nothing for the analysers but the secret
/// scan's binary check), and its digest.
fn layer(bytes: usize) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    let data: Vec<u8> = (0..bytes as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "srv/data.bin", &data[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let blob = gz.finish().unwrap();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&blob)));
    (blob, digest)
}

fn isolation(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let child = Isolation::new(env!("CARGO_BIN_EXE_strata-worker").into(), Some(2048 << 20));
    for (name, bytes) in [("empty layer", 0), ("0.25 MiB layer", 256 * 1024)] {
        let (blob, digest) = layer(bytes);
        let mut group = c.benchmark_group(name);
        group.sample_size(30);
        group.bench_function("in process", |b| {
            b.iter(|| strata_scanner::layer::analyze_layer(&blob[..], &digest).unwrap())
        });
        // Warm: the pool's child is started by the first iteration and serves all the others.
        group.bench_function("pooled child", |b| {
            b.iter(|| {
                let reader = Box::new(std::io::Cursor::new(blob.clone()));
                runtime.block_on(child.analyse(reader, &digest, blob.len() as u64)).unwrap()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, isolation);
criterion_main!(benches);
