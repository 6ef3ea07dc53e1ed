//! Writing hostile images without holding them: each layer's tar is generated into a stream that is
//! hashed (diff_id), compressed and hashed again (digest) on its way to the blob file, so a 300 MB SQLite
//! file or 150k tar entries cost only their compressed size on disk.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::image::{Compression, HashWriter, OCI_CONFIG, OCI_MANIFEST, add_to_index, blob_path, write_blob};

/// The tag every hostile layout is written under.
pub const TAG: &str = "hostile";

/// A layer blob and what the config says of it.
pub struct Blob {
    pub digest: String,
    pub size: u64,
    pub diff_id: String,
    pub media_type: &'static str,
}

/// What was written: the layer digests, for asserting that an error names one of them.
#[derive(Debug, Clone)]
pub struct Written {
    pub layer_digests: Vec<String>,
}

fn hashing<W: Write>(inner: W) -> HashWriter<W> {
    HashWriter { inner, hasher: Sha256::new(), bytes: 0 }
}

fn sha256_of<W>(writer: &HashWriter<W>) -> String {
    format!("sha256:{}", hex::encode(writer.hasher.clone().finalize()))
}

fn media_type(compression: Compression) -> &'static str {
    match compression {
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
    }
}

fn tmp_blob(dir: &Path) -> (std::path::PathBuf, HashWriter<BufWriter<File>>) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("create layout");
    let tmp = dir.join(format!("blobs/sha256/.tmp-hostile-{}", std::process::id()));
    (tmp.clone(), hashing(BufWriter::new(File::create(&tmp).expect("create blob"))))
}

/// Streams the tar that `write_tar` produces into a compressed layer blob of the layout at `dir`.
pub fn layer(dir: &Path, compression: Compression, write_tar: impl FnOnce(&mut dyn Write)) -> Blob {
    let (tmp, mut compressed) = tmp_blob(dir);
    let diff_id = {
        let mut encoder: Box<dyn Write + '_> = match compression {
            Compression::Gzip => Box::new(flate2::write::GzEncoder::new(&mut compressed, flate2::Compression::fast())),
            Compression::Zstd => Box::new(zstd::Encoder::new(&mut compressed, 1).expect("zstd").auto_finish()),
            Compression::None => Box::new(&mut compressed),
        };
        let mut tar = hashing(&mut encoder);
        write_tar(&mut tar);
        let diff_id = sha256_of(&tar);
        encoder.flush().expect("flush layer");
        diff_id
    };
    compressed.flush().expect("flush layer");
    finish(&tmp, compressed, diff_id, media_type(compression))
}

/// A layer blob written as is (already compressed by the caller). Its diff_id is not computed: that
/// would mean decompressing it, which for a bomb is the point not to do; Strata does not check diff_ids
/// of OCI layouts, so the config carries the blob digest in its place.
pub fn raw_layer(dir: &Path, media: &'static str, write: impl FnOnce(&mut dyn Write)) -> Blob {
    let (tmp, mut out) = tmp_blob(dir);
    write(&mut out);
    out.flush().expect("flush layer");
    let digest = sha256_of(&out);
    finish(&tmp, out, digest, media)
}

fn finish(tmp: &Path, out: HashWriter<BufWriter<File>>, diff_id: String, media_type: &'static str) -> Blob {
    let digest = sha256_of(&out);
    let size = out.bytes;
    drop(out);
    std::fs::rename(
        tmp,
        blob_path(tmp.parent().and_then(Path::parent).and_then(Path::parent).expect("layout"), &digest),
    )
    .expect("rename blob");
    Blob { digest, size, diff_id, media_type }
}

/// Writes config, manifest and `index.json` (tag [`TAG`]) over `layers`, in order.
pub fn image(dir: &Path, layers: Vec<Blob>) -> Written {
    let history: Vec<_> = (0..layers.len())
        .map(|i| json!({"created": "2024-01-01T00:00:00Z", "created_by": format!("hostile layer {i}")}))
        .collect();
    let config = json!({
        "created": "2024-01-01T00:00:00Z", "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>()},
        "history": history,
    });
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let config_digest = write_blob(dir, &config_bytes);
    let descriptors: Vec<_> =
        layers.iter().map(|l| json!({"mediaType": l.media_type, "digest": l.digest, "size": l.size})).collect();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_bytes.len()},
        "layers": descriptors,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("json");
    let manifest_digest = write_blob(dir, &manifest_bytes);
    add_to_index(dir, OCI_MANIFEST, &manifest_digest, manifest_bytes.len() as u64, TAG, None);
    Written { layer_digests: layers.into_iter().map(|l| l.digest).collect() }
}
