//! Where workers get layer blobs. In the fleet: the registry, with the worker's own credentials, or with
//! only the pull token a job carries for a scan whose credential Harbor lent (so a lent credential is used
//! by every party of its scan or by none). In local mode: whatever source the image came from.

use std::io::Read;

use async_trait::async_trait;
use strata_fleet::LayerJob;
use strata_registry::RegistryClient;
use strata_scanner::image::Descriptor;

#[async_trait]
pub trait BlobSource: Send + Sync + 'static {
    /// Opens the job's blob as a blocking reader, to be read inside `spawn_blocking` only.
    async fn open(&self, job: &LayerJob) -> anyhow::Result<Box<dyn Read + Send>>;
}

pub struct RegistryBlobs {
    client: RegistryClient,
}

impl RegistryBlobs {
    pub fn new(client: RegistryClient) -> Self {
        RegistryBlobs { client }
    }
}

/// The descriptor a job stands for.
pub fn descriptor(job: &LayerJob) -> Descriptor {
    Descriptor {
        media_type: job.media_type.clone(),
        digest: job.digest.clone(),
        size: job.size,
        platform: None,
        artifact_type: None,
        annotations: Default::default(),
    }
}

#[async_trait]
impl BlobSource for RegistryBlobs {
    async fn open(&self, job: &LayerJob) -> anyhow::Result<Box<dyn Read + Send>> {
        let descriptor = descriptor(job);
        let reader: Box<dyn Read + Send> = if job.pull_token.is_empty() {
            Box::new(strata_registry::blocking_reader(self.client.open_blob(&job.repository, &descriptor).await?))
        } else {
            let stream = self.client.open_blob_with_token(&job.repository, &descriptor, &job.pull_token).await?;
            Box::new(strata_registry::blocking_reader(stream))
        };
        Ok(reader)
    }
}
