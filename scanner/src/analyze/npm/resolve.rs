//! Node's `require` resolution over a set of install locations: a dependency `name` of the package at
//! `dir` is the nearest `<ancestor>/node_modules/<name>` walking up from `dir`.
//!
//! Done naively (format each candidate path, hash it), a dependency costs the depth of `dir` times its
//! length, and a crafted lockfile of deep locations with many dependencies each never finishes. Here the
//! directories form a trie of path components built once, each directory knows its nearest ancestor that
//! holds a `node_modules` entry at all, and a candidate is a pair of integers: a step is constant time and
//! only directories that can answer are visited. A step budget bounds what is left.

use std::collections::HashMap;

/// Resolution steps for one lockfile or installed tree. Real monorepo lockfiles take a few million.
pub const MAX_STEPS: u64 = 50_000_000;

const NONE: u32 = u32::MAX;

pub struct Resolver<'a> {
    /// Trie of directories: child by (parent, component); node 0 is the empty path.
    children: HashMap<(u32, &'a str), u32>,
    parent: Vec<u32>,
    /// Nearest ancestor-or-self that provides some package (`NONE`: none); valid after `finish`.
    up: Vec<u32>,
    provides: Vec<bool>,
    names: HashMap<&'a str, u32>,
    providers: HashMap<(u32, u32), usize>,
    steps: u64,
    max_steps: u64,
}

impl<'a> Resolver<'a> {
    pub fn new() -> Self {
        Resolver {
            children: HashMap::new(),
            parent: vec![NONE],
            up: Vec::new(),
            provides: vec![false],
            names: HashMap::new(),
            providers: HashMap::new(),
            steps: 0,
            max_steps: MAX_STEPS,
        }
    }

    /// Registers the package installed at `location` (`[<dir>/]node_modules/<name>`) as `value`. Other
    /// locations (workspace folders) provide nothing. Call [`Resolver::finish`] before resolving.
    pub fn provide(&mut self, location: &'a str, value: usize) {
        let (dir, name) = match location.rsplit_once("/node_modules/") {
            Some(split) => split,
            None => match location.strip_prefix("node_modules/") {
                Some(name) => ("", name),
                None => return,
            },
        };
        let dir = self.insert(dir);
        self.provides[dir as usize] = true;
        let next = self.names.len() as u32;
        let name = *self.names.entry(name).or_insert(next);
        self.providers.entry((dir, name)).or_insert(value);
    }

    fn insert(&mut self, dir: &'a str) -> u32 {
        let mut at = 0u32;
        for component in components(dir) {
            let next = self.parent.len() as u32;
            let child = *self.children.entry((at, component)).or_insert(next);
            if child == next {
                self.parent.push(at);
                self.provides.push(false);
            }
            at = child;
        }
        at
    }

    /// Computes each directory's nearest providing ancestor; parents are created before their children.
    pub fn finish(&mut self) {
        let n = self.parent.len();
        self.up = vec![NONE; n];
        for id in 0..n {
            self.up[id] = if self.provides[id] {
                id as u32
            } else {
                match self.parent[id] {
                    NONE => NONE,
                    p => self.up[p as usize],
                }
            };
        }
    }

    /// The value of the nearest `node_modules/<name>` from `dir` up for which `accept` gives a result.
    pub fn resolve(&mut self, dir: &str, name: &str, accept: impl Fn(usize) -> Option<usize>) -> Option<usize> {
        let start = self.start(dir);
        self.resolve_from(start, name, accept)
    }

    /// [`Resolver::resolve`] from a directory found once by [`Resolver::start`], for the many
    /// dependencies of one package.
    pub fn resolve_from(&mut self, start: u32, name: &str, accept: impl Fn(usize) -> Option<usize>) -> Option<usize> {
        let name = *self.names.get(name)?;
        let mut at = start;
        while at != NONE && self.steps < self.max_steps {
            self.steps += 1;
            if let Some(found) = self.providers.get(&(at, name)).and_then(|&v| accept(v)) {
                return Some(found);
            }
            at = match self.parent[at as usize] {
                NONE => NONE,
                p => self.up[p as usize],
            };
        }
        None
    }

    /// Where resolution from `dir` starts: the nearest directory on its path that provides anything.
    pub fn start(&mut self, dir: &str) -> u32 {
        let mut at = 0u32;
        for component in components(dir) {
            self.steps += 1;
            match self.children.get(&(at, component)) {
                Some(&child) => at = child,
                None => break,
            }
        }
        self.up.get(at as usize).copied().unwrap_or(NONE)
    }

    /// Whether the step budget ran out, so some dependencies may be unresolved.
    pub fn exhausted(&self) -> bool {
        self.steps >= self.max_steps
    }
}

fn components(dir: &str) -> impl Iterator<Item = &str> {
    (!dir.is_empty()).then(|| dir.split('/')).into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_node_modules_wins_and_refusals_walk_on() {
        let locations =
            ["node_modules/a", "node_modules/x", "node_modules/x/node_modules/b", "node_modules/x/node_modules/a"];
        let mut r = Resolver::new();
        for (i, l) in locations.iter().enumerate() {
            r.provide(l, i);
        }
        r.provide("packages/web", 9); // a workspace folder provides nothing
        r.finish();
        assert_eq!(r.resolve("node_modules/x", "b", Some), Some(2));
        assert_eq!(r.resolve("node_modules/x", "a", Some), Some(3));
        assert_eq!(r.resolve("node_modules/x/node_modules/b", "a", Some), Some(3));
        assert_eq!(r.resolve("", "a", Some), Some(0));
        assert_eq!(r.resolve("", "b", Some), None);
        assert_eq!(r.resolve("packages/web", "a", Some), Some(0), "unknown directories resolve from their ancestors");
        assert_eq!(r.resolve("node_modules/x", "nothing", Some), None);
        // A refused candidate (an unresolvable link) lets the walk go on up.
        assert_eq!(r.resolve("node_modules/x", "a", |v| (v != 3).then_some(v)), Some(0));
        assert!(!r.exhausted());
    }

    #[test]
    fn the_step_budget_ends_resolution() {
        let mut location = String::from("node_modules/c");
        let mut locations = vec![String::from("node_modules/top")];
        for _ in 0..100 {
            locations.push(location.clone());
            location.push_str("/node_modules/c");
        }
        let mut r = Resolver::new();
        for (i, l) in locations.iter().enumerate() {
            r.provide(l, i);
        }
        r.finish();
        r.max_steps = 1_000;
        let deepest = locations.last().unwrap().clone();
        let mut resolved = 0;
        for _ in 0..20 {
            resolved += usize::from(r.resolve(&deepest, "top", Some).is_some());
        }
        assert!(r.exhausted());
        assert!(resolved < 20, "{resolved}");
    }
}
