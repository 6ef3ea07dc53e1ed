//! The image population: what each image is made of, decided by a seed.
//!
//! Every image has four layers, as a typical application image does:
//! 1. a Debian base: the real bullseye root filesystem (7 in 10 apps) or its older point release;
//! 2. a runtime: Node.js (npm and corepack, real) or Python libraries (real distributions);
//! 3. the app's dependencies: a selection of real npm packages or Python distributions with the app's
//!    `package.json` / `requirements.txt`, and a vendor bundle of real JavaScript (256 KiB–8 MiB);
//! 4. the app build: its own code (64 KiB–2 MiB) and build info, different in every image.
//!
//! Images are grouped in apps (one repository each, one tag per build). The builds of one app share its
//! dependency layer: with `reuse` = 0.9, 10,000 images are 1,000 apps of 10 builds. Before night 2,
//! `change_rate` of the images get a new build (a new layer 4, pushed under the same tag).

use anyhow::Result;
use serde::Serialize;
use serde_json::json;

use crate::blob::{Blob, LayerWriter, Piece};
use crate::content::{Materials, Package};

#[derive(Debug, Clone, Serialize)]
pub struct Spec {
    pub images: usize,
    /// Share of images whose dependency layer another image has too.
    pub reuse: f64,
    /// Share of images rebuilt (a new app layer) between the nights.
    pub change_rate: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Ecosystem {
    Npm,
    Python,
}

/// One app: a repository whose builds share a base, a runtime and a dependency layer.
#[derive(Debug, Clone)]
pub struct App {
    pub index: usize,
    pub ecosystem: Ecosystem,
    /// 0: current bullseye, 1: the older point release.
    pub base: usize,
    pub repository: String,
    /// The images (builds) of this app.
    pub images: Vec<usize>,
}

/// splitmix64: a stable, seedable stream of decisions without a dependency.
pub fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut z = seed ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(seed: u64, a: u64, b: u64) -> f64 {
    (mix(seed, a, b) >> 11) as f64 / (1u64 << 53) as f64
}

impl Spec {
    pub fn apps(&self) -> Vec<App> {
        let count = ((self.images as f64 * (1.0 - self.reuse)).round() as usize).clamp(1, self.images.max(1));
        let mut apps: Vec<App> = (0..count)
            .map(|index| {
                let ecosystem =
                    if mix(self.seed, 1, index as u64) % 3 == 2 { Ecosystem::Python } else { Ecosystem::Npm };
                let base = usize::from(mix(self.seed, 2, index as u64) % 10 >= 7);
                let kind = if ecosystem == Ecosystem::Npm { "node" } else { "python" };
                let repository = format!("load/{kind}-app{index}");
                App { index, ecosystem, base, repository, images: Vec::new() }
            })
            .collect();
        for image in 0..self.images {
            apps[image % count].images.push(image);
        }
        apps
    }

    /// The images rebuilt before night 2, in a seeded order.
    pub fn changed(&self) -> Vec<usize> {
        let count = (self.images as f64 * self.change_rate).round() as usize;
        let mut order: Vec<usize> = (0..self.images).collect();
        order.sort_by_key(|&i| mix(self.seed, 3, i as u64));
        order.truncate(count);
        order.sort_unstable();
        order
    }
}

fn tag(image: usize) -> String {
    format!("build-{image}")
}

pub fn reference(host: &str, app: &App, image: usize) -> String {
    format!("{host}/{}:{}", app.repository, tag(image))
}

pub fn image_tag(image: usize) -> String {
    tag(image)
}

/// `1..=max` chunks, log-uniform: most layers small, a few large, as in real registries.
fn chunk_count(u: f64, max: usize) -> usize {
    ((max as f64).powf(u).floor() as usize).clamp(1, max)
}

fn chunks(materials: &Materials, seed: u64, salt: u64, count: usize) -> Vec<&Piece> {
    (0..count)
        .map(|k| &materials.chunks[(mix(seed, salt, k as u64) % materials.chunks.len() as u64) as usize])
        .collect()
}

/// Layer 3: the app's dependencies, its manifest and its vendor bundle.
pub fn dependency_layer(spec: &Spec, materials: &Materials, app: &App) -> Result<Blob> {
    let seed = spec.seed;
    let pool: &[Package] = match app.ecosystem {
        Ecosystem::Npm => &materials.npm,
        Ecosystem::Python => &materials.python,
    };
    let mut picked: Vec<&Package> = pool
        .iter()
        .enumerate()
        .filter(|(k, _)| unit(seed, 10 + app.index as u64, *k as u64) < 0.75)
        .map(|(_, p)| p)
        .collect();
    if picked.is_empty() {
        picked.push(&pool[app.index % pool.len()]);
    }
    let mut layer = LayerWriter::default();
    for package in &picked {
        layer.piece(&package.piece)?;
    }
    let (manifest_path, manifest) = match app.ecosystem {
        Ecosystem::Npm => {
            let deps: serde_json::Map<String, serde_json::Value> =
                picked.iter().map(|p| (p.name.clone(), json!(format!("^{}", p.version)))).collect();
            let manifest =
                json!({"name": format!("app{}", app.index), "version": "1.0.0", "private": true, "dependencies": deps});
            ("app/package.json", serde_json::to_vec_pretty(&manifest)?)
        }
        Ecosystem::Python => {
            let lines: Vec<String> = picked.iter().map(|p| format!("{}=={}\n", p.name, p.version)).collect();
            ("app/requirements.txt", lines.concat().into_bytes())
        }
    };
    layer.file(manifest_path, &manifest, &[])?;
    let bundle =
        chunks(materials, seed, 1_000_000 + app.index as u64, 4 * chunk_count(unit(seed, 4, app.index as u64), 32));
    let head = format!("/*! vendor bundle of app{} */\n", app.index);
    layer.file(&format!("app/public/vendor.{}.js", app.index), head.as_bytes(), &bundle)?;
    layer.finish()
}

/// Layer 4: one build of the app (`generation` 0 in night 1, 1 once rebuilt).
pub fn app_layer(spec: &Spec, materials: &Materials, app: &App, image: usize, generation: u64) -> Result<Blob> {
    let seed = spec.seed;
    let salt = (image as u64) << 8 | generation;
    let mut layer = LayerWriter::default();
    let info = json!({
        "app": format!("app{}", app.index),
        "image": image,
        "build": generation,
        "commit": format!("{:016x}", mix(seed, 5, salt)),
    });
    layer.file("app/build-info.json", &serde_json::to_vec_pretty(&info)?, &[])?;
    let code = chunks(materials, seed, 2_000_000 + salt, chunk_count(unit(seed, 6, salt), 32));
    let head = format!("// app{} build {image}.{generation}\n", app.index);
    let main = match app.ecosystem {
        Ecosystem::Npm => "app/src/main.js",
        Ecosystem::Python => "app/static/app.js",
    };
    layer.file(main, head.as_bytes(), &code)?;
    layer.finish()
}

/// `created_by` of each layer, for the config's history.
pub fn history(app: &App, image: usize, generation: u64) -> [String; 4] {
    let base = if app.base == 0 { "bullseye" } else { "bullseye (older point release)" };
    let runtime = match app.ecosystem {
        Ecosystem::Npm => "COPY node_modules /usr/lib/node_modules",
        Ecosystem::Python => "RUN pip install --target /usr/lib/python3/dist-packages",
    };
    [
        format!("ADD {base} /"),
        runtime.to_string(),
        "COPY app dependencies /app".to_string(),
        format!("COPY build {image}.{generation} /app"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_share_dependency_layers_and_changes_are_stable() {
        let spec = Spec { images: 1000, reuse: 0.9, change_rate: 0.05, seed: 7 };
        let apps = spec.apps();
        assert_eq!(apps.len(), 100);
        assert_eq!(apps.iter().map(|a| a.images.len()).sum::<usize>(), 1000);
        assert!(apps.iter().all(|a| a.images.len() == 10));
        assert!(apps.iter().any(|a| a.ecosystem == Ecosystem::Python));
        assert!(apps.iter().any(|a| a.base == 1));
        let changed = spec.changed();
        assert_eq!(changed.len(), 50);
        assert_eq!(changed, spec.changed());
        assert!((1..=32).contains(&chunk_count(0.0, 32)) && chunk_count(0.999, 32) == 31);
    }
}
