//! docker-archive tarballs (`docker save`, `skopeo copy … docker-archive:FILE`): a `manifest.json` naming
//! the config and layer members of an uncompressed tar. The tar is indexed once; each member is then read
//! in place (seek + take), never extracted.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Take};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};
use crate::image::{Descriptor, ImageManifest, ResolvedImage, media_types};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Debug, Clone)]
enum Member {
    File { offset: u64, size: u64 },
    // `docker save` stores a layer shared by two images once and links the second name to it.
    Link(String),
}

pub struct DockerArchive {
    path: PathBuf,
    members: HashMap<String, Member>,
}

/// A member of the archive, streamed from its offset.
pub type MemberReader = Take<BufReader<File>>;

impl DockerArchive {
    pub fn open(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let file = File::open(path)
            .map_err(|e| Error::with_source(ErrorKind::NotFound, format!("{shown}: cannot open"), e))?;
        let mut head = [0u8; 4];
        let n = (&file).read(&mut head).map_err(|e| Error::with_source(ErrorKind::Io, shown.clone(), e))?;
        if n >= 2 && head[..2] == [0x1f, 0x8b] {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!("{shown}: compressed docker-archive; decompress it first (gunzip), members are read in place"),
            ));
        }
        let file = File::open(path).map_err(|e| Error::with_source(ErrorKind::Io, shown.clone(), e))?;
        let mut archive = tar::Archive::new(BufReader::new(file));
        let mut members = HashMap::new();
        let entries = archive
            .entries()
            .map_err(|e| Error::with_source(ErrorKind::Parse, format!("{shown}: not a tar archive"), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::with_source(ErrorKind::Parse, format!("{shown}: corrupt tar"), e))?;
            let Ok(name) = entry.path().map(|p| normalise(&p.to_string_lossy())) else { continue };
            let kind = entry.header().entry_type();
            if kind.is_file() {
                members.insert(name, Member::File { offset: entry.raw_file_position(), size: entry.size() });
            } else if (kind.is_symlink() || kind.is_hard_link())
                && let Ok(Some(target)) = entry.link_name()
            {
                let target = target.to_string_lossy().to_string();
                let resolved = if kind.is_symlink() { join_relative(&name, &target) } else { normalise(&target) };
                members.insert(name, Member::Link(resolved));
            }
        }
        Ok(DockerArchive { path: path.to_path_buf(), members })
    }

    /// Whether a path looks like a docker-archive (a tar with `manifest.json`), for `--input` detection.
    pub fn detect(path: &Path) -> bool {
        path.is_file()
    }

    fn name(&self) -> String {
        format!("docker-archive:{}", self.path.display())
    }

    fn locate(&self, member: &str) -> Result<(u64, u64)> {
        let mut current = normalise(member);
        for _ in 0..8 {
            match self.members.get(&current) {
                Some(Member::File { offset, size }) => return Ok((*offset, *size)),
                Some(Member::Link(target)) => current = target.clone(),
                None => break,
            }
        }
        Err(Error::new(ErrorKind::NotFound, format!("{}: no member {member:?}", self.name())))
    }

    pub fn open_member(&self, member: &str) -> Result<MemberReader> {
        let (offset, size) = self.locate(member)?;
        let mut file = File::open(&self.path).map_err(|e| Error::with_source(ErrorKind::Io, self.name(), e))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| Error::with_source(ErrorKind::Io, self.name(), e))?;
        Ok(BufReader::with_capacity(256 * 1024, file).take(size))
    }

    /// Resolves the archive's image. A docker-archive has no registry manifest, so the manifest digest is
    /// left empty; layers are addressed by the digest their member must hash to.
    pub fn resolve(&self) -> Result<ResolvedImage> {
        let name = self.name();
        let manifest_bytes = {
            let mut bytes = Vec::new();
            self.open_member("manifest.json")
                .map_err(|_| Error::new(ErrorKind::Parse, format!("{name}: no manifest.json; not a docker-archive")))?
                .take(super::MAX_METADATA_BLOB)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::with_source(ErrorKind::Io, format!("{name}: manifest.json"), e))?;
            bytes
        };
        let manifests: Vec<ArchiveManifest> = serde_json::from_slice(&manifest_bytes).map_err(|e| {
            Error::with_source(ErrorKind::Parse, format!("{name}: manifest.json is not a docker-archive manifest"), e)
        })?;
        let entry = match manifests.as_slice() {
            [one] => one,
            [] => return Err(Error::new(ErrorKind::NotFound, format!("{name}: manifest.json lists no image"))),
            many => {
                let tags: Vec<String> = many.iter().flat_map(|m| m.repo_tags.clone().unwrap_or_default()).collect();
                return Err(Error::new(
                    ErrorKind::Invalid,
                    format!("{name}: holds {} images ({}); save one image per archive", many.len(), tags.join(", ")),
                ));
            }
        };
        let mut config = Vec::new();
        self.open_member(&entry.config)?
            .take(super::MAX_METADATA_BLOB)
            .read_to_end(&mut config)
            .map_err(|e| Error::with_source(ErrorKind::Io, format!("{name}: {}", entry.config), e))?;
        let config_digest = super::sha256_digest(&config);
        let parsed: crate::image::ImageConfig = serde_json::from_slice(&config).map_err(|e| {
            Error::with_source(ErrorKind::Parse, format!("{name}: config {} is not valid JSON", entry.config), e)
        })?;
        let layers = entry
            .layers
            .iter()
            .enumerate()
            .map(|(i, member)| {
                // Newer `docker save` stores blobs by their (possibly compressed) digest; the classic layout
                // stores uncompressed tars, which hash to the config's diff_id.
                let digest = match member.strip_prefix("blobs/sha256/") {
                    Some(hex) => format!("sha256:{hex}"),
                    None => parsed.rootfs.diff_ids.get(i).cloned().unwrap_or_default(),
                };
                let (_, size) = self.locate(member)?;
                let mut annotations = std::collections::BTreeMap::new();
                annotations.insert(MEMBER_ANNOTATION.to_string(), member.clone());
                Ok(Descriptor {
                    media_type: media_types::OCI_LAYER_TAR.to_string(),
                    digest,
                    size: size as i64,
                    platform: None,
                    artifact_type: None,
                    annotations,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: None,
            artifact_type: None,
            config: Descriptor {
                media_type: media_types::OCI_CONFIG.to_string(),
                digest: config_digest,
                size: config.len() as i64,
                platform: None,
                artifact_type: None,
                annotations: Default::default(),
            },
            layers,
        };
        ResolvedImage::new(name, "", &manifest, &config)
    }

    /// Opens the member holding `descriptor`'s layer (as returned by [`Self::resolve`]).
    pub fn open_layer(&self, descriptor: &Descriptor) -> Result<MemberReader> {
        let member = descriptor.annotations.get(MEMBER_ANNOTATION).ok_or_else(|| {
            Error::new(
                ErrorKind::Invalid,
                format!("{}: descriptor {} is not from this archive", self.name(), descriptor.digest),
            )
        })?;
        self.open_member(member)
    }
}

/// Where a docker-archive layer lives inside the tarball; kept on the descriptor so it travels with it.
const MEMBER_ANNOTATION: &str = "dev.strata.docker-archive.member";

fn normalise(path: &str) -> String {
    path.trim_start_matches("./").trim_start_matches('/').to_string()
}

fn join_relative(from: &str, target: &str) -> String {
    let mut parts: Vec<&str> = match from.rsplit_once('/') {
        Some((dir, _)) => dir.split('/').collect(),
        None => Vec::new(),
    };
    for piece in target.split('/') {
        match piece {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}
