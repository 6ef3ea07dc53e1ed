//! Fault mode: during night 1, at set shares of finished scans, a worker is killed with SIGKILL and a new
//! one started, the run's RabbitMQ node is restarted, and the run's Redis is restarted. Between faults the
//! fleet is supervised as Compose (`restart: unless-stopped`) or Kubernetes would: a fleet process that
//! exited is started again, and the report says so.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use strata_testkit::fleet::Fleet;

use crate::client::Progress;
use crate::sampler::{Proc, Sampler};
use crate::services::Backends;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Fault {
    KillWorker,
    RestartRabbitMq,
    RestartRedis,
}

/// The faults, in order.
pub const FAULTS: [Fault; 3] = [Fault::KillWorker, Fault::RestartRabbitMq, Fault::RestartRedis];
/// When each fault fires by default: after this share of the night's scans finished.
pub const DEFAULT_AT: [f64; 3] = [0.10, 0.30, 0.50];
/// How long a stopped service stays down.
const DOWN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Serialize)]
pub struct FaultEvent {
    /// Seconds since the night began.
    pub at_seconds: f64,
    pub scans_finished: usize,
    pub action: String,
    pub took_seconds: f64,
}

/// The processes of `fleet` for the sampler.
pub fn procs(fleet: &mut Fleet) -> Vec<Proc> {
    let ports = fleet.ops_ports.clone();
    fleet
        .pids()
        .into_iter()
        .filter_map(|(name, pid)| ports.get(&name).map(|&port| Proc { name, pid, ops_port: Some(port) }))
        .collect()
}

/// The services a run started, for the sampler: the registry, and Redis and RabbitMQ when owned.
pub fn services(registry_pid: u32, backends: &Backends) -> Vec<Proc> {
    let redis = backends.redis.as_ref().and_then(|r| r.pid());
    let rabbit = backends.rabbit.as_ref().and_then(|r| r.pid());
    [("registry", Some(registry_pid)), ("redis", redis), ("rabbitmq", rabbit)]
        .into_iter()
        .filter_map(|(name, pid)| Some(Proc { name: name.to_string(), pid: pid?, ops_port: None }))
        .collect()
}

fn lock(fleet: &Mutex<Fleet>) -> std::sync::MutexGuard<'_, Fleet> {
    fleet.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct Injector<'a> {
    pub fleet: &'a Mutex<Fleet>,
    pub registry_pid: u32,
    pub backends: &'a mut Backends,
    pub sampler: &'a Sampler,
    pub workers: usize,
    /// The share of finished scans at which each of [`FAULTS`] fires (after the submission).
    pub at: [f64; 3],
}

impl Injector<'_> {
    /// Runs the plan against the night's progress until `stop` is set; returns what it did.
    pub fn run(&mut self, progress: &Progress, total: usize, stop: &AtomicBool) -> Result<Vec<FaultEvent>> {
        let started = Instant::now();
        let mut events = Vec::new();
        let mut plan = self.at.into_iter().zip(FAULTS).peekable();
        while !stop.load(Ordering::Relaxed) {
            if let Some(&(share, fault)) = plan.peek()
                && progress.submitted.load(Ordering::Relaxed)
                && progress.finished() as f64 >= share * total as f64
            {
                plan.next();
                let (at, finished) = (started.elapsed().as_secs_f64(), progress.finished());
                let t = Instant::now();
                let action = self.inject(fault)?;
                events.push(FaultEvent {
                    at_seconds: at,
                    scans_finished: finished,
                    action,
                    took_seconds: t.elapsed().as_secs_f64(),
                });
            }
            let t = Instant::now();
            for action in self.supervise()? {
                let (at, finished) = (started.elapsed().as_secs_f64(), progress.finished());
                events.push(FaultEvent {
                    at_seconds: at,
                    scans_finished: finished,
                    action,
                    took_seconds: t.elapsed().as_secs_f64(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        for (_, fault) in plan {
            events.push(FaultEvent {
                at_seconds: started.elapsed().as_secs_f64(),
                scans_finished: progress.finished(),
                action: format!("{fault:?}: not reached (the night ended first)"),
                took_seconds: 0.0,
            });
        }
        Ok(events)
    }

    fn refresh(&self) {
        self.sampler.set_procs(procs(&mut lock(self.fleet)));
        self.sampler.set_services(services(self.registry_pid, self.backends));
    }

    fn inject(&mut self, fault: Fault) -> Result<String> {
        // The last sample of a process about to die is its total.
        self.sampler.sample_now();
        let action = match fault {
            Fault::KillWorker => {
                let mut fleet = lock(self.fleet);
                let victim =
                    fleet.pids().keys().find(|n| n.starts_with("worker-")).cloned().context("no live worker")?;
                let n: usize = victim.trim_start_matches("worker-").parse()?;
                fleet.kill_worker(n);
                let new = fleet.add_worker();
                format!("SIGKILL {victim} mid-night, started worker-{new}")
            }
            Fault::RestartRabbitMq => {
                self.backends.rabbit.as_mut().context("fault mode owns RabbitMQ")?.restart(DOWN);
                format!("stopped RabbitMQ (clean shutdown), started it again after {DOWN:?}")
            }
            Fault::RestartRedis => {
                let redis = self.backends.redis.as_mut().context("fault mode owns Redis")?;
                redis.restart(DOWN);
                let kept = if redis.appendonly() { "append-only file kept" } else { "no persistence: restarted empty" };
                format!("stopped Redis (SIGTERM), started it again after {DOWN:?} ({kept})")
            }
        };
        self.refresh();
        Ok(action)
    }

    /// Starts again any fleet process that exited, as an orchestrator would.
    fn supervise(&mut self) -> Result<Vec<String>> {
        let mut actions = Vec::new();
        let mut fleet = lock(self.fleet);
        let live = fleet.pids();
        if !live.contains_key("coordinator") {
            fleet.start_coordinator();
            actions.push("the coordinator had exited: started it again (supervisor)".to_string());
        }
        let workers = live.keys().filter(|n| n.starts_with("worker-")).count();
        for _ in workers..self.workers {
            let new = fleet.add_worker();
            actions.push(format!("a worker had exited: started worker-{new} (supervisor)"));
        }
        drop(fleet);
        if !actions.is_empty() {
            self.refresh();
        }
        Ok(actions)
    }
}
