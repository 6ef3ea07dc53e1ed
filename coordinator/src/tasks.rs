//! Every background task of a coordinator — scans, the resumer, the push-event drainer, the sweep schedule,
//! DefectDojo delivery, the HTTP and ops listeners — under one stop signal and one join, so that
//! [`crate::server::run`] returns only once all of them have ended and a SIGTERM'd process exits promptly
//! and cleanly. A task stops at an await point: what it leaves is what a crash would leave (records stay
//! unfinished and are resumed, events stay in the inbox, deliveries at the head of their queue), except that
//! leases are released at once instead of running out, so another replica takes over without waiting.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub struct Tasks {
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Tasks {
    pub fn new() -> Tasks {
        Tasks::default()
    }

    /// Runs `task` until it ends or the stop, whichever comes first; for loops with nothing to hand back.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// Runs `task`, which watches [`stopped`](Self::stopped) itself (to release what it holds), to its end.
    pub fn spawn_graceful(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(task);
    }

    /// Resolves once the stop is requested.
    pub fn stopped(&self) -> WaitForCancellationFutureOwned {
        self.stop.clone().cancelled_owned()
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Sleeps for `duration`; `false` when the stop cut it short.
    pub async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = tokio::time::sleep(duration) => true,
        }
    }

    /// Asks every task to stop, without waiting.
    pub fn request_stop(&self) {
        self.stop.cancel();
    }

    /// Asks every task to stop and waits until all have ended.
    pub async fn stop(&self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn stop_ends_loops_and_waits_for_graceful_tasks() {
        let tasks = Tasks::new();
        tasks.spawn(std::future::pending());
        let cleaned = Arc::new(AtomicBool::new(false));
        let (watch, done) = (tasks.clone(), cleaned.clone());
        tasks.spawn_graceful(async move {
            while watch.sleep(Duration::from_secs(3600)).await {}
            tokio::task::yield_now().await;
            done.store(true, Ordering::SeqCst);
        });
        tokio::time::timeout(Duration::from_secs(60), tasks.stop()).await.expect("every task ended");
        assert!(cleaned.load(Ordering::SeqCst), "stop returned before the graceful task finished");
        assert!(tasks.is_stopping());
    }
}
