//! Sampling during a run, once a second on a thread of its own: each fleet process's CPU time and memory
//! (`/proc`) and its `/metrics` counters, the CPU of the services the run started (registry, owned Redis
//! and RabbitMQ) and of the whole machine, the job queue's depth (the coordinator's
//! `strata_queue_depth`, refreshed by its `/readyz`), the scans finished so far, and an owned Redis's
//! command and byte counts.
//!
//! A night is the span between two [`Mark`]s; [`Sampler::window`] turns them into per-role totals. A
//! process that was killed counts with its last sample (faults take one right before the kill).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::procstat::{self, ProcSample};

/// Counters read from each process's `/metrics` (label variants summed).
const COUNTERS: [&str; 9] = [
    "strata_layer_jobs_queued_total",
    "strata_single_flight_waits_total",
    "strata_scans_completed_total",
    "strata_layers_analysed_total",
    "strata_job_retries_total",
    "strata_jobs_dead_lettered_total",
    "strata_layer_blob_bytes_sum",
    "strata_layer_analysis_seconds_sum",
    "strata_scans_submitted_total",
];

/// A process to watch: `coordinator` or `worker-N` with its ops port, or a service (`registry`,
/// `redis`, `rabbitmq`) without one.
#[derive(Debug, Clone)]
pub struct Proc {
    pub name: String,
    pub pid: u32,
    pub ops_port: Option<u16>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub t: f64,
    pub done: usize,
    pub queue_depth: Option<f64>,
    /// Jobs the live workers hold (taken, not yet acknowledged or given back).
    pub jobs_in_flight: Option<f64>,
    pub coordinator_rss_mib: f64,
    pub workers_rss_mib: f64,
}

#[derive(Debug, Clone, Default)]
struct Seen {
    sample: ProcSample,
    peak_rss_kib: u64,
    counters: BTreeMap<&'static str, f64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RedisTotals {
    pub commands: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
}

#[derive(Default)]
struct State {
    seen: BTreeMap<(String, u32), Seen>,
    points: Vec<Point>,
    redis: RedisTotals,
    redis_raw: Option<RedisTotals>,
}

struct Shared {
    started: Instant,
    stop: AtomicBool,
    done: AtomicUsize,
    procs: Mutex<Vec<Proc>>,
    services: Mutex<Vec<Proc>>,
    state: Mutex<State>,
    redis_url: Option<String>,
}

pub struct Sampler {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The state at one instant.
#[derive(Clone)]
pub struct Mark {
    t: f64,
    seen: BTreeMap<(String, u32), Seen>,
    redis: RedisTotals,
    machine_busy: f64,
}

/// Totals over a window, per role.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Window {
    pub seconds: f64,
    pub coordinator_cpu_seconds: f64,
    pub workers_cpu_seconds: f64,
    pub coordinator_peak_rss_mib: f64,
    pub worker_peak_rss_mib: f64,
    /// CPU of the services the run started (`registry`, `redis`, `rabbitmq`).
    pub services_cpu_seconds: BTreeMap<String, f64>,
    /// CPU the whole machine was busy (every process, other users' too), and its cores.
    pub machine_busy_cpu_seconds: f64,
    pub machine_cores: usize,
    pub counters: BTreeMap<String, f64>,
    pub redis: Option<RedisTotals>,
    pub max_queue_depth: f64,
    pub points: Vec<Point>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn metric(body: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

fn redis_info(url: &str) -> Option<RedisTotals> {
    let client = redis::Client::open(url).ok()?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(1)).ok()?;
    let info: String = redis::cmd("INFO").arg("stats").query(&mut conn).ok()?;
    let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok());
    Some(RedisTotals {
        commands: field("total_commands_processed:")?,
        net_input_bytes: field("total_net_input_bytes:")?,
        net_output_bytes: field("total_net_output_bytes:")?,
    })
}

impl Shared {
    fn tick(&self) {
        let procs = lock(&self.procs).clone();
        let services = lock(&self.services).clone();
        let mut queue_depth = None;
        let mut in_flight: Option<f64> = None;
        let mut fresh = Vec::new();
        for proc in procs.iter().chain(&services) {
            let Some(sample) = procstat::sample(proc.pid) else { continue };
            let Some(port) = proc.ops_port else {
                fresh.push(((proc.name.clone(), proc.pid), sample, BTreeMap::new()));
                continue;
            };
            if proc.name == "coordinator" {
                // /readyz refreshes the queue-depth gauge that /metrics then shows.
                let _ = strata_testkit::registry::http_get(port, "/readyz");
            }
            let body = strata_testkit::registry::http_get(port, "/metrics").map(|r| r.1).unwrap_or_default();
            if proc.name == "coordinator" {
                queue_depth = metric(&body, "strata_queue_depth");
            } else if let Some(n) = metric(&body, "strata_jobs_in_flight") {
                in_flight = Some(in_flight.unwrap_or(0.0) + n);
            } else if body.contains("strata_") {
                // A worker that never took a job has no gauge yet.
                in_flight = Some(in_flight.unwrap_or(0.0));
            }
            let counters: BTreeMap<&'static str, f64> =
                COUNTERS.iter().filter_map(|&c| metric(&body, c).map(|v| (c, v))).collect();
            fresh.push(((proc.name.clone(), proc.pid), sample, counters));
        }
        let redis = self.redis_url.as_deref().and_then(redis_info);
        let mut state = lock(&self.state);
        for (key, sample, counters) in fresh {
            let seen = state.seen.entry(key).or_default();
            seen.peak_rss_kib = seen.peak_rss_kib.max(sample.rss_kib).max(sample.hwm_kib);
            seen.sample = sample;
            // A scrape that failed keeps the last values rather than dropping to zero.
            seen.counters.extend(counters);
        }
        if let Some(now) = redis {
            // A restarted Redis starts its counters at zero again: count what it did since.
            let before = state.redis_raw.unwrap_or(now);
            let grew = |a: u64, b: u64| if a >= b { a - b } else { a };
            state.redis.commands += grew(now.commands, before.commands);
            state.redis.net_input_bytes += grew(now.net_input_bytes, before.net_input_bytes);
            state.redis.net_output_bytes += grew(now.net_output_bytes, before.net_output_bytes);
            state.redis_raw = Some(now);
        }
        let rss = |coordinator: bool| {
            let role = |p: &&Proc| if coordinator { p.name == "coordinator" } else { p.name.starts_with("worker-") };
            let live: Vec<u32> = procs.iter().filter(role).map(|p| p.pid).collect();
            state.seen.iter().filter(|((_, pid), _)| live.contains(pid)).map(|(_, s)| s.sample.rss_kib).sum::<u64>()
                as f64
                / 1024.0
        };
        let point = Point {
            t: self.started.elapsed().as_secs_f64(),
            done: self.done.load(Ordering::Relaxed),
            queue_depth,
            jobs_in_flight: in_flight,
            coordinator_rss_mib: rss(true),
            workers_rss_mib: rss(false),
        };
        state.points.push(point);
    }
}

impl Sampler {
    pub fn start(redis_url: Option<String>, every: Duration) -> Sampler {
        let shared = Arc::new(Shared {
            started: Instant::now(),
            stop: AtomicBool::new(false),
            done: AtomicUsize::new(0),
            procs: Mutex::new(Vec::new()),
            services: Mutex::new(Vec::new()),
            state: Mutex::new(State::default()),
            redis_url,
        });
        let worker = shared.clone();
        let thread = std::thread::spawn(move || {
            while !worker.stop.load(Ordering::Relaxed) {
                let next = Instant::now() + every;
                worker.tick();
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        Sampler { shared, thread: Some(thread) }
    }

    /// The processes to watch from now on.
    pub fn set_procs(&self, procs: Vec<Proc>) {
        *lock(&self.shared.procs) = procs;
    }

    /// The services to watch from now on (their CPU and memory only).
    pub fn set_services(&self, services: Vec<Proc>) {
        *lock(&self.shared.services) = services;
    }

    pub fn set_done(&self, done: usize) {
        self.shared.done.store(done, Ordering::Relaxed);
    }

    /// Samples now (before a kill, at a night's edges).
    pub fn sample_now(&self) {
        self.shared.tick();
    }

    /// Samples now and says whether the fleet is idle: no job waiting in the queue, none held by a worker.
    pub fn idle_now(&self) -> bool {
        self.shared.tick();
        let state = lock(&self.shared.state);
        state.points.last().is_some_and(|p| p.queue_depth == Some(0.0) && p.jobs_in_flight == Some(0.0))
    }

    /// Seconds since the sampler started: the time axis of the points.
    pub fn now(&self) -> f64 {
        self.shared.started.elapsed().as_secs_f64()
    }

    /// Samples, resets every live process's peak RSS, and returns the state: a night's start.
    pub fn start_mark(&self) -> Mark {
        for proc in lock(&self.shared.procs).iter() {
            procstat::reset_peak(proc.pid);
        }
        self.mark()
    }

    pub fn mark(&self) -> Mark {
        self.shared.tick();
        let mut state = lock(&self.shared.state);
        let machine_busy = procstat::machine_busy_seconds().unwrap_or(0.0);
        let mark = Mark { t: self.now(), seen: state.seen.clone(), redis: state.redis, machine_busy };
        // Peaks restart at each mark: a window's peak is its own.
        for seen in state.seen.values_mut() {
            seen.peak_rss_kib = seen.sample.rss_kib;
        }
        mark
    }

    pub fn window(&self, from: &Mark, to: &Mark) -> Window {
        let mut window = Window {
            seconds: to.t - from.t,
            machine_busy_cpu_seconds: to.machine_busy - from.machine_busy,
            machine_cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            ..Window::default()
        };
        for (key, end) in &to.seen {
            let start = from.seen.get(key).cloned().unwrap_or_default();
            let cpu = end.sample.cpu_seconds - start.sample.cpu_seconds;
            let peak = end.peak_rss_kib as f64 / 1024.0;
            if key.0 == "coordinator" {
                window.coordinator_cpu_seconds += cpu;
                window.coordinator_peak_rss_mib = window.coordinator_peak_rss_mib.max(peak);
            } else if key.0.starts_with("worker-") {
                window.workers_cpu_seconds += cpu;
                window.worker_peak_rss_mib = window.worker_peak_rss_mib.max(peak);
            } else {
                *window.services_cpu_seconds.entry(key.0.clone()).or_default() += cpu;
            }
            for (name, value) in &end.counters {
                let before = start.counters.get(name).copied().unwrap_or(0.0);
                *window.counters.entry(name.to_string()).or_default() += value - before;
            }
        }
        if self.shared.redis_url.is_some() {
            window.redis = Some(RedisTotals {
                commands: to.redis.commands - from.redis.commands,
                net_input_bytes: to.redis.net_input_bytes - from.redis.net_input_bytes,
                net_output_bytes: to.redis.net_output_bytes - from.redis.net_output_bytes,
            });
        }
        let state = lock(&self.shared.state);
        // Times relative to the window's start: a night's plot starts at 0.
        window.points = state
            .points
            .iter()
            .filter(|p| p.t >= from.t && p.t <= to.t)
            .map(|p| Point { t: p.t - from.t, ..p.clone() })
            .collect();
        window.max_queue_depth = window.points.iter().filter_map(|p| p.queue_depth).fold(0.0, f64::max);
        window
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn metrics_sum_label_variants_and_skip_longer_names() {
        let body = "# TYPE x counter\nstrata_scans_completed_total{status=\"done\"} 3\nstrata_scans_completed_total{status=\"failed\"} 1\nstrata_scans_completed_total_extra 9\n";
        assert_eq!(super::metric(body, "strata_scans_completed_total"), Some(4.0));
        assert_eq!(super::metric(body, "strata_missing"), None);
    }
}
