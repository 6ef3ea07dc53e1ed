//! The two vulnerability DBs of the two nights, built with `strata db build` from real OSV data: all of
//! `../shared/vulndb` when the machine has it, else the committed subset of it (`testkit/fixtures/osv`:
//! the minbase image's Debian advisories and those of the npm and PyPI releases the apps use, so night 2's
//! additions still reach findings). Night 1's DB lacks 5 %
//! of the advisories (night 2 "adds" them) and has another 5 % without any severity (night 2 "changes"
//! them), picked by a hash of the advisory id — what a day of upstream updates looks like.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;
use strata_testkit::fleet::Bins;

#[derive(Debug, Clone, Serialize)]
pub struct Dbs {
    #[serde(skip)]
    pub night1: PathBuf,
    #[serde(skip)]
    pub night2: PathBuf,
    pub sources: Vec<String>,
    pub advisories: usize,
    pub added_in_night2: usize,
    pub changed_in_night2: usize,
}

fn sources() -> Vec<PathBuf> {
    let shared = strata_testkit::fixtures::shared_vulndb();
    let committed = strata_testkit::fixtures::repo_root().join("testkit/fixtures/osv");
    for dir in shared.iter().chain([&committed]) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
            .collect();
        files.sort();
        if !files.is_empty() {
            return files;
        }
    }
    Vec::new()
}

/// 0..100 from the advisory id: stable across runs and machines.
fn bucket(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)) % 100
}

fn strip_severity(record: &mut Value) {
    if let Some(map) = record.as_object_mut() {
        map.remove("severity");
        map.remove("database_specific");
    }
    for affected in record["affected"].as_array_mut().into_iter().flatten() {
        if let Some(map) = affected.as_object_mut() {
            map.remove("ecosystem_specific");
        }
    }
}

pub fn build(bins: &Bins, dir: &Path) -> Result<Dbs> {
    let (mut advisories, mut added, mut changed) = (0, 0, 0);
    let mut older = Vec::new();
    for (i, source) in sources().iter().enumerate() {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(source)?)
            .read_to_string(&mut text)
            .with_context(|| format!("reading {}", source.display()))?;
        let out = dir.join(format!("night1-{i}.jsonl.gz"));
        let mut writer = flate2::write::GzEncoder::new(std::fs::File::create(&out)?, flate2::Compression::fast());
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut record: Value = serde_json::from_str(line).with_context(|| format!("{}", source.display()))?;
            advisories += 1;
            match bucket(record["id"].as_str().unwrap_or_default()) {
                0..5 => {
                    added += 1;
                    continue;
                }
                5..10 => {
                    changed += 1;
                    strip_severity(&mut record);
                }
                _ => {}
            }
            writeln!(writer, "{record}")?;
        }
        writer.finish()?;
        older.push(out);
    }
    let night1 = db_build(bins, &older, &dir.join("night1.db"))?;
    let night2 = db_build(bins, &sources(), &dir.join("night2.db"))?;
    Ok(Dbs {
        night1,
        night2,
        sources: sources().iter().map(|p| p.display().to_string()).collect(),
        advisories,
        added_in_night2: added,
        changed_in_night2: changed,
    })
}

fn db_build(bins: &Bins, osv: &[PathBuf], out: &Path) -> Result<PathBuf> {
    let mut command = Command::new(&bins.strata);
    command.args(["db", "build", "--out"]).arg(out).arg("--osv").args(osv);
    let output = command.output().context("running strata db build")?;
    if !output.status.success() {
        bail!("strata db build: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(out.to_path_buf())
}

/// Puts `new` where the coordinator reads its DB, atomically (as `strata db update` does): the next
/// match loads it.
pub fn swap(new: &Path, live: &Path) -> Result<()> {
    let staged = live.with_extension("staged");
    std::fs::copy(new, &staged).with_context(|| format!("copying {}", new.display()))?;
    std::fs::rename(&staged, live).with_context(|| format!("replacing {}", live.display()))
}
