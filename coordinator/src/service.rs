//! The gRPC `ScanService`: thin translation between the wire and the [`Runner`].

use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use strata_proto::status::is_terminal;
use strata_proto::v1::scan_service_server::ScanService;
use strata_proto::v1::{
    CancelScanRequest, GetReportRequest, GetScanRequest, ListScansRequest, ListScansResponse, ReportResponse,
    RescanRequest, RescanResponse, Scan, ScanEvent, SubmitScanRequest, SubmitScansResponse, SweepReport, SweepRequest,
    WatchScansRequest,
};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tonic::{Request, Response, Status, Streaming};

use crate::runner::{Runner, repository_of};

pub struct ScanApi {
    runner: Arc<Runner>,
    sweeper: Arc<crate::sweep::Sweeper>,
}

impl ScanApi {
    pub fn new(runner: Arc<Runner>, sweeper: Arc<crate::sweep::Sweeper>) -> Self {
        ScanApi { runner, sweeper }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<ScanEvent, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl ScanService for ScanApi {
    async fn submit_scans(
        &self,
        request: Request<Streaming<SubmitScanRequest>>,
    ) -> Result<Response<SubmitScansResponse>, Status> {
        // The client's trace context (`strata submit`'s span): every scan of this call runs as its child.
        let traceparent = request
            .metadata()
            .get(strata_fleet::telemetry::TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .filter(|v| strata_fleet::telemetry::is_valid_traceparent(v))
            .map(str::to_string);
        let mut stream = request.into_inner();
        let mut scan_ids = Vec::new();
        while let Some(item) = stream.message().await? {
            let options = item.options.unwrap_or_default();
            let id = self.runner.submit(item.reference, options, traceparent.clone()).await?;
            scan_ids.push(id);
        }
        Ok(Response::new(SubmitScansResponse { scan_ids }))
    }

    async fn get_scan(&self, request: Request<GetScanRequest>) -> Result<Response<Scan>, Status> {
        Ok(Response::new(self.runner.store.get(&request.into_inner().id).await?))
    }

    async fn list_scans(&self, request: Request<ListScansRequest>) -> Result<Response<ListScansResponse>, Status> {
        let request = request.into_inner();
        let scans = if request.active_only {
            let ids = self.runner.store.active_ids().await?;
            self.runner.store.get_many(&ids).await?
        } else {
            self.runner.store.list().await?
        };
        let mut scans: Vec<Scan> =
            scans.into_iter().filter(|s| request.labels.iter().all(|(k, v)| s.labels.get(k) == Some(v))).collect();
        if request.limit > 0 {
            let keep = request.limit as usize;
            let skip = scans.len().saturating_sub(keep);
            scans.drain(..skip);
        }
        Ok(Response::new(ListScansResponse { scans }))
    }

    type WatchScansStream = EventStream;

    async fn watch_scans(
        &self,
        request: Request<WatchScansRequest>,
    ) -> Result<Response<Self::WatchScansStream>, Status> {
        let ids = request.into_inner().ids;
        // Subscribe first, then send current states, so no update falls in between.
        let updates = BroadcastStream::new(self.runner.store.subscribe());
        let current = if ids.is_empty() { Vec::new() } else { self.runner.store.get_many(&ids).await? };
        let wanted = ids.clone();
        let initial = tokio_stream::iter(current.into_iter().map(|scan| Ok(ScanEvent { scan: Some(scan) })));
        let live = updates.filter_map(move |update| match update {
            Ok(scan) if wanted.is_empty() || wanted.contains(&scan.id) => Some(Ok(ScanEvent { scan: Some(scan) })),
            Ok(_) => None,
            Err(_) => Some(Err(Status::data_loss("watch fell behind; re-read the scans with GetScan"))),
        });
        // Ends with the coordinator, so that its graceful stop is not held up by a watch that never ends.
        let live = futures_util::StreamExt::take_until(live, self.runner.tasks.stopped());
        Ok(Response::new(Box::pin(initial.chain(live))))
    }

    async fn cancel_scan(&self, request: Request<CancelScanRequest>) -> Result<Response<Scan>, Status> {
        Ok(Response::new(self.runner.cancel(&request.into_inner().id).await?))
    }

    async fn rescan(&self, request: Request<RescanRequest>) -> Result<Response<RescanResponse>, Status> {
        let request = request.into_inner();
        if !request.all && request.labels.is_empty() && request.repository.is_empty() {
            return Err(Status::invalid_argument("say which scans: all, labels or repository"));
        }
        let selected: Vec<Scan> = self
            .runner
            .store
            .list()
            .await?
            .into_iter()
            .filter(|s| is_terminal(s.status))
            .filter(|s| request.labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .filter(|s| request.repository.is_empty() || repository_of(&s.reference) == request.repository)
            .collect();
        let results = self.runner.rescan(latest_per_reference(selected)).await?;
        Ok(Response::new(RescanResponse { results }))
    }

    async fn get_report(&self, request: Request<GetReportRequest>) -> Result<Response<ReportResponse>, Status> {
        let json = self.runner.store.get_report(&request.into_inner().id).await?;
        Ok(Response::new(ReportResponse { json }))
    }

    async fn get_deliveries(
        &self,
        request: Request<strata_proto::v1::GetDeliveriesRequest>,
    ) -> Result<Response<strata_proto::v1::GetDeliveriesResponse>, Status> {
        let Some(outbox) = self.runner.outbox.get() else {
            return Ok(Response::new(strata_proto::v1::GetDeliveriesResponse::default()));
        };
        let entries = outbox.for_scans(&request.into_inner().scan_ids).await?;
        Ok(Response::new(strata_proto::v1::GetDeliveriesResponse {
            deliveries: entries.iter().map(|e| e.to_proto()).collect(),
            totals: Some(outbox.totals().await?),
            enabled: true,
        }))
    }

    async fn resend_deliveries(
        &self,
        request: Request<strata_proto::v1::ResendDeliveriesRequest>,
    ) -> Result<Response<strata_proto::v1::GetDeliveriesResponse>, Status> {
        let Some(outbox) = self.runner.outbox.get() else {
            return Err(Status::failed_precondition("this coordinator has no DefectDojo configured"));
        };
        let entries = outbox.resend(&request.into_inner().ids).await?;
        Ok(Response::new(strata_proto::v1::GetDeliveriesResponse {
            deliveries: entries.iter().map(|e| e.to_proto()).collect(),
            totals: Some(outbox.totals().await?),
            enabled: true,
        }))
    }

    async fn sweep(&self, request: Request<SweepRequest>) -> Result<Response<SweepReport>, Status> {
        let request = request.into_inner();
        if request.registry.trim().is_empty() {
            return Err(Status::invalid_argument("say which registry to sweep"));
        }
        // A waiting sweep can take hours: the stop ends the call, not the scans it submitted.
        tokio::select! {
            report = self.sweeper.sweep(&request, "request") => Ok(Response::new(report?)),
            _ = self.runner.tasks.stopped() => {
                Err(Status::unavailable("the coordinator is stopping; the sweep's scans go on (strata status)"))
            }
        }
    }

    async fn query(
        &self,
        request: Request<strata_proto::v1::FleetQueryRequest>,
    ) -> Result<Response<strata_proto::v1::FleetAnswer>, Status> {
        let answer = crate::query::answer::query(&self.runner.store, &request.into_inner().into()).await?;
        Ok(Response::new(crate::query::to_proto(&answer)?))
    }

    async fn rollup(
        &self,
        request: Request<strata_proto::v1::RollupRequest>,
    ) -> Result<Response<strata_proto::v1::FleetAnswer>, Status> {
        let answer = crate::query::answer::rollup(&self.runner.store, &request.into_inner().into()).await?;
        Ok(Response::new(crate::query::to_proto(&answer)?))
    }
}

/// A nightly run scans the same reference every night; a rescan re-matches each reference's latest scan.
fn latest_per_reference(scans: Vec<Scan>) -> Vec<Scan> {
    let mut latest: std::collections::BTreeMap<String, Scan> = std::collections::BTreeMap::new();
    for scan in scans {
        match latest.get(&scan.reference) {
            Some(existing) if existing.created_unix_ms >= scan.created_unix_ms => {}
            _ => {
                latest.insert(scan.reference.clone(), scan);
            }
        }
    }
    latest.into_values().collect()
}
