//! The unattended sweep: a cron schedule (`STRATA_SWEEP_SCHEDULE`, evaluated in UTC) on which the
//! coordinator sweeps one registry. Every replica keeps the schedule; at each tick the one that claims
//! it in Redis (`SET NX` on a key named by the tick's time) runs the sweep and the others skip it, so a
//! tick runs once however many replicas there are. Scheduled sweeps wait for the scans they submit, so
//! their report and metrics count the scans that failed.

use std::sync::Arc;

use chrono::Utc;
use croner::Cron;
use strata_proto::v1::SweepRequest;

use crate::error::{CoordinatorError, Result};
use crate::store::ScanStore;
use crate::sweep::Sweeper;
use crate::tasks::Tasks;

/// What to sweep, and when.
#[derive(Clone, Debug)]
pub struct ScheduledSweep {
    /// Cron syntax: five fields (minute granularity) or six (with seconds first), `@daily` and the like.
    pub cron: String,
    pub registry: String,
    /// Include patterns; every repository when empty.
    pub repositories: Vec<String>,
}

impl ScheduledSweep {
    /// Checks the settings, so that a bad schedule stops the coordinator at startup rather than never firing.
    pub fn validate(&self) -> Result<Cron> {
        if self.registry.trim().is_empty() {
            return Err(CoordinatorError::Invalid(
                "STRATA_SWEEP_SCHEDULE is set but STRATA_SWEEP_REGISTRY is not: say which registry to sweep".into(),
            ));
        }
        parse(&self.cron)
    }
}

pub fn parse(cron: &str) -> Result<Cron> {
    cron.parse::<Cron>().map_err(|e| CoordinatorError::Invalid(format!("sweep schedule {cron:?}: {e}")))
}

/// Runs the schedule until the coordinator stops. A sweep the stop interrupts is recorded as such; the
/// scans it submitted go on (they are in Redis, and resumed).
pub fn start(sweeper: Arc<Sweeper>, store: ScanStore, schedule: ScheduledSweep, tasks: &Tasks) -> Result<()> {
    let cron = schedule.validate()?;
    let owner = uuid::Uuid::new_v4().to_string();
    let request = SweepRequest {
        registry: schedule.registry.clone(),
        repositories: schedule.repositories.clone(),
        wait: true,
        ..SweepRequest::default()
    };
    tracing::info!(schedule = %schedule.cron, registry = %schedule.registry, "sweep schedule");
    let tasks = tasks.clone();
    tasks.clone().spawn_graceful(async move {
        let mut last = Utc::now();
        loop {
            // Strictly after the last tick: waking a hair early must not run one tick twice.
            let from = Utc::now().max(last);
            let next = match cron.find_next_occurrence(&from, false) {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(schedule = %schedule.cron, error = %e, "the sweep schedule has no next tick");
                    return;
                }
            };
            last = next;
            if let Ok(wait) = (next - Utc::now()).to_std()
                && !tasks.sleep(wait).await
            {
                return;
            }
            let tick = next.timestamp();
            match store.claim_sweep_tick(tick, &owner).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!(tick, "another replica runs this sweep");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(tick, error = %e, "cannot claim the scheduled sweep; skipping this tick");
                    continue;
                }
            }
            let outcome = tokio::select! {
                outcome = sweeper.sweep(&request, "schedule") => Some(outcome),
                _ = tasks.stopped() => None,
            };
            let Some(outcome) = outcome else {
                let summary = serde_json::json!({"tick": tick, "owner": owner, "registry": request.registry,
                    "error": "interrupted: the coordinator stopped (the scans it submitted go on)"});
                if let Err(e) = store.record_sweep(&summary).await {
                    tracing::warn!(tick, error = %e, "recording the interrupted sweep");
                }
                return;
            };
            let summary = match outcome {
                Ok(report) => serde_json::json!({
                    "tick": tick, "owner": owner, "registry": report.registry,
                    "repositories": report.repositories, "tags": report.tags, "digests": report.digests,
                    "submitted": report.submitted, "rescanned": report.rescanned, "skipped": report.skipped,
                    "failed": report.failed, "started_unix_ms": report.started_unix_ms,
                    "finished_unix_ms": report.finished_unix_ms,
                    // The first few, so an operator sees why without the logs.
                    "failures": report.failures.iter().take(20)
                        .map(|f| serde_json::json!({"subject": f.subject, "error": f.error}))
                        .collect::<Vec<_>>(),
                }),
                Err(e) => {
                    tracing::warn!(tick, registry = %request.registry, error = %e, "scheduled sweep failed");
                    serde_json::json!({"tick": tick, "owner": owner, "registry": request.registry, "error": e.to_string()})
                }
            };
            if let Err(e) = store.record_sweep(&summary).await {
                tracing::warn!(tick, error = %e, "recording the sweep");
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn schedules() {
        let at = Utc.with_ymd_and_hms(2026, 11, 29, 1, 30, 0).unwrap();
        let next = |cron: &str| parse(cron).unwrap().find_next_occurrence(&at, false).unwrap();
        assert_eq!(next("0 2 * * *"), Utc.with_ymd_and_hms(2026, 11, 29, 2, 0, 0).unwrap());
        assert_eq!(next("@daily"), Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap());
        assert_eq!(next("*/10 * * * * *"), Utc.with_ymd_and_hms(2026, 11, 29, 1, 30, 10).unwrap());
        assert!(parse("not a schedule").is_err());
        assert!(parse("61 * * * *").is_err());
        let missing = ScheduledSweep { cron: "0 2 * * *".into(), registry: " ".into(), repositories: vec![] };
        assert!(missing.validate().unwrap_err().to_string().contains("STRATA_SWEEP_REGISTRY"));
    }
}
