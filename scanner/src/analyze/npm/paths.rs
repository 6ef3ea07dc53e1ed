//! Dependency paths, `npm ls` style, from a dependency graph with the application at its root.
//!
//! Real graphs have cycles (`a` → `b` → `a`) and diamonds whose path count grows exponentially with depth,
//! so paths are never enumerated blindly: cycles are cut where a depth-first walk meets a node still on its
//! stack (as `npm ls` prints "deduped"), the rest is a DAG whose path counts come from one pass in
//! topological order, and each node keeps only the first [`PATH_CAP`] paths in sorted order.

/// How many paths each package keeps; the rest are counted in `dependency_paths_cut`.
pub const PATH_CAP: usize = 10;

/// The separator `npm ls`-style paths use between packages.
pub const SEPARATOR: &str = " › ";

/// A dependency graph. Node 0 is the root (the application); its label may be empty when there is no
/// application (global installs), and paths then start at its children.
#[derive(Debug, Default)]
pub struct Graph {
    labels: Vec<String>,
    edges: Vec<Vec<(usize, bool)>>,
}

/// What the walk found for each node, indexed like the graph's nodes.
#[derive(Debug)]
pub struct Walk {
    /// The kept paths, sorted. Empty for the root and for nodes the root does not reach.
    pub paths: Vec<Vec<String>>,
    /// How many distinct paths exist in all (saturating).
    pub counts: Vec<u64>,
    /// Reached from the root without a development edge: shipped to production.
    pub prod: Vec<bool>,
}

impl Walk {
    pub fn cut(&self, node: usize) -> u32 {
        let extra = self.counts[node].saturating_sub(self.paths[node].len() as u64);
        u32::try_from(extra).unwrap_or(u32::MAX)
    }
}

impl Graph {
    pub fn new(root_label: String) -> Self {
        Graph { labels: vec![root_label], edges: vec![Vec::new()] }
    }

    pub fn add_node(&mut self, label: String) -> usize {
        self.labels.push(label);
        self.edges.push(Vec::new());
        self.labels.len() - 1
    }

    /// `dev`: the edge is a development dependency (only the root's `devDependencies` are).
    pub fn add_edge(&mut self, from: usize, to: usize, dev: bool) {
        if from == to {
            return;
        }
        let out = &mut self.edges[from];
        match out.iter_mut().find(|(t, _)| *t == to) {
            // The same package listed as both a dependency and a dev dependency is a production one.
            Some(edge) => edge.1 &= dev,
            None => out.push((to, dev)),
        }
    }

    pub fn walk(&self) -> Walk {
        let n = self.labels.len();
        let (order, back) = self.depth_first();
        let mut counts = vec![0u64; n];
        let mut candidates: Vec<Vec<String>> = vec![Vec::new(); n];
        let mut paths: Vec<Vec<String>> = vec![Vec::new(); n];
        counts[0] = 1;
        candidates[0].push(self.labels[0].clone());
        for &v in &order {
            let mut kept = std::mem::take(&mut candidates[v]);
            compact(&mut kept);
            for (i, &(w, _)) in self.edges[v].iter().enumerate() {
                if back[v][i] {
                    continue;
                }
                counts[w] = counts[w].saturating_add(counts[v]);
                for p in &kept {
                    let path =
                        if p.is_empty() { self.labels[w].clone() } else { format!("{p}{SEPARATOR}{}", self.labels[w]) };
                    candidates[w].push(path);
                }
                if candidates[w].len() > 4 * PATH_CAP {
                    compact(&mut candidates[w]);
                }
            }
            if v != 0 {
                paths[v] = kept;
            }
        }
        Walk { paths, counts, prod: self.prod_reachable() }
    }

    /// Reverse post-order of the nodes reachable from the root, and which edges close a cycle.
    /// Iterative: lockfile graphs can be thousands of nodes deep in chains.
    fn depth_first(&self) -> (Vec<usize>, Vec<Vec<bool>>) {
        let n = self.labels.len();
        let mut back: Vec<Vec<bool>> = self.edges.iter().map(|e| vec![false; e.len()]).collect();
        let (mut visited, mut on_stack) = (vec![false; n], vec![false; n]);
        let mut post = Vec::with_capacity(n);
        let mut stack = vec![(0usize, 0usize)];
        visited[0] = true;
        on_stack[0] = true;
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&(w, _)) = self.edges[v].get(*next) {
                let i = *next;
                *next += 1;
                if on_stack[w] {
                    back[v][i] = true;
                } else if !visited[w] {
                    visited[w] = true;
                    on_stack[w] = true;
                    stack.push((w, 0));
                }
            } else {
                on_stack[v] = false;
                post.push(v);
                stack.pop();
            }
        }
        post.reverse();
        (post, back)
    }

    fn prod_reachable(&self) -> Vec<bool> {
        let mut prod = vec![false; self.labels.len()];
        prod[0] = true;
        let mut queue = vec![0usize];
        while let Some(v) = queue.pop() {
            for &(w, dev) in &self.edges[v] {
                if !dev && !prod[w] {
                    prod[w] = true;
                    queue.push(w);
                }
            }
        }
        prod
    }
}

/// Sorted, distinct, at most [`PATH_CAP`].
pub fn compact(paths: &mut Vec<String>) {
    paths.sort_unstable();
    paths.dedup();
    paths.truncate(PATH_CAP);
}

/// `name@version`, or the name alone when there is no version.
pub fn label(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) if !v.is_empty() => format!("{name}@{v}"),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diamond_cycle_and_dev() {
        // acme → a → c, acme → b → c, c → a (cycle), acme →(dev) d → c
        let mut g = Graph::new("acme@1".into());
        let [a, b, c, d] = ["a@1", "b@1", "c@1", "d@1"].map(|l| g.add_node(l.into()));
        g.add_edge(0, a, false);
        g.add_edge(0, b, false);
        g.add_edge(0, d, true);
        g.add_edge(a, c, false);
        g.add_edge(b, c, false);
        g.add_edge(c, a, false);
        g.add_edge(d, c, false);
        let w = g.walk();
        assert_eq!(w.paths[c], ["acme@1 › a@1 › c@1", "acme@1 › b@1 › c@1", "acme@1 › d@1 › c@1"]);
        assert_eq!((w.counts[c], w.cut(c)), (3, 0));
        assert!(w.prod[c] && !w.prod[d]);
        assert!(w.paths[0].is_empty());
    }

    #[test]
    fn exponential_diamonds_are_counted_not_enumerated() {
        // 64 layers of two-way diamonds: 2^64 paths to the bottom.
        let mut g = Graph::new(String::new());
        let mut prev = 0;
        for i in 0..64 {
            let (l, r, j) =
                (g.add_node(format!("l{i}@1")), g.add_node(format!("r{i}@1")), g.add_node(format!("j{i}@1")));
            for (from, to) in [(prev, l), (prev, r), (l, j), (r, j)] {
                g.add_edge(from, to, false);
            }
            prev = j;
        }
        let w = g.walk();
        assert_eq!(w.counts[prev], u64::MAX, "saturates");
        assert_eq!(w.paths[prev].len(), PATH_CAP);
        assert_eq!(w.cut(prev), u32::MAX);
        assert!(w.paths[1][0] == "l0@1", "an unnamed root is left out: {:?}", w.paths[1]);
    }
}
