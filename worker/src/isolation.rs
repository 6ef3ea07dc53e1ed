//! Layer analysis in a child process, so that what a hostile layer can do to the analyser (abort on an
//! allocation over the memory limit, spin past the CPU limit, hang) kills or stalls only that child: the
//! worker lives on, records the attempt as failed, and keeps serving its other jobs.
//!
//! The child is the worker binary itself, re-executed as `strata-worker analyse DIGEST` with an empty
//! environment (no credentials) and rlimits set between fork and exec: the compressed blob goes in on
//! stdin, the layer's inventory comes back as JSON on stdout, and an analysis error as text on stderr
//! with exit code [`ANALYSIS_FAILED`]. One child per job: its fixed cost is measured in docs/fleet.md.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use strata_scanner::layer::{LayerInventory, analyze_layer};
use tokio_util::io::SyncIoBridge;

/// The subcommand the worker binary runs the child side under.
pub const SUBCOMMAND: &str = "analyse";
/// The child's exit code for an analysis that failed cleanly (its error is on stderr).
pub const ANALYSIS_FAILED: i32 = 2;
const MIB: u64 = 1024 * 1024;

/// Where and under which limits each job's analysis runs.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// The worker binary (re-executed with [`SUBCOMMAND`]).
    pub program: PathBuf,
    /// Address space of the child (`RLIMIT_AS`), bytes. An allocation over it aborts the child.
    pub memory_bytes: Option<u64>,
    /// CPU time of the child (`RLIMIT_CPU`), seconds; SIGXCPU at the limit, SIGKILL a second later.
    pub cpu_secs: Option<u64>,
}

impl Isolation {
    /// The running binary as the child, under the given limits.
    pub fn this_binary(memory_bytes: Option<u64>, cpu_secs: Option<u64>) -> std::io::Result<Self> {
        Ok(Isolation { program: std::env::current_exe()?, memory_bytes, cpu_secs })
    }

    /// Analyses the blob `reader` yields in a child process. Errors name the layer; a child that died
    /// says how (signal, limit) and what it last printed. Dropping the future kills the child.
    pub async fn analyse(&self, reader: Box<dyn Read + Send>, digest: &str) -> Result<LayerInventory, String> {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg(SUBCOMMAND)
            .arg(digest)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let (memory, cpu) = (self.memory_bytes, self.cpu_secs);
        // SAFETY: between fork and exec only async-signal-safe calls are allowed; setrlimit is one, and
        // the closure allocates nothing.
        unsafe {
            command.pre_exec(move || limit(memory, cpu));
        }
        let mut child =
            command.spawn().map_err(|e| format!("layer {digest}: starting the analyser {:?}: {e}", self.program))?;
        let stdin = child.stdin.take().ok_or_else(|| format!("layer {digest}: the analyser has no stdin"))?;
        // The blob is a blocking reader (it may stream from the registry): copy it on the blocking pool.
        let feeding = tokio::task::spawn_blocking(move || {
            let mut reader = reader;
            let mut sink = SyncIoBridge::new(stdin);
            let copied = std::io::copy(&mut reader, &mut sink)?;
            sink.flush()?;
            Ok::<u64, std::io::Error>(copied)
        });
        let output = child.wait_with_output().await.map_err(|e| format!("layer {digest}: the analyser: {e}"))?;
        if output.status.success() {
            // The child drains its input, so the feed has ended; a blob that failed to read (a digest
            // mismatch found at its end) must not pass as analysed.
            fed(feeding.await).map_err(|e| format!("layer {digest}: reading the blob: {e}"))?;
            return serde_json::from_slice(&output.stdout)
                .map_err(|e| format!("layer {digest}: the analyser's answer is unreadable: {e}"));
        }
        // A blob that could not be read explains a failed analysis better than the child's view of it
        // (a truncated stream); wait briefly for the feed to say so.
        if let Ok(joined) = tokio::time::timeout(Duration::from_millis(200), feeding).await
            && let Err(e) = fed(joined)
        {
            return Err(format!("layer {digest}: reading the blob: {e}"));
        }
        let said = last_line(&output.stderr);
        Err(match (output.status.code(), output.status.signal()) {
            // The engine's errors already name the layer and the file.
            (Some(ANALYSIS_FAILED), _) => said,
            (_, Some(signal)) => format!("layer {digest}: the analyser was {}{}", self.death(signal), context(&said)),
            (code, _) => format!("layer {digest}: the analyser exited with {code:?}{}", context(&said)),
        })
    }

    /// What a fatal signal most likely means for a child under these limits.
    fn death(&self, signal: i32) -> String {
        let memory = self.memory_bytes.map_or_else(String::new, |b| format!(" (memory limit {} MiB)", b / MIB));
        let cpu = self.cpu_secs.map_or_else(String::new, |s| format!(" (CPU limit {s} s)"));
        match signal {
            libc::SIGABRT => format!("aborted by SIGABRT, most likely out of memory{memory}"),
            libc::SIGXCPU => format!("stopped by SIGXCPU at its CPU limit{cpu}"),
            libc::SIGKILL => format!("killed by SIGKILL: its CPU limit{cpu} or the system's out-of-memory killer"),
            libc::SIGSEGV => format!("killed by SIGSEGV, most likely a stack overflow{memory}"),
            other => format!("killed by signal {other}"),
        }
    }
}

/// The feed's outcome; the child closing its end early (it died, or stopped reading) is not the blob's fault.
fn fed(joined: Result<std::io::Result<u64>, tokio::task::JoinError>) -> Result<(), String> {
    match joined {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    // Rust's own "note: run with `RUST_BACKTRACE=1`" follows the line that says what happened.
    let line = text.lines().rev().find(|l| !l.trim().is_empty() && !l.starts_with("note: ")).unwrap_or_default().trim();
    // Bounded: what a hostile layer makes the child print must not flood logs and scan errors.
    line.chars().take(500).collect()
}

fn context(said: &str) -> String {
    if said.is_empty() { String::new() } else { format!(": {said}") }
}

fn limit(memory: Option<u64>, cpu: Option<u64>) -> std::io::Result<()> {
    // A child outliving a worker that was killed would spin on for nothing: it dies with its parent.
    // SAFETY: prctl with integer arguments only.
    #[cfg(target_os = "linux")]
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let set = |resource, soft: u64, hard: u64| {
        let value = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
        // SAFETY: a plain syscall on a value on this stack.
        if unsafe { libc::setrlimit(resource, &value) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
    };
    if let Some(bytes) = memory {
        set(libc::RLIMIT_AS, bytes, bytes)?;
    }
    if let Some(secs) = cpu {
        set(libc::RLIMIT_CPU, secs, secs + 1)?;
    }
    Ok(())
}

/// The child side (`strata-worker analyse DIGEST`): stdin → analysis → stdout. Returns the exit code.
pub fn serve(digest: &str) -> i32 {
    let mut stdin = std::io::stdin().lock();
    let analysed = analyze_layer(&mut stdin, digest);
    // Read the blob to its end whatever happened, so the worker's reader sees all of it (and checks its
    // digest) rather than a closed pipe.
    let _ = std::io::copy(&mut stdin, &mut std::io::sink());
    match analysed {
        Ok(inventory) => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match serde_json::to_writer(&mut out, &inventory).map_err(std::io::Error::from).and_then(|()| out.flush()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("layer {digest}: writing the inventory: {e}");
                    1
                }
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ANALYSIS_FAILED
        }
    }
}
