//! Writing real OCI images: layers compressed as asked, a config with `diff_ids` and history, a manifest,
//! and an OCI layout directory that `skopeo` can push or turn into a docker-archive.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
        }
    }
}

pub enum LayerContent {
    Bytes(Vec<u8>),
    TarFile(PathBuf),
}

struct Layer {
    content: LayerContent,
    compression: Compression,
    created_by: String,
}

/// An image under construction. History steps without a layer (ENV, USER) can be interleaved.
pub struct ImageBuilder {
    layers: Vec<Layer>,
    history: Vec<Value>,
    architecture: String,
    variant: Option<String>,
    config: Value,
}

/// What was written: digests to assert against.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub manifest_digest: String,
    pub manifest_size: u64,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    pub diff_ids: Vec<String>,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        ImageBuilder {
            layers: Vec::new(),
            history: Vec::new(),
            architecture: "amd64".into(),
            variant: None,
            config: json!({}),
        }
    }
}

impl ImageBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn layer(mut self, content: LayerContent, compression: Compression, created_by: &str) -> Self {
        self.history.push(json!({"created": "2024-01-01T00:00:00Z", "created_by": created_by}));
        self.layers.push(Layer { content, compression, created_by: created_by.into() });
        self
    }

    /// A Dockerfile step that made no layer (`ENV`, `CMD`).
    pub fn step(mut self, created_by: &str) -> Self {
        self.history.push(json!({"created": "2024-01-01T00:00:00Z", "created_by": created_by, "empty_layer": true}));
        self
    }

    pub fn architecture(mut self, arch: &str) -> Self {
        self.architecture = arch.into();
        self
    }

    /// The CPU variant in the config (`v8` for `linux/arm64/v8`); none unless set.
    pub fn variant(mut self, variant: &str) -> Self {
        self.variant = Some(variant.into());
        self
    }

    /// Sets a key of the runtime config (`User`, `Env`, `Cmd`, `ExposedPorts`, …).
    pub fn runtime(mut self, key: &str, value: Value) -> Self {
        self.config[key] = value;
        self
    }

    /// Writes blobs, config and manifest into the OCI layout `dir` and tags the manifest `tag`.
    pub fn write_layout(&self, dir: &Path, tag: &str) -> BuiltImage {
        let built = self.write_blobs(dir);
        add_to_index(dir, OCI_MANIFEST, &built.manifest_digest, built.manifest_size, tag, None);
        built
    }

    /// Writes the image's blobs and manifest without tagging it (for use inside an index).
    pub fn write_blobs(&self, dir: &Path) -> BuiltImage {
        init_layout(dir);
        let mut descriptors = Vec::new();
        let (mut layer_digests, mut diff_ids) = (Vec::new(), Vec::new());
        for layer in &self.layers {
            let (digest, size, diff_id) = write_layer(dir, layer);
            descriptors.push(json!({"mediaType": layer.compression.media_type(), "digest": digest, "size": size}));
            layer_digests.push(digest);
            diff_ids.push(diff_id);
            let _ = &layer.created_by;
        }
        let mut config = json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": self.architecture,
            "os": "linux",
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": self.history,
        });
        if let Some(variant) = &self.variant {
            config["variant"] = json!(variant);
        }
        let config_bytes = serde_json::to_vec(&config).expect("json");
        let config_digest = write_blob(dir, &config_bytes);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_bytes.len()},
            "layers": descriptors,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).expect("json");
        let manifest_digest = write_blob(dir, &manifest_bytes);
        BuiltImage {
            manifest_digest,
            manifest_size: manifest_bytes.len() as u64,
            config_digest,
            layer_digests,
            diff_ids,
        }
    }
}

/// Writes an image index over `images` (each with its `os/arch` or `os/arch/variant`, e.g. `linux/arm64/v8`)
/// and tags it `tag`: a multi-arch image. The platform only goes into the index; set the builder's
/// `architecture` (and `variant`) to match.
pub fn write_multiarch_layout(dir: &Path, tag: &str, images: &[(&ImageBuilder, &str)]) -> (String, Vec<BuiltImage>) {
    let mut built = Vec::new();
    let mut manifests = Vec::new();
    for (image, platform) in images {
        let b = image.write_blobs(dir);
        let (os, arch) = platform.split_once('/').expect("os/arch");
        let (arch, variant) = match arch.split_once('/') {
            Some((arch, variant)) => (arch, Some(variant)),
            None => (arch, None),
        };
        let mut platform = json!({"os": os, "architecture": arch});
        if let Some(variant) = variant {
            platform["variant"] = json!(variant);
        }
        manifests.push(json!({"mediaType": OCI_MANIFEST, "digest": b.manifest_digest, "size": b.manifest_size,
            "platform": platform}));
        built.push(b);
    }
    let index =
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})).expect("json");
    let digest = write_blob(dir, &index);
    add_to_index(dir, OCI_INDEX, &digest, index.len() as u64, tag, None);
    (digest, built)
}

fn init_layout(dir: &Path) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("create layout");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("write oci-layout");
    if !dir.join("index.json").exists() {
        std::fs::write(dir.join("index.json"), br#"{"schemaVersion":2,"manifests":[]}"#).expect("write index.json");
    }
}

/// Adds (or retags) an entry of the layout's `index.json`.
pub fn add_to_index(dir: &Path, media_type: &str, digest: &str, size: u64, tag: &str, platform: Option<Value>) {
    init_layout(dir);
    let path = dir.join("index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&path).expect("read index.json")).expect("index json");
    let manifests = index["manifests"].as_array_mut().expect("manifests array");
    manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
    let mut entry = json!({"mediaType": media_type, "digest": digest, "size": size,
        "annotations": {"org.opencontainers.image.ref.name": tag}});
    if let Some(p) = platform {
        entry["platform"] = p;
    }
    manifests.push(entry);
    std::fs::write(&path, serde_json::to_vec(&index).expect("json")).expect("write index.json");
}

pub fn write_blob(dir: &Path, bytes: &[u8]) -> String {
    let digest = crate::sha256(bytes);
    std::fs::write(blob_path(dir, &digest), bytes).expect("write blob");
    digest
}

pub fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// Hashes and counts what passes through (the hostile corpus streams its layers through it too).
pub(crate) struct HashWriter<W> {
    pub(crate) inner: W,
    pub(crate) hasher: Sha256,
    pub(crate) bytes: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Streams the layer through the compressor into the layout, hashing both sides: (digest, size, diff_id).
fn write_layer(dir: &Path, layer: &Layer) -> (String, u64, String) {
    let tmp = dir.join(format!("blobs/sha256/.tmp-{}", std::process::id()));
    let file = BufWriter::new(File::create(&tmp).expect("create blob"));
    let mut compressed = HashWriter { inner: file, hasher: Sha256::new(), bytes: 0 };
    let mut source: Box<dyn Read> = match &layer.content {
        LayerContent::Bytes(b) => Box::new(&b[..]),
        LayerContent::TarFile(p) => Box::new(File::open(p).expect("open layer tar")),
    };
    let diff_id = {
        let mut encoder: Box<dyn Write + '_> = match layer.compression {
            Compression::Gzip => Box::new(flate2::write::GzEncoder::new(&mut compressed, flate2::Compression::fast())),
            Compression::Zstd => Box::new(zstd::Encoder::new(&mut compressed, 3).expect("zstd").auto_finish()),
            Compression::None => Box::new(&mut compressed),
        };
        let mut uncompressed = HashWriter { inner: &mut encoder, hasher: Sha256::new(), bytes: 0 };
        io::copy(&mut source, &mut uncompressed).expect("write layer");
        let diff_id = format!("sha256:{}", hex::encode(uncompressed.hasher.finalize()));
        encoder.flush().expect("flush layer");
        diff_id
    };
    compressed.flush().expect("flush layer");
    let digest = format!("sha256:{}", hex::encode(compressed.hasher.clone().finalize()));
    let size = compressed.bytes;
    std::fs::rename(&tmp, blob_path(dir, &digest)).expect("rename blob");
    (digest, size, diff_id)
}
