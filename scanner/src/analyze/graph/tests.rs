use super::*;

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn chain_diamond_and_roots() {
    // requests 2.19.1's real dependencies, plus a second root that also needs urllib3.
    let l = labels(&["requests@2.19.1", "urllib3@1.23", "idna@2.7", "botocore@1.10.0", "six@1.16.0"]);
    let e = vec![vec![1, 2], vec![], vec![], vec![1, 4], vec![]];
    let got = dependency_paths(&l, &e, &[0, 3]);
    assert_eq!(got[0], NodePaths::default());
    assert_eq!(got[1].paths, ["botocore@1.10.0 › urllib3@1.23", "requests@2.19.1 › urllib3@1.23"]);
    assert_eq!(got[2].paths, ["requests@2.19.1 › idna@2.7"]);
    assert_eq!(got[4].paths, ["botocore@1.10.0 › six@1.16.0"]);
}

#[test]
fn cycles_are_broken_and_orphan_cycles_adopted() {
    let l = labels(&["a@1", "b@1", "c@1", "x@1", "y@1"]);
    // a → b → c → b (cycle under a root); x ↔ y (nobody's dependency).
    let e = vec![vec![1], vec![2], vec![1], vec![4], vec![3]];
    let got = dependency_paths(&l, &e, &[0]);
    assert_eq!(got[2].paths, ["a@1 › b@1 › c@1"]);
    assert_eq!(got[3], NodePaths::default(), "adopted as a root");
    assert_eq!(got[4].paths, ["x@1 › y@1"]);
}

#[test]
fn many_paths_are_capped_and_counted() {
    // A ladder of 30 rungs has 2^30 paths to its bottom; only MAX_PATHS are built.
    let rungs = 30;
    let mut l = vec!["root@1".to_string()];
    let mut e: Vec<Vec<usize>> = vec![vec![1, 2]];
    for i in 0..rungs {
        l.push(format!("l{i}@1"));
        l.push(format!("r{i}@1"));
        let next = if i + 1 < rungs { vec![2 * i + 3, 2 * i + 4] } else { vec![2 * rungs + 1] };
        e.push(next.clone());
        e.push(next);
    }
    l.push("bottom@1".into());
    e.push(vec![]);
    let got = dependency_paths(&l, &e, &[0]);
    let bottom = &got[2 * rungs + 1];
    assert_eq!(bottom.paths.len(), MAX_PATHS);
    assert_eq!(u64::from(bottom.cut), (1u64 << 30) - MAX_PATHS as u64);
}

fn app(label: &str) -> Graph {
    let mut g = Graph::new();
    let root = g.add_node(label.into());
    g.add_root(root);
    g
}

#[test]
fn diamond_cycle_and_dev() {
    // acme → a → c, acme → b → c, c → a (cycle), acme →(dev) d → c
    let mut g = app("acme@1");
    let [a, b, c, d] = ["a@1", "b@1", "c@1", "d@1"].map(|l| g.add_node(l.into()));
    g.add_edge(0, a, false);
    g.add_edge(0, b, false);
    g.add_edge(0, d, true);
    g.add_edge(a, c, false);
    g.add_edge(b, c, false);
    g.add_edge(c, a, false);
    g.add_edge(d, c, false);
    let w = g.walk(Order::Lexical, Unreached::Ignore);
    assert_eq!(w.paths[c], ["acme@1 › a@1 › c@1", "acme@1 › b@1 › c@1", "acme@1 › d@1 › c@1"]);
    assert_eq!((w.counts[c], w.cut(c)), (3, 0));
    assert!(w.prod[c] && !w.prod[d]);
    assert!(w.paths[0].is_empty());
}

#[test]
fn exponential_diamonds_are_counted_not_enumerated() {
    // 64 layers of two-way diamonds: 2^64 paths to the bottom.
    let mut g = app("");
    let mut prev = 0;
    for i in 0..64 {
        let (l, r, j) = (g.add_node(format!("l{i}@1")), g.add_node(format!("r{i}@1")), g.add_node(format!("j{i}@1")));
        for (from, to) in [(prev, l), (prev, r), (l, j), (r, j)] {
            g.add_edge(from, to, false);
        }
        prev = j;
    }
    let w = g.walk(Order::Lexical, Unreached::Ignore);
    assert_eq!(w.counts[prev], u64::MAX, "saturates");
    assert_eq!(w.paths[prev].len(), MAX_PATHS);
    assert_eq!(w.cut(prev), u32::MAX);
    assert!(w.paths[1][0] == "l0@1", "an unnamed root is left out: {:?}", w.paths[1]);
    assert!(w.paths[prev].iter().all(|p| p.split(SEPARATOR).count() <= MAX_SHOWN + 1), "{:?}", w.paths[prev]);
}

/// The same edge twice is one edge; production wins over development.
#[test]
fn duplicate_edges_merge() {
    let mut g = app("acme@1");
    let a = g.add_node("a@1".into());
    g.add_edge(0, a, true);
    g.add_edge(0, a, false);
    g.add_edge(0, a, true);
    let w = g.walk(Order::Lexical, Unreached::Ignore);
    assert_eq!((w.counts[a], w.paths[a].len()), (1, 1));
    assert!(w.prod[a]);
}

/// A 15,000-package chain: every path shows its root, `…` and the packages nearest the node, so output
/// is linear in the chain (on main, the last package's path alone named all 15,000).
#[test]
fn a_long_chain_gives_short_paths() {
    let n = 15_000;
    let mut g = app("app@1");
    let mut prev = 0;
    for i in 0..n {
        let node = g.add_node(format!("pkg-{i}@1.0.0"));
        g.add_edge(prev, node, false);
        prev = node;
    }
    let w = g.walk(Order::Lexical, Unreached::Ignore);
    let last = &w.paths[prev];
    assert_eq!(last.len(), 1);
    let shown: Vec<&str> = last[0].split(SEPARATOR).collect();
    assert_eq!(shown.len(), MAX_SHOWN + 1, "{}", last[0]);
    assert_eq!(shown[0], "app@1");
    assert_eq!(shown[1], ELIDED);
    assert_eq!(shown[MAX_SHOWN], format!("pkg-{}@1.0.0", n - 1));
    assert_eq!(shown[MAX_SHOWN - 1], format!("pkg-{}@1.0.0", n - 2));
    // Short paths are whole.
    assert_eq!(w.paths[2], ["app@1 › pkg-0@1.0.0 › pkg-1@1.0.0"]);
    let bytes: usize = w.paths.iter().flatten().map(String::len).sum();
    assert!(bytes < n * 300, "{bytes} bytes of paths");
}

/// Long labels are cut, and a graph's paths stop at the total byte cap; counts stay exact.
#[test]
fn labels_and_total_bytes_are_capped() {
    let mut g = app("app@1");
    let huge = "x".repeat(10_000);
    let a = g.add_node(format!("{huge}@1"));
    g.add_edge(0, a, false);
    let w = g.walk(Order::Lexical, Unreached::Ignore);
    assert!(w.paths[a][0].len() < MAX_LABEL_BYTES + 20, "{}", w.paths[a][0].len());

    // 15,000 packages each reached through 10 parents with long labels: over MAX_TOTAL_BYTES of paths.
    let mut g = app("app@1");
    let long = |i: usize| format!("{}-{i}@1", "p".repeat(MAX_LABEL_BYTES - 12));
    let parents: Vec<usize> = (0..10).map(|i| g.add_node(long(i))).collect();
    for &p in &parents {
        g.add_edge(0, p, false);
    }
    let leaves: Vec<usize> = (10..15_010).map(|i| g.add_node(long(i))).collect();
    for &leaf in &leaves {
        for &p in &parents {
            g.add_edge(p, leaf, false);
        }
    }
    let w = g.walk(Order::Lexical, Unreached::Ignore);
    let bytes: usize = w.paths.iter().flatten().map(String::len).sum();
    assert!(bytes <= MAX_TOTAL_BYTES, "{bytes}");
    assert!(leaves.iter().any(|&l| w.paths[l].is_empty()), "the cap was reached");
    assert!(leaves.iter().all(|&l| w.counts[l] == 10));
}

#[test]
fn concatenations_compare_like_strings() {
    let cases: [(&[&str], &[&str]); 5] = [
        (&["ab", "c"], &["a", "bc"]),
        (&["a", "", "b"], &["ab"]),
        (&["a › b"], &["a", " › ", "bc"]),
        (&["", "z"], &["y", "zz"]),
        (&[], &["a"]),
    ];
    for (a, b) in cases {
        assert_eq!(cmp_concatenated(a, b), a.concat().cmp(&b.concat()), "{a:?} {b:?}");
        assert_eq!(cmp_concatenated(b, a), b.concat().cmp(&a.concat()), "{a:?} {b:?}");
    }
}

/// A million edges from the root: merged and walked in linear time (quadratic on main), within the test
/// harness's hang guard.
#[test]
fn a_million_edges_are_linear() {
    let mut g = app("app@1");
    let nodes: Vec<usize> = (0..100_000).map(|i| g.add_node(format!("p{i}@1"))).collect();
    for _ in 0..10 {
        for &v in &nodes {
            g.add_edge(0, v, false);
        }
    }
    let w = g.walk(Order::Lexical, Unreached::Ignore);
    assert!(nodes.iter().all(|&v| w.counts[v] == 1 && w.paths[v].len() == 1));
}
