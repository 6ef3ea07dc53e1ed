//! Answers read from the index: a query reads one set and the hash fields its members name; a rollup
//! reads each image's `meta` field. The grouping is CPU work and runs on the blocking pool.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use globset::GlobSet;
use redis::AsyncCommands;

use super::index::base;
use super::range::PackageSelector;
use super::{Base, ImageMeta, IndexedFinding, Match, QueryAnswer, QueryRequest, RollupAnswer, RollupRequest};
use crate::error::{CoordinatorError, Result};
use crate::store::ScanStore;

/// Hash reads per round trip.
const CHUNK: usize = 500;
/// Bases a rollup returns at most, whatever the request says.
const MAX_LIMIT: usize = 1000;
/// Images a base lists by name.
const EXAMPLES: usize = 3;

/// A reference, the advisory fields of it a query wants, and `HMGET scan meta fields…` of its hash.
type Fetched = (String, Vec<String>, Vec<Option<Vec<u8>>>);

/// Images whose latest scan has the advisory, or the package (in the range), with where it came from.
pub async fn query(store: &ScanStore, request: &QueryRequest) -> Result<QueryAnswer> {
    let filter = repository_filter(request.repository.as_deref())?;
    let base = base(store);
    let (set, selector) = match (request.advisory.as_deref().map(str::trim), request.package.as_deref()) {
        (Some(advisory), None) if !advisory.is_empty() => (format!("{base}adv:{advisory}"), None),
        (None, Some(package)) => {
            let selector = PackageSelector::parse(package)?;
            (format!("{base}pkg:{}", selector.name), Some(selector))
        }
        _ => return Err(CoordinatorError::Invalid("a query names an advisory or a package, not both".into())),
    };
    let members: Vec<String> = store.conn().smembers(&set).await?;
    // One read per image, however many of its advisories the set names: its `meta` is decoded once.
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (reference, field) in members.iter().filter_map(|m| m.split_once('\t')) {
        if allows(filter.as_ref(), reference) {
            wanted.entry(reference.to_string()).or_default().push(field.to_string());
        }
    }
    let wanted: Vec<(String, Vec<String>)> = wanted.into_iter().collect();
    let mut fetched: Vec<Fetched> = Vec::with_capacity(wanted.len());
    for chunk in wanted.chunks(CHUNK) {
        let mut pipe = redis::pipe();
        for (reference, fields) in chunk {
            pipe.cmd("HMGET").arg(format!("{base}img:{reference}")).arg("scan").arg("meta").arg(fields);
        }
        let rows: Vec<Vec<Option<Vec<u8>>>> = pipe.query_async(&mut store.conn()).await?;
        fetched.extend(chunk.iter().cloned().zip(rows).map(|((r, f), row)| (r, f, row)));
    }
    tokio::task::spawn_blocking(move || matches(fetched, selector.as_ref()))
        .await
        .map_err(|e| CoordinatorError::Internal(e.to_string()))
}

/// Decodes the fetched fields into the answer (an image that left the index in between is skipped).
fn matches(fetched: Vec<Fetched>, selector: Option<&PackageSelector>) -> QueryAnswer {
    let mut matches = Vec::new();
    for (reference, fields, row) in fetched {
        let mut row = row.into_iter();
        let (Some(Some(scan_id)), Some(Some(meta))) = (row.next(), row.next()) else { continue };
        let (Ok(scan_id), Ok(meta)) = (String::from_utf8(scan_id), serde_json::from_slice::<ImageMeta>(&meta)) else {
            continue;
        };
        for (field, findings) in fields.iter().zip(row) {
            let Some(findings) = findings.and_then(|f| serde_json::from_slice::<Vec<IndexedFinding>>(&f).ok()) else {
                continue;
            };
            let advisory = field.strip_prefix("f:").unwrap_or(field);
            for f in findings {
                let wanted =
                    selector.is_none_or(|s| f.package == s.name && s.contains(f.ecosystem.as_deref(), &f.version));
                if wanted {
                    matches.push(to_match(&reference, &scan_id, advisory, &meta, f));
                }
            }
        }
    }
    matches.sort();
    matches.dedup();
    let images = matches.iter().map(|m| &m.reference).collect::<BTreeSet<_>>().len();
    QueryAnswer { images, matches }
}

fn to_match(reference: &str, scan_id: &str, advisory: &str, meta: &ImageMeta, f: IndexedFinding) -> Match {
    let layer = meta.layers.get(f.layer);
    Match {
        reference: reference.to_string(),
        scan_id: scan_id.to_string(),
        advisory: advisory.to_string(),
        package: f.package,
        installed_version: f.version,
        fixed_version: f.fixed,
        severity: f.severity,
        layer_index: f.layer,
        layer_digest: layer.map(|l| l.digest.clone()).unwrap_or_default(),
        created_by: layer.and_then(|l| l.created_by.clone()),
    }
}

/// The layer chains shared by at least `min_images` images, the ones whose rebuild fixes most first.
pub async fn rollup(store: &ScanStore, request: &RollupRequest) -> Result<RollupAnswer> {
    let filter = repository_filter(request.repository.as_deref())?;
    let base = base(store);
    let mut references: Vec<String> = store.conn().smembers(format!("{base}images")).await?;
    references.retain(|r| allows(filter.as_ref(), r));
    references.sort();
    let mut images = Vec::with_capacity(references.len());
    for chunk in references.chunks(CHUNK) {
        let mut pipe = redis::pipe();
        for reference in chunk {
            pipe.hget(format!("{base}img:{reference}"), "meta");
        }
        let metas: Vec<Option<Vec<u8>>> = pipe.query_async(&mut store.conn()).await?;
        images.extend(chunk.iter().zip(metas).filter_map(|(r, m)| Some((r.clone(), m?))));
    }
    let (min_images, limit) = (request.min_images.max(1), request.limit.min(MAX_LIMIT));
    tokio::task::spawn_blocking(move || {
        let metas: Vec<(String, ImageMeta)> = images
            .into_iter()
            .filter_map(|(r, bytes)| serde_json::from_slice::<ImageMeta>(&bytes).ok().map(|m| (r, m)))
            .collect();
        RollupAnswer { images: metas.len(), bases: bases(&metas, min_images, limit) }
    })
    .await
    .map_err(|e| CoordinatorError::Internal(e.to_string()))
}

/// Groups images by layer chain. A candidate chain ends at a layer that introduced a fixable finding in
/// some image; its images are every image whose layers start with the chain, and its fixes what the
/// chain's layers introduced in them.
pub fn bases(images: &[(String, ImageMeta)], min_images: usize, limit: usize) -> Vec<Base> {
    // Chains are keyed by their digests interned to numbers: a 10,000-image fleet has a few hundred layers.
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut chains: HashMap<Vec<u32>, (usize, u64, bool, Vec<&str>)> = HashMap::new();
    for (reference, meta) in images {
        let mut chain = Vec::with_capacity(meta.layers.len());
        let mut fixes = 0u64;
        for (i, layer) in meta.layers.iter().enumerate() {
            let next = ids.len() as u32;
            chain.push(*ids.entry(layer.digest.as_str()).or_insert(next));
            let introduced = meta.fixable.get(i).copied().unwrap_or(0);
            fixes += u64::from(introduced);
            let entry = chains.entry(chain.clone()).or_default();
            entry.0 += 1;
            entry.1 += fixes;
            entry.2 |= introduced > 0;
            if entry.3.len() < EXAMPLES {
                entry.3.push(reference);
            }
        }
    }
    let digests: BTreeMap<u32, &str> = ids.iter().map(|(d, i)| (*i, *d)).collect();
    // The step that made a layer: the same layer has the same step in every image built on it.
    let mut steps: HashMap<&str, Option<&String>> = HashMap::new();
    for (_, meta) in images {
        for l in &meta.layers {
            steps.entry(l.digest.as_str()).or_insert(l.created_by.as_ref());
        }
    }
    let mut found: Vec<Base> = chains
        .into_iter()
        .filter(|(_, (n, fixes, candidate, _))| *candidate && *n >= min_images && *fixes > 0)
        .filter_map(|(chain, (n, fixes, _, examples))| {
            let top = digests.get(chain.last()?)?;
            Some(Base {
                top_layer: top.to_string(),
                depth: chain.len(),
                created_by: steps.get(top).copied().flatten().cloned(),
                images: n,
                fixes,
                examples: examples.into_iter().map(str::to_string).collect(),
            })
        })
        .collect();
    found.sort_by(|a, b| {
        b.fixes
            .cmp(&a.fixes)
            .then(b.images.cmp(&a.images))
            .then(a.depth.cmp(&b.depth))
            .then(a.top_layer.cmp(&b.top_layer))
    });
    found.truncate(limit);
    found
}

fn repository_filter(pattern: Option<&str>) -> Result<Option<GlobSet>> {
    crate::sweep::patterns(&pattern.map(|p| vec![p.to_string()]).unwrap_or_default())
}

/// A glob names a repository with its registry (`127.0.0.1:5000/team/*`) or without it (`team/*`).
fn allows(filter: Option<&GlobSet>, reference: &str) -> bool {
    let Some(filter) = filter else { return true };
    let repository = strata_registry::repository_of(reference);
    filter.is_match(repository) || repository.split_once('/').is_some_and(|(_, path)| filter.is_match(path))
}
