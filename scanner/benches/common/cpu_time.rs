//! A criterion measurement of the benchmark thread's CPU time rather than wall time.
//!
//! Layer analysis and its anchors run on one thread, and what a worker pays per layer is CPU time on one
//! core. Wall time also counts the time the thread waits for a core, which on these shared 2-core machines
//! swings with whatever else runs; CPU time does not. Read from `/proc/thread-self/schedstat` (nanoseconds
//! on the CPU), so no extra dependency is needed.

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

pub struct ThreadCpuTime;

fn on_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("/proc/thread-self/schedstat (Linux)");
    let nanos = text.split_whitespace().next().and_then(|n| n.parse().ok()).expect("schedstat's first field");
    Duration::from_nanos(nanos)
}

// Durations print the same whichever clock measured them.
static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        on_cpu()
    }
    fn end(&self, start: Duration) -> Duration {
        on_cpu().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}
