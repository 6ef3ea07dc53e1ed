//! Filling a registry fast over its HTTP API: many repositories and tags from a few layers. Each blob is
//! uploaded once and cross-repository mounted (`POST /v2/<name>/blobs/uploads/?mount=…&from=…`) wherever
//! else it is needed; an image costs a config upload and a manifest `PUT`. Images are told apart by a
//! label in their config, so several manifests share the same layers.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;

use serde_json::json;

use crate::registry::TestRegistry;
use crate::sha256;

/// A gzip layer, ready to push.
#[derive(Clone)]
pub struct Layer {
    pub digest: String,
    pub diff_id: String,
    gz: Arc<Vec<u8>>,
}

impl Layer {
    pub fn from_tar(tar: &[u8]) -> Layer {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(tar).expect("gzip into memory");
        let gz = encoder.finish().expect("gzip into memory");
        Layer { digest: sha256(&gz), diff_id: sha256(tar), gz: Arc::new(gz) }
    }

    pub fn size(&self) -> usize {
        self.gz.len()
    }
}

/// A manifest pushed under a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub repository: String,
    pub tag: String,
    pub digest: String,
}

/// A manifest's bytes and the blobs (digest, bytes) a repository needs before it can hold it. Shared, not
/// copied: a base layer is tens of megabytes and hundreds of manifests name it.
type Manifest = (Arc<Vec<u8>>, Vec<(String, Arc<Vec<u8>>)>);

pub struct Populator<'a> {
    registry: &'a TestRegistry,
    /// Blob digest → a repository that has it (to mount from).
    homes: HashMap<String, String>,
    present: HashSet<(String, String)>,
    /// Manifest digest → its bytes and the blobs it needs.
    manifests: HashMap<String, Manifest>,
}

impl<'a> Populator<'a> {
    pub fn new(registry: &'a TestRegistry) -> Self {
        Populator { registry, homes: HashMap::new(), present: HashSet::new(), manifests: HashMap::new() }
    }

    /// Pushes an image of `layers` whose config carries `label` (distinct labels, distinct digests).
    pub fn push(&mut self, repository: &str, tag: &str, layers: &[&Layer], label: &str) -> Pushed {
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Labels": {"org.strata.test": label}},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
            "history": layers.iter().enumerate().map(|(i, _)| json!({"created_by": format!("layer {i}")})).collect::<Vec<_>>(),
        }))
        .expect("json");
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
            "layers": layers.iter().map(|l| json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": l.digest, "size": l.size()
            })).collect::<Vec<_>>(),
        }))
        .expect("json");
        let mut blobs: Vec<(String, Arc<Vec<u8>>)> = layers.iter().map(|l| (l.digest.clone(), l.gz.clone())).collect();
        blobs.push((sha256(&config), Arc::new(config)));
        let digest = sha256(&manifest);
        self.manifests.insert(digest.clone(), (Arc::new(manifest), blobs));
        self.tag(repository, tag, &digest)
    }

    /// Points `repository:tag` at a manifest pushed before (into any repository).
    pub fn tag(&mut self, repository: &str, tag: &str, digest: &str) -> Pushed {
        let (manifest, blobs) = self.manifests.get(digest).cloned().expect("a manifest this populator pushed");
        for (blob, bytes) in &blobs {
            self.ensure_blob(repository, blob, bytes);
        }
        let put = self.registry.http(
            "PUT",
            &format!("/v2/{repository}/manifests/{tag}"),
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            &manifest,
        );
        assert_eq!(put.status, 201, "PUT {repository}:{tag}: {}", put.text());
        assert_eq!(put.header("docker-content-digest"), Some(digest), "{repository}:{tag}");
        Pushed { repository: repository.into(), tag: tag.into(), digest: digest.into() }
    }

    fn ensure_blob(&mut self, repository: &str, digest: &str, bytes: &[u8]) {
        if !self.present.insert((repository.to_string(), digest.to_string())) {
            return;
        }
        match self.homes.get(digest) {
            Some(from) => {
                let path = format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={from}");
                let mount = self.registry.http("POST", &path, &[], &[]);
                assert_eq!(mount.status, 201, "mounting {digest} from {from} into {repository}: {}", mount.text());
            }
            None => {
                assert_eq!(self.registry.upload_blob(repository, bytes), digest);
                self.homes.insert(digest.to_string(), repository.to_string());
            }
        }
    }
}
