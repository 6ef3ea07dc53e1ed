//! Layer analysis of a layer of real executables against plain decompression of the same blob. Input: a
//! tar of Debian's Go programs (skopeo, docker-registry, umoci, as `scripts/demo.sh` installs them) plus
//! the Go and `cargo auditable` fixtures and Debian's C `tar`, gzip-compressed at the default level. Every
//! executable is streamed through the binary analyser (Go build info and function table, auditable data), so
//! this is its worst case per byte.
//!
//! cargo bench -p strata-scanner --bench binaries

mod common;

use std::io::{self, Read};
use std::path::PathBuf;

use common::cpu_time::ThreadCpuTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};

fn layer() -> Option<(Vec<u8>, u64)> {
    let fixtures = std::env::var_os("STRATA_FIXTURES").map(PathBuf::from).unwrap_or("/var/tmp/strata-fixtures".into());
    let inputs = [
        PathBuf::from("/usr/bin/skopeo"),
        PathBuf::from("/usr/bin/docker-registry"),
        PathBuf::from("/usr/bin/umoci"),
        PathBuf::from("/usr/bin/tar"),
        fixtures.join("binaries/goapp"),
        fixtures.join("binaries/rustapp"),
    ];
    let mut builder = tar::Builder::new(Vec::new());
    for path in &inputs {
        let Ok(data) = std::fs::read(path) else {
            eprintln!("{} missing (scripts/demo.sh and scripts/fixtures.sh provide it); skipping", path.display());
            return None;
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        let name = format!("usr/local/bin/{}", path.file_name()?.to_string_lossy());
        builder.append_data(&mut header, name, &data[..]).ok()?;
    }
    let tar = builder.into_inner().ok()?;
    let mut enc = flate2::read::GzEncoder::new(&tar[..], flate2::Compression::default());
    let mut gz = Vec::new();
    enc.read_to_end(&mut gz).ok()?;
    Some((gz, tar.len() as u64))
}

fn binaries(c: &mut Criterion<ThreadCpuTime>) {
    let Some((blob, uncompressed)) = layer() else { return };
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&blob)));
    let mut group = c.benchmark_group("Go and Rust executables layer (gzip)");
    group.sample_size(10).throughput(Throughput::Bytes(uncompressed));
    group.bench_function("anchor: gunzip to sink", |b| {
        b.iter(|| {
            let mut decoder = flate2::bufread::MultiGzDecoder::new(io::BufReader::with_capacity(256 * 1024, &blob[..]));
            io::copy(&mut decoder, &mut io::sink()).unwrap()
        })
    });
    group.bench_function("analyze_layer (hash + gunzip + tar + binary analyser)", |b| {
        b.iter(|| {
            let inventory = strata_scanner::layer::analyze_layer(&blob[..], &digest).unwrap();
            assert_eq!(inventory.files.len(), 5, "four Go programs and one auditable one");
            let go_symbols = inventory.files.values().any(|f| {
                matches!(f, strata_scanner::analyze::FileContent::Packages { packages, .. }
                    if packages.iter().any(|p| p.go_symbols.as_ref().is_some_and(|s| !s.is_empty())))
            });
            assert!(go_symbols, "the Go programs' function tables are read");
            inventory
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = binaries
}
criterion_main!(benches);
