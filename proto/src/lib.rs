//! Strata's wire contract, generated from `strata/v1/scan.proto`: the `ScanService` the coordinator serves
//! and the CLI calls, and the `LayerJob` / `LayerResult` messages that travel over RabbitMQ and sit in the
//! Redis layer cache. Little logic lives here: `LayerJob`'s `Debug`, which hides a lent pull token, and what a
//! scan status means ([`status`]).

#![allow(clippy::all)]

pub mod v1 {
    tonic::include_proto!("strata.v1");
}

pub mod status;

impl std::fmt::Debug for v1::LayerJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerJob")
            .field("digest", &self.digest)
            .field("media_type", &self.media_type)
            .field("size", &self.size)
            .field("repository", &self.repository)
            .field("analyzer_version", &self.analyzer_version)
            .field("scan_id", &self.scan_id)
            .field("traceparent", &self.traceparent)
            .field("pull_token", &if self.pull_token.is_empty() { "" } else { "<redacted>" })
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_layer_jobs_debug_hides_its_pull_token() {
        let job =
            super::v1::LayerJob { digest: "sha256:ab".into(), pull_token: "eyJ-secret".into(), ..Default::default() };
        let shown = format!("{job:?}");
        assert!(
            shown.contains("sha256:ab") && shown.contains("<redacted>") && !shown.contains("eyJ-secret"),
            "{shown}"
        );
    }
}
