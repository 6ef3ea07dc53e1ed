//! Vulnerability DB timings on the shared OSV data set: build (target ≤ 5 s), load (≤ 100 ms) and matching
//! 1,000 installed packages (≤ 2 ms). Skips, saying so, when the data set is not present.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use strata_scanner::vulndb::{Event, VulnDb};

fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vulndb");
    dir.is_dir().then_some(dir)
}

/// A realistic image-sized query mix: mostly Debian 11 source packages (named in advisories, at a version
/// some advisory fixes, so later advisories still match), packages no advisory names, and language packages.
fn queries(db: &VulnDb) -> Vec<(String, String, String)> {
    let plan = [
        ("Debian:11", 450),
        ("Alpine:v3.17", 100),
        ("PyPI", 100),
        ("npm", 50),
        ("crates.io", 50),
        ("Go", 50),
        ("RubyGems", 50),
    ];
    let mut out = Vec::with_capacity(1000);
    for (eco, want) in plan {
        let mut seen = std::collections::HashSet::new();
        let taken = db
            .advisories()
            .iter()
            .flat_map(|a| &a.affected)
            .filter(|a| a.ecosystem == eco && seen.insert(a.name.clone()))
            .filter_map(|a| {
                let fixed = a.ranges.iter().flat_map(|r| &r.events).find_map(|e| match e {
                    Event::Fixed(v) => Some(v.clone()),
                    _ => None,
                })?;
                Some((eco.to_owned(), a.name.clone(), fixed))
            })
            .take(want);
        out.extend(taken);
    }
    let mut i = 0;
    while out.len() < 1000 {
        out.push(("Debian:11".to_owned(), format!("no-advisory-package-{i}"), "1.0-1".to_owned()));
        i += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let Some(dir) = shared_data() else {
        eprintln!("skipping the vulndb benches: ../shared/vulndb (the OSV data set) is not present");
        return;
    };
    let sources = vec![dir];
    let mut group = c.benchmark_group("vulndb");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("build_all_shared_data", |b| b.iter(|| VulnDb::build(black_box(&sources)).unwrap()));

    let db = VulnDb::build(&sources).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vuln.db");
    db.write(&path).unwrap();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!("DB: {} advisories, {size} bytes on disk", db.advisories().len());
    // Dropping the previous DB is not part of loading one.
    group.bench_function("load", |b| b.iter_with_large_drop(|| VulnDb::load(black_box(&path)).unwrap()));
    group.finish();

    let queries = queries(&db);
    let hits: usize = queries.iter().map(|(e, n, v)| db.matches(e, n, v).len()).sum();
    eprintln!("match mix: {} packages, {hits} matches", queries.len());
    c.bench_function("vulndb/match_1000_packages", |b| {
        b.iter(|| {
            let mut n = 0;
            for (eco, name, version) in &queries {
                n += db.matches(black_box(eco), black_box(name), black_box(version)).len();
            }
            n
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
