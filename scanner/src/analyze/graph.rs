//! Dependency paths through a package graph, `npm ls` style (`acme@1.0.0 › requests@2.19.1 › urllib3@1.23`):
//! the one engine behind the npm, Cargo, Ruby and Python analysers.
//!
//! A lockfile is attacker-controlled, and both the number of paths and their length explode: 2^depth
//! paths through a ladder of diamonds, and a 15,000-package chain whose last path alone names 15,000
//! packages (every package of a chain holding its full path is quadratic: gigabytes from a 1 MB lockfile).
//! So the walk is linear in the graph and every output is capped:
//! - cycles are cut where a depth-first walk meets a node still on its stack (as `npm ls` prints
//!   "deduped"), and path counts come from one pass over the rest in topological order (saturating);
//! - each node keeps at most [`MAX_PATHS`] paths, chosen without building the others (candidates are
//!   compared as borrowed slices and only the kept ones become strings);
//! - a path shows at most [`MAX_SHOWN`] packages: past that, its root, `…`, and the packages nearest the
//!   node (the ones to act on);
//! - a label is at most [`MAX_LABEL_BYTES`] bytes, and a graph's paths at most [`MAX_TOTAL_BYTES`] in all;
//!   nodes past that get no paths, only their count.
//!
//! These caps shorten explanations, not findings: every package is still reported, and its
//! `dependency_paths_cut` says how many paths are not shown, so they do not make a result incomplete.

use std::cmp::Ordering;

/// The most paths kept per package; the rest are counted in `dependency_paths_cut`.
pub const MAX_PATHS: usize = 10;
/// Packages shown in one path, its root included.
pub const MAX_SHOWN: usize = 12;
/// Bytes of one package's label in a path (`name@version`); a longer one is cut with `…`.
pub const MAX_LABEL_BYTES: usize = 128;
/// Bytes of all the paths of one graph (one lockfile, one installed tree).
pub const MAX_TOTAL_BYTES: usize = 32 * 1024 * 1024;

/// The separator between packages in a path.
pub const SEPARATOR: &str = " › ";
const ELIDED: &str = "…";

/// How a node's kept paths are chosen and sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Alphabetically, as `npm ls` sorts.
    Lexical,
    /// Fewest hops first (the most direct way a package is pulled in is the one to fix first), then
    /// alphabetically.
    ShortestFirst,
}

/// Whether nodes no root reaches get paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreached {
    /// They get none and a count of 0 (npm: a lockfile entry nothing requires is not installed for the
    /// application).
    Ignore,
    /// They are adopted as roots, lowest index first, so that every node gets a place (Python, Ruby,
    /// Cargo: an unreached node can only sit on a cycle nothing else leads to).
    Adopt,
}

/// A dependency graph under construction.
#[derive(Debug, Default)]
pub struct Graph {
    labels: Vec<String>,
    edges: Vec<Vec<(usize, bool)>>,
    roots: Vec<usize>,
}

/// What the walk found for each node, indexed like the graph's nodes.
#[derive(Debug)]
pub struct Walk {
    /// The kept paths, sorted by the walk's [`Order`]. Empty for roots and for nodes no root reaches.
    pub paths: Vec<Vec<String>>,
    /// How many distinct paths exist in all (saturating).
    pub counts: Vec<u64>,
    /// Reached from a root without a development edge: shipped to production.
    pub prod: Vec<bool>,
}

impl Walk {
    /// The paths of `node` that exist but are not kept.
    pub fn cut(&self, node: usize) -> u32 {
        let extra = self.counts[node].saturating_sub(self.paths[node].len() as u64);
        u32::try_from(extra).unwrap_or(u32::MAX)
    }
}

impl Graph {
    pub fn new() -> Self {
        Graph::default()
    }

    /// Adds a node shown as `label` (`name@version`; empty for an unnamed root, whose paths then start at
    /// its children).
    pub fn add_node(&mut self, label: String) -> usize {
        self.labels.push(sanitize(label));
        self.edges.push(Vec::new());
        self.labels.len() - 1
    }

    pub fn add_root(&mut self, node: usize) {
        if node < self.labels.len() {
            self.roots.push(node);
        }
    }

    /// `dev`: a development dependency (npm: the root's `devDependencies`). Constant time: the same edge
    /// added twice is merged by the walk (a dependency listed as both kinds is a production one).
    pub fn add_edge(&mut self, from: usize, to: usize, dev: bool) {
        if from != to && from < self.labels.len() && to < self.labels.len() {
            self.edges[from].push((to, dev));
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn walk(&self, order: Order, unreached: Unreached) -> Walk {
        let n = self.labels.len();
        let edges = self.merged_edges();
        let (topological, back, roots) = depth_first(&edges, &self.roots, unreached);
        let mut is_root = vec![false; n];
        let mut counts = vec![0u64; n];
        // Kept paths of each node as prefixes for its dependencies; a root's is its own label.
        let mut kept: Vec<Vec<Path>> = vec![Vec::new(); n];
        for &r in &roots {
            is_root[r] = true;
            counts[r] = 1;
            kept[r] = vec![Path::root(&self.labels[r])];
        }
        // Incoming edges that survive the cycle cut, as (predecessor) lists in topological order of the
        // predecessor, so a node's candidates are all known when its turn comes.
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &u in &topological {
            for (i, &(v, _)) in edges[u].iter().enumerate() {
                if !back[u][i] {
                    preds[v].push(u);
                }
            }
        }
        let mut total_bytes = 0usize;
        for &v in &topological {
            if is_root[v] {
                continue;
            }
            let mut count = 0u64;
            let mut candidates: Vec<Candidate<'_>> = Vec::new();
            for &u in &preds[v] {
                count = count.saturating_add(counts[u]);
                candidates.extend(kept[u].iter().map(|p| p.extend(&self.labels[v])));
            }
            counts[v] = count;
            candidates.sort_unstable_by(|a, b| a.cmp(b, order));
            candidates.dedup_by(|a, b| a.cmp(b, order) == Ordering::Equal);
            candidates.truncate(MAX_PATHS);
            let paths: Vec<Path> = candidates.iter().map(Candidate::to_path).collect();
            let bytes: usize = paths.iter().map(|p| p.text.len()).sum();
            if total_bytes + bytes <= MAX_TOTAL_BYTES {
                total_bytes += bytes;
                kept[v] = paths;
            }
        }
        for &r in &roots {
            // Nothing leads to a root: it has no paths, and none are cut.
            counts[r] = 0;
        }
        let paths = kept
            .into_iter()
            .enumerate()
            .map(|(v, paths)| if is_root[v] { Vec::new() } else { paths.into_iter().map(|p| p.text).collect() })
            .collect();
        Walk { paths, counts, prod: prod_reachable(&edges, &roots) }
    }

    /// The edges with duplicates merged, in first-seen order (the depth-first walk, and so which edge of a
    /// cycle is cut, follows the input's order). Linear: a position table replaces a search per edge.
    fn merged_edges(&self) -> Vec<Vec<(usize, bool)>> {
        let n = self.labels.len();
        let mut last_from = vec![usize::MAX; n];
        let mut position = vec![0usize; n];
        self.edges
            .iter()
            .enumerate()
            .map(|(u, out)| {
                let mut merged: Vec<(usize, bool)> = Vec::with_capacity(out.len());
                for &(v, dev) in out {
                    if last_from[v] == u {
                        merged[position[v]].1 &= dev;
                    } else {
                        last_from[v] = u;
                        position[v] = merged.len();
                        merged.push((v, dev));
                    }
                }
                merged
            })
            .collect()
    }
}

/// A kept path. `head_end` is where its first label ends; `elided`: a `…` follows the first label.
#[derive(Debug, Clone)]
struct Path {
    text: String,
    hops: u32,
    shown: u32,
    head_end: usize,
    elided: bool,
}

impl Path {
    fn root(label: &str) -> Path {
        Path { text: label.to_string(), hops: 0, shown: 1, head_end: label.len(), elided: false }
    }

    /// This path followed by `label`, as borrowed parts: nothing is copied until the candidate is kept.
    fn extend<'a>(&'a self, label: &'a str) -> Candidate<'a> {
        let hops = self.hops.saturating_add(1);
        if self.text.is_empty() {
            // An unnamed root: the path starts at its child.
            return Candidate {
                parts: [label, "", "", "", "", "", ""],
                hops,
                shown: 1,
                head: label.len(),
                elided: false,
            };
        }
        if (self.shown as usize) < MAX_SHOWN {
            let parts = [&self.text[..], SEPARATOR, label, "", "", "", ""];
            return Candidate { parts, hops, shown: self.shown + 1, head: self.head_end, elided: self.elided };
        }
        // Full: keep the head, drop the label after it (and after its `…`), append `label`.
        let head = &self.text[..self.head_end];
        let dropped_at = self.head_end + SEPARATOR.len() + if self.elided { ELIDED.len() + SEPARATOR.len() } else { 0 };
        let rest = self.text.get(dropped_at..).unwrap_or_default();
        let rest = rest.find(SEPARATOR).map_or("", |at| &rest[at + SEPARATOR.len()..]);
        let parts = if rest.is_empty() {
            [head, SEPARATOR, ELIDED, SEPARATOR, label, "", ""]
        } else {
            [head, SEPARATOR, ELIDED, SEPARATOR, rest, SEPARATOR, label]
        };
        Candidate { parts, hops, shown: self.shown, head: self.head_end, elided: true }
    }
}

/// A candidate path: the concatenation of `parts`.
struct Candidate<'a> {
    parts: [&'a str; 7],
    hops: u32,
    shown: u32,
    head: usize,
    elided: bool,
}

impl Candidate<'_> {
    fn cmp(&self, other: &Candidate<'_>, order: Order) -> Ordering {
        let by_text = || cmp_concatenated(&self.parts, &other.parts);
        match order {
            Order::Lexical => by_text(),
            Order::ShortestFirst => self.hops.cmp(&other.hops).then_with(by_text),
        }
    }

    fn to_path(&self) -> Path {
        Path { text: self.parts.concat(), hops: self.hops, shown: self.shown, head_end: self.head, elided: self.elided }
    }
}

/// Compares the concatenations of `a` and `b` without building them, a run of bytes at a time.
fn cmp_concatenated(a: &[&str], b: &[&str]) -> Ordering {
    let mut a = a.iter().map(|s| s.as_bytes()).filter(|s| !s.is_empty());
    let mut b = b.iter().map(|s| s.as_bytes()).filter(|s| !s.is_empty());
    let (mut x, mut y): (&[u8], &[u8]) = (&[], &[]);
    loop {
        if x.is_empty() {
            x = a.next().unwrap_or_default();
        }
        if y.is_empty() {
            y = b.next().unwrap_or_default();
        }
        match (x.is_empty(), y.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        let n = x.len().min(y.len());
        match x[..n].cmp(&y[..n]) {
            Ordering::Equal => (x, y) = (&x[n..], &y[n..]),
            unequal => return unequal,
        }
    }
}

/// A label as paths show it: no separator inside (it would break elision), at most [`MAX_LABEL_BYTES`].
fn sanitize(label: String) -> String {
    let label = if label.contains('›') { label.replace('›', ">") } else { label };
    if label.len() <= MAX_LABEL_BYTES {
        return label;
    }
    let mut end = MAX_LABEL_BYTES;
    while !label.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELIDED}", &label[..end])
}

/// A depth-first walk (iterative: hostile chains are as deep as the graph is large) from each root, then,
/// when adopting, from each node still unvisited. Returns the reached nodes in topological order, per
/// edge whether it closes a cycle, and the roots (adopted ones included).
fn depth_first(
    edges: &[Vec<(usize, bool)>],
    roots: &[usize],
    unreached: Unreached,
) -> (Vec<usize>, Vec<Vec<bool>>, Vec<usize>) {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let n = edges.len();
    let mut state = vec![State::New; n];
    let mut back: Vec<Vec<bool>> = edges.iter().map(|e| vec![false; e.len()]).collect();
    let mut post = Vec::with_capacity(n);
    let mut all_roots = Vec::new();
    let adopted = match unreached {
        Unreached::Adopt => 0..n,
        Unreached::Ignore => 0..0,
    };
    for start in roots.iter().copied().chain(adopted) {
        if state[start] != State::New {
            continue;
        }
        all_roots.push(start);
        state[start] = State::Open;
        let mut stack = vec![(start, 0usize)];
        while let Some((u, next)) = stack.last_mut() {
            let u = *u;
            match edges[u].get(*next) {
                Some(&(v, _)) => {
                    let i = *next;
                    *next += 1;
                    match state[v] {
                        State::Open => back[u][i] = true,
                        State::Done => {}
                        State::New => {
                            state[v] = State::Open;
                            stack.push((v, 0));
                        }
                    }
                }
                None => {
                    state[u] = State::Done;
                    post.push(u);
                    stack.pop();
                }
            }
        }
    }
    post.reverse();
    (post, back, all_roots)
}

fn prod_reachable(edges: &[Vec<(usize, bool)>], roots: &[usize]) -> Vec<bool> {
    let mut prod = vec![false; edges.len()];
    let mut queue = roots.to_vec();
    for &r in roots {
        prod[r] = true;
    }
    while let Some(v) = queue.pop() {
        for &(w, dev) in &edges[v] {
            if !dev && !prod[w] {
                prod[w] = true;
                queue.push(w);
            }
        }
    }
    prod
}

/// The paths of one node: those kept, and how many more exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePaths {
    pub paths: Vec<String>,
    pub cut: u32,
}

/// Paths from `roots` to every node, shortest first, for graphs given as adjacency lists. `labels[i]` is
/// node i as a path shows it (`name@version`); `edges[i]` the nodes i depends on. A root's own result is
/// empty; nodes no root reaches are adopted as roots ([`Unreached::Adopt`]).
pub fn dependency_paths(labels: &[String], edges: &[Vec<usize>], roots: &[usize]) -> Vec<NodePaths> {
    let mut graph = Graph::new();
    for label in labels {
        graph.add_node(label.clone());
    }
    for (from, targets) in edges.iter().enumerate() {
        for &to in targets {
            graph.add_edge(from, to, false);
        }
    }
    for &r in roots {
        graph.add_root(r);
    }
    let walk = graph.walk(Order::ShortestFirst, Unreached::Adopt);
    let cuts: Vec<u32> = (0..labels.len()).map(|v| walk.cut(v)).collect();
    walk.paths.into_iter().zip(cuts).map(|(paths, cut)| NodePaths { paths, cut }).collect()
}

/// Sorted, distinct, at most [`MAX_PATHS`]: the paths of several copies of one package, merged.
pub fn compact(paths: &mut Vec<String>) {
    paths.sort_unstable();
    paths.dedup();
    paths.truncate(MAX_PATHS);
}

/// `name@version`, or the name alone when there is no version.
pub fn label(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) if !v.is_empty() => format!("{name}@{v}"),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests;
