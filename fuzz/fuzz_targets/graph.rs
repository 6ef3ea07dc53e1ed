//! The dependency-path walk shared by the Python, Ruby and Rust analysers, on arbitrary graphs (cycles,
//! self-loops, unreachable nodes, many roots): bounded output, near-linear time.
#![no_main]
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use strata_scanner::analyze::graph::{MAX_PATHS, dependency_paths};

fuzz_target!(|data: &[u8]| {
    // Byte 0: node count; then pairs (from, to) as edges; a pair with from == to marks a root instead.
    let Some((&n, rest)) = data.split_first() else { return };
    let n = usize::from(n) + 1;
    let labels: Vec<String> = (0..n).map(|i| format!("p{i}@1.0.{i}")).collect();
    let mut edges = vec![Vec::new(); n];
    let mut roots = Vec::new();
    for pair in rest.chunks_exact(2) {
        let (from, to) = (usize::from(pair[0]) % n, usize::from(pair[1]) % n);
        if from == to && pair[0] >= 128 {
            roots.push(from);
        } else {
            edges[from].push(to);
        }
    }
    // Callers always name the nodes without incoming edges as roots.
    let mut has_parent = vec![false; n];
    for targets in &edges {
        for &t in targets {
            has_parent[t] = true;
        }
    }
    roots.extend((0..n).filter(|&i| !has_parent[i]));
    roots.sort_unstable();
    roots.dedup();
    let started = Instant::now();
    let paths = dependency_paths(&labels, &edges, &roots);
    assert_eq!(paths.len(), n);
    for node in &paths {
        assert!(node.paths.len() <= MAX_PATHS);
    }
    strata_fuzz::assert_slow(started, data.len());
});
