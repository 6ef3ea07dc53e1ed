//! One night: submit every image through the gRPC API, follow the run to its end (every scan done or
//! failed, or the timeout), with faults injected alongside when asked, and measure it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use strata_proto::status::is_terminal;
use strata_proto::v1::{Scan, ScanStatus};

use crate::analyses::{self, Counts};
use crate::client::{self, Progress};
use crate::faults::{FaultEvent, Injector};
use crate::sampler::{Sampler, Window};

/// What a night is run against.
pub struct Ctx<'a> {
    pub runtime: &'a tokio::runtime::Runtime,
    pub sampler: &'a Sampler,
    pub url: String,
    pub redis_url: String,
    pub prefix: String,
    pub timeout: Duration,
}

/// The raw outcome of a night, before it is reduced to a report.
pub struct NightData {
    pub night: u32,
    pub ids: Vec<String>,
    pub scans: Vec<Scan>,
    pub submit_seconds: f64,
    pub wall_seconds: f64,
    pub timed_out: bool,
    /// After the last scan finished, how long until no job was queued or held (a job delivered twice
    /// around a broker restart can still be running): its work belongs to this night.
    pub settle_seconds: f64,
    pub watch_reconnects: usize,
    pub window: Window,
    /// Analyses per layer during the night.
    pub analysed: Counts,
    /// Layers analysed during the night that had been analysed before it.
    pub analysed_again: Vec<String>,
    pub faults: Vec<FaultEvent>,
}

struct Driven {
    ids: Vec<String>,
    scans: Vec<Scan>,
    submit_seconds: f64,
    submitted_at_ms: i64,
    timed_out: bool,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

async fn drive(ctx: &Ctx<'_>, references: &[String], night: u32, progress: Arc<Progress>) -> Result<Driven> {
    let watch = client::spawn_watch(ctx.url.clone(), progress.clone());
    let mut client = client::connect(&ctx.url).await?;
    let (started, submitted_at_ms) = (Instant::now(), now_ms());
    let ids = client::submit(&mut client, references, night).await?;
    let submit_seconds = started.elapsed().as_secs_f64();
    progress.submitted.store(true, std::sync::atomic::Ordering::Relaxed);
    let wanted: HashSet<&String> = ids.iter().collect();
    let mut last_list = Instant::now();
    let (scans, timed_out) = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        ctx.sampler.set_done(progress.finished());
        let timed_out = started.elapsed() > ctx.timeout;
        // The watch says when to look; the list is the authority (the watch may have missed events).
        if progress.finished() >= ids.len() || last_list.elapsed() > Duration::from_secs(10) || timed_out {
            last_list = Instant::now();
            match client::list(&mut client, night).await {
                Ok(scans) => {
                    scans.iter().for_each(|s| progress.record(s));
                    let finished = scans.iter().filter(|s| wanted.contains(&s.id) && is_terminal(s.status)).count();
                    if finished == ids.len() || timed_out {
                        break (scans, timed_out);
                    }
                }
                Err(e) if timed_out => return Err(e),
                Err(_) => {
                    if let Ok(fresh) = client::connect(&ctx.url).await {
                        client = fresh;
                    }
                }
            }
        }
    };
    watch.abort();
    Ok(Driven { ids, scans, submit_seconds, submitted_at_ms, timed_out })
}

/// Runs one night; with `injector`, its faults run alongside on a thread of their own.
pub fn run(ctx: &Ctx<'_>, references: &[String], night: u32, injector: Option<Injector<'_>>) -> Result<NightData> {
    let before = analyses::read(&ctx.redis_url, &ctx.prefix)?;
    let progress = Arc::new(Progress::default());
    ctx.sampler.set_done(0);
    let from = ctx.sampler.start_mark();
    let stop = AtomicBool::new(false);
    let (driven, faults) = std::thread::scope(|scope| {
        let faults = injector.map(|mut injector| {
            let (progress, stop) = (&progress, &stop);
            scope.spawn(move || injector.run(progress, references.len(), stop))
        });
        let driven = ctx.runtime.block_on(drive(ctx, references, night, progress.clone()));
        stop.store(true, Ordering::Relaxed);
        let events = match faults {
            Some(thread) => thread.join().map_err(|_| anyhow::anyhow!("the fault thread panicked"))?,
            None => Ok(Vec::new()),
        };
        Ok::<_, anyhow::Error>((driven, events))
    })?;
    let (driven, faults) = (driven?, faults.context("injecting faults")?);
    ctx.sampler.set_done(progress.finished());
    let settle_seconds = settle(ctx.sampler);
    let to = ctx.sampler.mark();
    let after = settled_counts(ctx)?;
    let last = driven.scans.iter().map(|s| s.updated_unix_ms).max().unwrap_or(driven.submitted_at_ms);
    Ok(NightData {
        night,
        wall_seconds: (last - driven.submitted_at_ms) as f64 / 1000.0,
        submit_seconds: driven.submit_seconds,
        timed_out: driven.timed_out,
        settle_seconds,
        watch_reconnects: progress.reconnects.load(Ordering::Relaxed),
        window: ctx.sampler.window(&from, &to),
        analysed_again: analyses::delta(&before, &after)
            .into_keys()
            .filter(|d| before.get(d).is_some_and(|&n| n > 0))
            .collect(),
        analysed: analyses::delta(&before, &after),
        ids: driven.ids,
        scans: driven.scans,
        faults,
    })
}

/// Waits (at most five minutes) until the fleet is idle twice in a row; returns how long it took.
fn settle(sampler: &Sampler) -> f64 {
    let started = Instant::now();
    let mut idle = 0;
    while idle < 2 && started.elapsed() < Duration::from_secs(300) {
        idle = if sampler.idle_now() { idle + 1 } else { 0 };
        std::thread::sleep(Duration::from_millis(250));
    }
    started.elapsed().as_secs_f64()
}

/// Scans by final status, and the reasons of those that failed.
pub fn outcome(data: &NightData) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let by_id: BTreeMap<&str, &Scan> = data.scans.iter().map(|s| (s.id.as_str(), s)).collect();
    let (mut statuses, mut reasons) = (BTreeMap::new(), BTreeMap::new());
    for id in &data.ids {
        let status = match by_id.get(id.as_str()) {
            None => "lost (no record)".to_string(),
            Some(scan) => {
                if scan.status == ScanStatus::Failed as i32 || scan.status == ScanStatus::Partial as i32 {
                    *reasons.entry(generalise(&scan.error)).or_default() += 1;
                }
                strata_proto::status::name(scan.status)
            }
        };
        *statuses.entry(status).or_default() += 1;
    }
    (statuses, reasons)
}

/// A word that names one layer or scan (a digest, a UUID), not the kind of failure.
fn names_one(word: &str) -> bool {
    let hex = word.chars().filter(|c| c.is_ascii_hexdigit()).count();
    word.contains("sha256:")
        || word.len() > 40
        || (hex >= 16 && word.chars().all(|c| c.is_ascii_hexdigit() || "-:,.".contains(c)))
}

/// A failure reason without the digests and ids that make every message unique.
fn generalise(error: &str) -> String {
    let words: Vec<String> =
        error.split_whitespace().map(|w| if names_one(w) { "…".to_string() } else { w.to_string() }).collect();
    let text = words.join(" ");
    if text.is_empty() { "(no reason given)".to_string() } else { text.chars().take(160).collect() }
}

/// The layer counters once no analysis has been recorded for [`SETTLE`]. A night's scans can all be done
/// while a duplicate job (redelivered after a fault, its first consumer still at work) is still being
/// analysed; read too early, its analysis would be counted in the next night.
fn settled_counts(ctx: &Ctx<'_>) -> Result<Counts> {
    const SETTLE: Duration = Duration::from_secs(15);
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = analyses::read(&ctx.redis_url, &ctx.prefix)?;
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < SETTLE && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = analyses::read(&ctx.redis_url, &ctx.prefix)?;
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reasons_are_grouped_without_ids() {
        assert_eq!(super::generalise("not found: scan 008d1cbe-9ce1-4fbf-a7b2-f6e1c4821b3f"), "not found: scan …");
        assert_eq!(super::generalise("layer sha256:ab12 failed: timed out"), "layer … failed: timed out");
        assert_eq!(super::generalise("Redis: timed out"), "Redis: timed out");
    }
}
