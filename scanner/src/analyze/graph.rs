//! Dependency paths through a package graph, `npm ls` style (`acme@1.0.0 › requests@2.19.1 › urllib3@1.23`),
//! shared by the Python, Ruby and Rust analysers.
//!
//! The number of distinct paths grows exponentially with the graph's depth, so paths are never enumerated:
//! each node keeps at most [`MAX_PATHS`] of them and a saturating count of all of them, both computed in one
//! pass in topological order. Cycles (real: `sphinx` ↔ `sphinxcontrib-*` in older releases) are broken by
//! dropping the edges that close them, as found by a depth-first walk from the roots.

/// The most paths kept per package; the rest are counted in `dependency_paths_cut`.
pub const MAX_PATHS: usize = 10;

const SEPARATOR: &str = " › ";

/// The paths of one node: those kept, and how many more exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePaths {
    pub paths: Vec<String>,
    pub cut: u32,
}

/// Paths from `roots` to every node. `labels[i]` is node i as a path shows it (`name@version`); `edges[i]`
/// the nodes i depends on. A root's own result is empty (nothing leads to it); nodes that no root reaches
/// and that sit on a cycle are adopted as roots themselves, lowest index first, so that every node gets a
/// place. Nodes that are unreachable for another reason cannot exist: a node with no incoming edge is a
/// root in every caller.
pub fn dependency_paths(labels: &[String], edges: &[Vec<usize>], roots: &[usize]) -> Vec<NodePaths> {
    let n = labels.len();
    let (order, dag_edges, roots) = topological(n, edges, roots);
    let mut prefixes: Vec<Vec<String>> = vec![Vec::new(); n];
    let mut counts: Vec<u64> = vec![0; n];
    let mut is_root = vec![false; n];
    for &r in &roots {
        is_root[r] = true;
        prefixes[r] = vec![labels[r].clone()];
        counts[r] = 1;
    }
    // Predecessors in the acyclic graph, sorted so that kept paths do not depend on input order.
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (u, targets) in dag_edges.iter().enumerate() {
        for &v in targets {
            preds[v].push(u);
        }
    }
    for p in &mut preds {
        p.sort_by(|a, b| labels[*a].cmp(&labels[*b]));
        p.dedup();
    }
    for &v in &order {
        if is_root[v] {
            continue;
        }
        let mut kept = Vec::new();
        let mut count: u64 = 0;
        for &u in &preds[v] {
            count = count.saturating_add(counts[u]);
            for prefix in &prefixes[u] {
                if kept.len() < MAX_PATHS {
                    kept.push(format!("{prefix}{SEPARATOR}{}", labels[v]));
                }
            }
        }
        // Shortest first: the most direct way a package is pulled in is the one to fix first.
        kept.sort_by(|a, b| (a.matches(SEPARATOR).count(), a).cmp(&(b.matches(SEPARATOR).count(), b)));
        prefixes[v] = kept;
        counts[v] = count;
    }
    (0..n)
        .map(|v| {
            if is_root[v] {
                return NodePaths::default();
            }
            let paths = std::mem::take(&mut prefixes[v]);
            let cut = counts[v].saturating_sub(paths.len() as u64).min(u64::from(u32::MAX)) as u32;
            NodePaths { paths, cut }
        })
        .collect()
}

/// A depth-first walk (iterative: real graphs are shallow, hostile ones need not be) from each root, then
/// from each node still unvisited. Returns the nodes in topological order, the edges minus those that close
/// a cycle, and the roots including the adopted ones.
fn topological(n: usize, edges: &[Vec<usize>], roots: &[usize]) -> (Vec<usize>, Vec<Vec<usize>>, Vec<usize>) {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let mut state = vec![State::New; n];
    let mut postorder = Vec::with_capacity(n);
    let mut dag: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut all_roots = Vec::new();
    let starts = roots.iter().copied().chain(0..n);
    for start in starts {
        if start >= n || state[start] != State::New {
            continue;
        }
        all_roots.push(start);
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = State::Open;
        while let Some((u, next)) = stack.last_mut() {
            let u = *u;
            match edges[u].get(*next) {
                Some(&v) => {
                    *next += 1;
                    if v >= n {
                        continue;
                    }
                    match state[v] {
                        State::Open => {} // closes a cycle: dropped
                        State::Done => dag[u].push(v),
                        State::New => {
                            dag[u].push(v);
                            state[v] = State::Open;
                            stack.push((v, 0));
                        }
                    }
                }
                None => {
                    state[u] = State::Done;
                    postorder.push(u);
                    stack.pop();
                }
            }
        }
    }
    postorder.reverse();
    (postorder, dag, all_roots)
}

#[cfg(test)]
mod tests {
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
}
