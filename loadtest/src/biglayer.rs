//! `strata-loadtest big-layer`: a worker's peak memory while it analyses one large real layer.
//!
//! The layer is real content: the debootstrapped bullseye root filesystem copied under several
//! directories (every dpkg database, ELF file and text file of it, as a fat multi-stage image has them),
//! plus two large files (all of the root filesystem's file bytes back to back, and real JavaScript), one
//! gzip member as `docker build` writes it. One worker analyses it; its `VmHWM` is the figure.

use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use strata_testkit::fleet::Bins;

use crate::night::{self, Ctx};
use crate::nights::{load_average, start_fleet};
use crate::procstat;
use crate::push::Registry;
use crate::sampler::Sampler;
use crate::services::Backends;

const MIB: u64 = 1024 * 1024;
const TARGET_MIB: f64 = 64.0;

/// Hashes what goes through it: the tar's sha256 is the config's `diff_id`.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn append(out: &mut tar::Builder<impl Write>, path: &str, data: &[u8]) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_704_067_200);
    header.set_entry_type(tar::EntryType::Regular);
    out.append_data(&mut header, path, data)?;
    Ok(())
}

/// Returns (gzip blob, diff_id, uncompressed bytes, copies of the root filesystem).
fn build(size_mib: u64) -> Result<(Vec<u8>, String, u64, usize)> {
    let rootfs = std::fs::read(strata_testkit::fixtures::bullseye_rootfs())?;
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut out = tar::Builder::new(Hashing { inner: gz, hash: Sha256::new(), bytes: 0 });
    // The two large files: an eighth of the layer each.
    let big = (size_mib * MIB / 8) as usize;
    let mut file_bytes = Vec::with_capacity(big);
    let mut archive = tar::Archive::new(&rootfs[..]);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if file_bytes.len() < big && entry.header().entry_type().is_file() {
            entry.read_to_end(&mut file_bytes)?;
        }
    }
    let real = file_bytes.clone();
    while file_bytes.len() < big {
        file_bytes.extend_from_slice(&real[..real.len().min(big - file_bytes.len())]);
    }
    file_bytes.truncate(big);
    append(&mut out, "srv/data/rootfs-files.bin", &file_bytes)?;
    drop(file_bytes);
    let npm = strata_testkit::fixtures::dir().join("npm-app/app/node_modules/lodash");
    let js: Vec<u8> = std::fs::read_dir(&npm)?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "js"))
        .flat_map(|e| std::fs::read(e.path()).unwrap_or_default())
        .collect();
    anyhow::ensure!(!js.is_empty(), "no JavaScript in {}", npm.display());
    let bundle: Vec<u8> = js.iter().copied().cycle().take(big).collect();
    append(&mut out, "srv/data/bundle.js", &bundle)?;
    drop(bundle);
    let mut copies = 0;
    while out.get_ref().bytes < size_mib * MIB {
        let mut archive = tar::Archive::new(&rootfs[..]);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let mut header = entry.header().clone();
            let path = format!("srv/copy{copies}/{}", entry.path()?.to_string_lossy().trim_start_matches("./"));
            let mut data = Vec::new();
            entry.read_to_end(&mut data)?;
            match entry.link_name()? {
                Some(target) => out.append_link(&mut header, &path, target)?,
                None => out.append_data(&mut header, &path, &data[..])?,
            }
        }
        copies += 1;
    }
    let hashing = out.into_inner()?;
    let diff_id = format!("sha256:{}", hex::encode(hashing.hash.finalize()));
    Ok((hashing.inner.finish()?, diff_id, hashing.bytes, copies))
}

#[derive(Debug, Serialize)]
pub struct BigLayerReport {
    pub command: String,
    pub load_average_before: String,
    pub layer_mib: f64,
    pub compressed_mib: f64,
    pub rootfs_copies: usize,
    pub scan_status: String,
    pub scan_seconds: f64,
    pub worker_cpu_seconds: f64,
    pub worker_rss_before_mib: f64,
    /// `VmHWM` of the worker over the scan.
    pub worker_peak_rss_mib: f64,
    pub target_mib: f64,
    pub within_target: bool,
}

pub fn run(bins: &Bins, size_mib: u64, command: String) -> Result<BigLayerReport> {
    let runtime = tokio::runtime::Runtime::new()?;
    let load_average_before = load_average();
    eprintln!("building a {size_mib} MiB layer…");
    let started = Instant::now();
    let (gz, diff_id, raw, copies) = build(size_mib)?;
    eprintln!("built in {:.1} s ({} MiB compressed); pushing…", started.elapsed().as_secs_f64(), gz.len() as u64 / MIB);
    let registry = strata_testkit::registry::TestRegistry::start();
    let client = Registry::new(&registry.host())?;
    let digest = crate::blob::sha256(&gz);
    let gz_len = gz.len();
    let reference =
        runtime.block_on(crate::push::push_single(&client, "load/big", "v1", &digest, &diff_id, gz.into()))?;
    let reference = format!("{}/{reference}", registry.host());
    let dir = tempfile::tempdir()?;
    let db = crate::simple_population::build_db(bins, dir.path())?;
    let backends = Backends::machine()?;
    let fleet = Mutex::new(start_fleet(bins, &db, 1, &backends));
    let sampler = Sampler::start(None, Duration::from_millis(200));
    let (url, prefix, worker) = {
        let mut f = fleet.lock().unwrap_or_else(|p| p.into_inner());
        sampler.set_procs(crate::faults::procs(&mut f));
        sampler.set_services(crate::faults::services(registry.pid(), &backends));
        (f.url(), f.prefix.clone(), f.pids().get("worker-0").copied().context("the worker is not running")?)
    };
    let before = procstat::sample(worker).map_or(0.0, |s| s.rss_kib as f64 / 1024.0);
    let ctx = Ctx {
        runtime: &runtime,
        sampler: &sampler,
        url,
        redis_url: backends.redis_url(),
        prefix,
        timeout: Duration::from_secs(1800),
    };
    let data = night::run(&ctx, &[reference], 1, None)?;
    let status = night::outcome(&data);
    let peak = data.window.worker_peak_rss_mib;
    Ok(BigLayerReport {
        command,
        load_average_before,
        layer_mib: raw as f64 / MIB as f64,
        compressed_mib: gz_len as f64 / MIB as f64,
        rootfs_copies: copies,
        scan_status: status.0.keys().chain(status.1.keys()).cloned().collect::<Vec<_>>().join(", "),
        scan_seconds: data.wall_seconds,
        worker_cpu_seconds: data.window.workers_cpu_seconds,
        worker_rss_before_mib: before,
        worker_peak_rss_mib: peak,
        target_mib: TARGET_MIB,
        within_target: peak <= TARGET_MIB,
    })
}

pub fn table(report: &BigLayerReport) -> String {
    format!(
        "| measurement | value |\n| --- | ---: |\n| layer (uncompressed / gzip) | {:.0} / {:.0} MiB ({} copies of the bullseye root filesystem + 2 large files) |\n| scan | {} in {:.1} s, worker CPU {:.1} s |\n| worker RSS before the scan | {:.1} MiB |\n| **worker peak RSS (VmHWM) during the scan** | **{:.1} MiB** (target ≤ {:.0} MiB: {}) |\n",
        report.layer_mib,
        report.compressed_mib,
        report.rootfs_copies,
        report.scan_status,
        report.scan_seconds,
        report.worker_cpu_seconds,
        report.worker_rss_before_mib,
        report.worker_peak_rss_mib,
        report.target_mib,
        if report.within_target { "met" } else { "missed" }
    )
}
