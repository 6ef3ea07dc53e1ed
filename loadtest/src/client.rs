//! The fleet's public gRPC API as a nightly job would use it: one `SubmitScans` stream for the whole list,
//! `WatchScans` for progress, `ListScans` to read the outcome. The watch is kept alive across coordinator,
//! Redis and RabbitMQ trouble (reconnecting, and reconciling with `ListScans`), because a load test
//! must see the end of a run that had faults.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use strata_proto::v1::scan_service_client::ScanServiceClient;
use strata_proto::v1::{ListScansRequest, Scan, ScanOptions, SubmitScanRequest, WatchScansRequest};
use tonic::transport::Channel;

pub type Client = ScanServiceClient<Channel>;

pub async fn connect(url: &str) -> Result<Client> {
    let channel = Channel::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("connecting to the coordinator at {url}"))?;
    Ok(ScanServiceClient::new(channel).max_decoding_message_size(512 * 1024 * 1024))
}

fn labels(night: u32) -> HashMap<String, String> {
    HashMap::from([("loadtest-night".to_string(), night.to_string())])
}

/// Submits every reference in one client stream, labelled with the night. Returns the scan ids in order.
pub async fn submit(client: &mut Client, references: &[String], night: u32) -> Result<Vec<String>> {
    let options = ScanOptions { labels: labels(night), ..ScanOptions::default() };
    let requests: Vec<SubmitScanRequest> =
        references.iter().map(|r| SubmitScanRequest { reference: r.clone(), options: Some(options.clone()) }).collect();
    Ok(client.submit_scans(tokio_stream::iter(requests)).await.context("SubmitScans")?.into_inner().scan_ids)
}

/// The scans of one night, as the coordinator has them now.
pub async fn list(client: &mut Client, night: u32) -> Result<Vec<Scan>> {
    let request = ListScansRequest { labels: labels(night), ..ListScansRequest::default() };
    Ok(client.list_scans(request).await.context("ListScans")?.into_inner().scans)
}

/// Which scans the watch has seen finish.
#[derive(Default)]
pub struct Progress {
    finished: Mutex<HashMap<String, i32>>,
    count: AtomicUsize,
    pub reconnects: AtomicUsize,
    /// Set once `SubmitScans` returned: faults wait for it (a Redis restart mid-submit fails the call).
    pub submitted: std::sync::atomic::AtomicBool,
}

impl Progress {
    pub fn record(&self, scan: &Scan) {
        if strata_proto::status::is_terminal(scan.status) {
            let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
            if finished.insert(scan.id.clone(), scan.status).is_none() {
                self.count.store(finished.len(), Ordering::Relaxed);
            }
        }
    }

    pub fn finished(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

/// Watches every scan of the fleet until aborted, reconnecting when the stream breaks.
pub fn spawn_watch(url: String, progress: Arc<Progress>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Ok(mut client) = connect(&url).await
                && let Ok(response) = client.watch_scans(WatchScansRequest { ids: Vec::new() }).await
            {
                let mut stream = response.into_inner();
                while let Ok(Some(event)) = stream.message().await {
                    if let Some(scan) = event.scan {
                        progress.record(&scan);
                    }
                }
            }
            progress.reconnects.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}
