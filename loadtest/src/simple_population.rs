//! The image population: one real base layer (the debootstrapped bullseye root filesystem, as an image
//! would have it) shared by every image, plus one small app layer per image, pushed by HTTP (three
//! requests per image) rather than one skopeo process per image, so 10,000 images push in minutes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::json;
use strata_testkit::fixtures;
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

pub struct Population {
    pub references: Vec<String>,
}

fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut child = Command::new("gzip")
        .args(["-n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().context("gzip stdin")?;
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    std::io::Read::read_to_end(child.stdout.as_mut().context("gzip stdout")?, &mut out)?;
    writer.join().map_err(|_| anyhow::anyhow!("gzip writer"))??;
    child.wait()?;
    Ok(out)
}

fn sha256_file(path: &Path) -> Result<String> {
    let out = Command::new("sha256sum").arg(path).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(format!("sha256:{}", text.split_whitespace().next().context("sha256sum output")?))
}

pub fn push(registry: &TestRegistry, images: usize) -> Result<Population> {
    let rootfs = fixtures::bullseye_rootfs();
    let base_diff = sha256_file(&rootfs)?;
    let base_gz = gzip(&std::fs::read(&rootfs)?)?;
    let mut references = Vec::with_capacity(images);
    let base_digest = strata_testkit::sha256(&base_gz);
    let mut base_in = std::collections::HashSet::new();
    for i in 0..images {
        let repo = format!("load/app{}", i % 50);
        if base_in.is_empty() {
            registry.upload_blob(&repo, &base_gz);
        } else if !base_in.contains(&repo) {
            // Cross-repository mount: the registry links the blob it has instead of taking it again.
            let from = base_in.iter().next().cloned().unwrap_or_default();
            let mount =
                registry.http("POST", &format!("/v2/{repo}/blobs/uploads/?mount={base_digest}&from={from}"), &[], &[]);
            if mount.status != 201 {
                bail!("mounting the base layer into {repo}: HTTP {}", mount.status);
            }
        }
        base_in.insert(repo.clone());
        let app_tar = TarBuilder::new().file(&format!("srv/app/{i}.txt"), format!("image {i}\n").as_bytes()).build();
        let app_diff = strata_testkit::sha256(&app_tar);
        let app_gz = gzip(&app_tar)?;
        let app_digest = registry.upload_blob(&repo, &app_gz);
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [base_diff, app_diff]},
            "history": [{"created_by": "ADD bullseye-minbase /"}, {"created_by": format!("COPY app-{i} /srv/app/")}]
        }))?;
        let config_digest = registry.upload_blob(&repo, &config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": base_digest, "size": base_gz.len()},
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": app_digest, "size": app_gz.len()}
            ]
        }))?;
        let tag = format!("v{i}");
        let put = registry.http(
            "PUT",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            &manifest,
        );
        if put.status != 201 {
            bail!("pushing {repo}:{tag}: HTTP {} {}", put.status, put.text());
        }
        references.push(format!("{}/{repo}:{tag}", registry.host()));
    }
    Ok(Population { references })
}

/// The DB from the committed real Debian advisories for the base's packages.
pub fn build_db(bins: &strata_testkit::fleet::Bins, dir: &Path) -> Result<PathBuf> {
    let out = dir.join("strata.db");
    let status = Command::new(&bins.strata)
        .args(["db", "build", "--out"])
        .arg(&out)
        .arg("--osv")
        .arg(strata_testkit::debian::minbase_osv())
        .output()?;
    if !status.status.success() {
        bail!("strata db build: {}", String::from_utf8_lossy(&status.stderr));
    }
    Ok(out)
}
