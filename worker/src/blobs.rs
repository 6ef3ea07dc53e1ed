//! Where workers get layer blobs. In the fleet: the registry, with the worker's own credentials (jobs
//! never carry any). In local mode: whatever source the image came from.

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
        let stream = self.client.open_blob(&job.repository, &descriptor(job)).await?;
        Ok(Box::new(strata_registry::blocking_reader(stream)))
    }
}
