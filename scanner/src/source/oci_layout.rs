//! OCI image layout directories (`skopeo copy … oci:DIR:TAG`): `index.json` plus `blobs/<alg>/<hex>`.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::image::{Descriptor, ImageIndex, Manifest, Platform, ResolvedImage, parse_manifest};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub struct OciLayout {
    dir: PathBuf,
    tag: Option<String>,
}

impl OciLayout {
    /// `spec` is `DIR` or `DIR:TAG`; a directory whose own name contains `:` is taken whole if it exists.
    pub fn open(spec: &str) -> Result<Self> {
        let (dir, tag) = match spec.rsplit_once(':') {
            Some((dir, tag)) if !Path::new(spec).is_dir() && !tag.contains('/') => (dir, Some(tag.to_string())),
            _ => (spec, None),
        };
        let dir = PathBuf::from(dir);
        if !dir.join("index.json").is_file() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("{}: not an OCI image layout (no index.json)", dir.display()),
            ));
        }
        Ok(OciLayout { dir, tag })
    }

    /// Whether a path looks like an OCI layout (has `index.json`), for `--input` auto-detection.
    pub fn detect(spec: &str) -> bool {
        let dir = spec.rsplit_once(':').filter(|_| !Path::new(spec).is_dir()).map_or(spec, |(d, _)| d);
        Path::new(dir).join("index.json").is_file()
    }

    fn name(&self) -> String {
        match &self.tag {
            Some(tag) => format!("oci:{}:{tag}", self.dir.display()),
            None => format!("oci:{}", self.dir.display()),
        }
    }

    pub fn resolve(&self, platform: &Platform) -> Result<ResolvedImage> {
        let name = self.name();
        let index_path = self.dir.join("index.json");
        let bytes = std::fs::read(&index_path)
            .map_err(|e| Error::with_source(ErrorKind::Io, format!("{name}: reading {}", index_path.display()), e))?;
        let index = match parse_manifest(&bytes, None).map_err(|e| e.context(format!("{name}: index.json")))? {
            Manifest::Index(index) => index,
            Manifest::Image(_) => {
                return Err(Error::new(ErrorKind::Parse, format!("{name}: index.json is not an image index")));
            }
        };
        let chosen = self.choose(&index, platform).map_err(|e| e.context(&name))?;
        let fetch = |digest: &str, what: &str| {
            let file = self.open_blob(digest).map_err(|e| e.context(&name))?;
            super::read_verified(file, digest, what).map_err(|e| e.context(&name))
        };
        super::resolve_descriptor(&name, chosen, platform, &fetch)
    }

    fn choose<'a>(&self, index: &'a ImageIndex, platform: &Platform) -> Result<&'a Descriptor> {
        let tagged: Vec<&Descriptor> = match &self.tag {
            Some(tag) => index
                .manifests
                .iter()
                .filter(|d| d.annotations.get(REF_NAME).is_some_and(|r| r == tag || r.ends_with(&format!(":{tag}"))))
                .collect(),
            None => index.manifests.iter().collect(),
        };
        match tagged.as_slice() {
            [] => {
                let tags: Vec<&str> =
                    index.manifests.iter().filter_map(|d| d.annotations.get(REF_NAME)).map(String::as_str).collect();
                Err(Error::new(
                    ErrorKind::NotFound,
                    format!("no image tagged {:?} (tags: {})", self.tag.as_deref().unwrap_or(""), tags.join(", ")),
                ))
            }
            [one] => Ok(one),
            // Several manifests under one tag (or no tag given): a flattened multi-platform layout.
            many => many.iter().copied().find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p))).ok_or_else(
                || {
                    Error::new(
                        ErrorKind::NotFound,
                        format!("{} manifests and none for platform {platform}; name a tag", many.len()),
                    )
                },
            ),
        }
    }

    /// Opens a blob for streaming. The caller verifies the digest while reading.
    pub fn open_blob(&self, digest: &str) -> Result<BufReader<File>> {
        let (alg, hex) = super::digest_hex(digest)?;
        let path = self.dir.join("blobs").join(alg).join(hex);
        File::open(&path)
            .map(|f| BufReader::with_capacity(256 * 1024, f))
            .map_err(|e| Error::with_source(ErrorKind::NotFound, format!("blob {digest} ({})", path.display()), e))
    }
}
