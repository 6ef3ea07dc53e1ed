//! Layer analysis in child processes, so that what a hostile layer can do to the analyser (abort on an
//! allocation over the memory limit, hang) kills or stalls only a child: the worker lives on, records the
//! attempt as failed, and keeps serving its other jobs.
//!
//! A child is the worker binary itself, re-executed as `strata-worker analyse [--secret-config FILE]`
//! with an empty environment (no credentials) and limits set between fork and exec. Children are
//! long-lived: each serves jobs one after another over a framed protocol on its stdin and stdout
//! ([`protocol`]), so the engine's one-time setup is paid once per child, not once per job (the figures
//! are in docs/fleet.md). A pool keeps the idle ones; a job takes one or starts one, so there are at most
//! as many children as jobs in flight. A child that dies fails only its job and is not reused; a job whose
//! future is dropped (the worker's per-layer deadline) kills its child.

mod child;
pub mod protocol;

use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use strata_scanner::layer::LayerInventory;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use child::{SECRET_CONFIG, load_secret_config, main as child_main};

/// The subcommand the worker binary runs the child side under.
pub const SUBCOMMAND: &str = "analyse";
const MIB: u64 = 1024 * 1024;
/// Jobs a child serves before it is replaced: bounds what a slow leak or a fragmented heap can add up to.
pub const MAX_JOBS_PER_CHILD: u32 = 1000;
/// A child whose resident memory is above this after a job is replaced rather than kept idle that large
/// (a big inventory leaves the allocator holding its peak). Halved under a smaller memory limit.
const RECYCLE_RSS: u64 = 256 * MIB;
/// How much of a child's stderr is kept to explain its death.
const STDERR_TAIL: usize = 4096;

/// Where and under which limits the analyses run, and the pool of idle children (shared by clones).
#[derive(Debug, Clone)]
pub struct Isolation {
    /// The worker binary (re-executed with [`SUBCOMMAND`]).
    pub program: PathBuf,
    /// Address space of each child (`RLIMIT_AS`), bytes. An allocation over it aborts the child.
    pub memory_bytes: Option<u64>,
    /// The worker's secret config file, loaded by each child; `None`: the built-in rules.
    pub secret_config: Option<PathBuf>,
    /// The engine's per-layer budget for the children (`STRATA_LAYER_BUDGET`'s syntax); `None`: the default.
    pub budget: Option<String>,
    /// Jobs a child serves before it is replaced.
    pub max_jobs: u32,
    idle: Arc<Mutex<Vec<Analyser>>>,
}

/// One child and its pipes.
#[derive(Debug)]
struct Analyser {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The last bytes the child wrote on stderr, read as they come so a chatty child never blocks.
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: JoinHandle<()>,
    jobs: u32,
}

/// How a job ended for its child.
enum Outcome {
    /// The child answered and can serve the next job.
    Answered(Result<Vec<u8>, String>),
    /// The blob could not be read to its end; the child was told and answered, and can serve the next job.
    Unread(io::Error),
    /// The stream broke: the child died (or misbehaved) and is not reused.
    Lost(io::Error),
}

impl Isolation {
    /// The given binary as the children, under the given memory limit, with the built-in secret rules.
    pub fn new(program: PathBuf, memory_bytes: Option<u64>) -> Self {
        Isolation {
            program,
            memory_bytes,
            secret_config: None,
            budget: None,
            max_jobs: MAX_JOBS_PER_CHILD,
            idle: Arc::default(),
        }
    }

    /// The running binary as the children.
    pub fn this_binary(memory_bytes: Option<u64>) -> io::Result<Self> {
        Ok(Isolation::new(std::env::current_exe()?, memory_bytes))
    }

    /// The process ids of the idle children.
    pub fn idle_children(&self) -> Vec<u32> {
        self.lock().iter().filter_map(|a| a.child.id()).collect()
    }

    /// Analyses the blob `reader` yields (`size` bytes, as declared by the manifest) in a child. Errors
    /// name the layer; a child that died says how (signal, limit) and what it last printed. Dropping the
    /// future kills the child.
    pub async fn analyse(
        &self,
        reader: Box<dyn Read + Send>,
        digest: &str,
        size: u64,
    ) -> Result<LayerInventory, String> {
        let mut analyser = match self.idle_child() {
            Some(analyser) => analyser,
            None => {
                self.spawn().map_err(|e| format!("layer {digest}: starting the analyser {:?}: {e}", self.program))?
            }
        };
        match analyser.run(reader, digest, size).await {
            Outcome::Answered(answer) => {
                self.put_back(analyser);
                let json = answer?;
                serde_json::from_slice(&json)
                    .map_err(|e| format!("layer {digest}: the analyser's answer is unreadable: {e}"))
            }
            Outcome::Unread(e) => {
                self.put_back(analyser);
                Err(format!("layer {digest}: reading the blob: {e}"))
            }
            Outcome::Lost(e) => Err(self.died(analyser, digest, e).await),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Analyser>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle child still alive (one killed while idle, by the OOM killer say, is dropped, not blamed on
    /// the next job).
    fn idle_child(&self) -> Option<Analyser> {
        let mut idle = self.lock();
        while let Some(mut analyser) = idle.pop() {
            if let Ok(None) = analyser.child.try_wait() {
                return Some(analyser);
            }
        }
        None
    }

    /// Keeps a child that answered for the next job, unless it has served its share or was left large.
    fn put_back(&self, mut analyser: Analyser) {
        analyser.jobs += 1;
        let limit = self.memory_bytes.map_or(RECYCLE_RSS, |bytes| RECYCLE_RSS.min(bytes / 2));
        let large = analyser.child.id().and_then(resident_bytes).is_some_and(|rss| rss > limit);
        if analyser.jobs < self.max_jobs && !large {
            self.lock().push(analyser);
        }
        // Otherwise dropped: kill_on_drop ends it, the runtime reaps it.
    }

    fn spawn(&self) -> io::Result<Analyser> {
        let mut command = tokio::process::Command::new(&self.program);
        command.arg(SUBCOMMAND);
        if let Some(path) = &self.secret_config {
            command.arg(SECRET_CONFIG).arg(path);
        }
        if let Some(setting) = &self.budget {
            command.arg(child::BUDGET).arg(setting);
        }
        command.env_clear().stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let memory = self.memory_bytes;
        // SAFETY: between fork and exec only async-signal-safe calls are allowed; prctl and setrlimit are,
        // and the closure allocates nothing.
        unsafe {
            command.pre_exec(move || limit(memory));
        }
        let mut child = command.spawn()?;
        let missing = || io::Error::other("a pipe to the child is missing");
        let stdin = child.stdin.take().ok_or_else(missing)?;
        let stdout = child.stdout.take().ok_or_else(missing)?;
        let mut pipe = child.stderr.take().ok_or_else(missing)?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let tail = stderr.clone();
        let stderr_reader = tokio::spawn(async move {
            let mut buf = [0; 1024];
            while let Ok(n @ 1..) = pipe.read(&mut buf).await {
                let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                tail.extend_from_slice(&buf[..n]);
                let excess = tail.len().saturating_sub(STDERR_TAIL);
                tail.drain(..excess);
            }
        });
        Ok(Analyser {
            child,
            stdin: BufWriter::new(stdin),
            stdout: BufReader::new(stdout),
            stderr,
            stderr_reader,
            jobs: 0,
        })
    }

    /// Why a child's stream broke: its exit (signal, limit) and the last line it printed.
    async fn died(&self, mut analyser: Analyser, digest: &str, broken: io::Error) -> String {
        // A broken pipe means the child is gone or going; one that is still alive misbehaved: kill it.
        let status = match tokio::time::timeout(Duration::from_secs(2), analyser.child.wait()).await {
            Ok(Ok(status)) => status,
            _ => {
                let _ = analyser.child.kill().await;
                return format!("layer {digest}: the analyser broke the protocol and was killed: {broken}");
            }
        };
        // Its stderr ends with it; give the reader a moment to take the last lines.
        let _ = tokio::time::timeout(Duration::from_millis(200), &mut analyser.stderr_reader).await;
        let said = last_line(&analyser.stderr.lock().unwrap_or_else(PoisonError::into_inner));
        match (status.code(), status.signal()) {
            (_, Some(signal)) => format!("layer {digest}: the analyser was {}{}", self.death(signal), context(&said)),
            (code, _) => format!("layer {digest}: the analyser exited with {code:?}{}", context(&said)),
        }
    }

    /// What a fatal signal most likely means for a child under these limits.
    fn death(&self, signal: i32) -> String {
        let memory = self.memory_bytes.map_or_else(String::new, |b| format!(" (memory limit {} MiB)", b / MIB));
        match signal {
            libc::SIGABRT => format!("aborted by SIGABRT, most likely out of memory{memory}"),
            libc::SIGKILL => "killed by SIGKILL, most likely by the system's out-of-memory killer".to_string(),
            libc::SIGSEGV => format!("killed by SIGSEGV, most likely a stack overflow{memory}"),
            other => format!("killed by signal {other}"),
        }
    }
}

impl Analyser {
    /// One job: the request, the blob as it is read (on the blocking pool: it may stream from the
    /// registry), then the answer.
    async fn run(&mut self, reader: Box<dyn Read + Send>, digest: &str, size: u64) -> Outcome {
        self.stderr.lock().unwrap_or_else(PoisonError::into_inner).clear();
        let (chunks, mut fed) = mpsc::channel(4);
        // Not awaited: a dropped job drops `fed`, which stops the feed at its next chunk.
        tokio::task::spawn_blocking(move || feed(reader, &chunks));
        let mut unread = None;
        let sent = async {
            protocol::write_request(&mut self.stdin, digest, size).await?;
            loop {
                // The child says nothing before its answer: anything on its stdout while the blob is
                // read (an end, most likely) means it died, which a slow registry must not hide.
                let chunk = tokio::select! {
                    chunk = fed.recv() => chunk,
                    early = self.stdout.fill_buf() => return Err(early.map_or_else(|e| e, |_| io::ErrorKind::UnexpectedEof.into())),
                };
                let Some(chunk) = chunk else { break };
                match chunk {
                    Ok(bytes) => protocol::write_chunk(&mut self.stdin, &bytes).await?,
                    Err(e) => {
                        unread = Some(e);
                        break;
                    }
                }
            }
            match unread {
                None => protocol::write_chunk(&mut self.stdin, &[]).await?,
                Some(_) => protocol::write_aborted(&mut self.stdin).await?,
            }
            self.stdin.flush().await
        };
        if let Err(e) = sent.await {
            return Outcome::Lost(e);
        }
        let answer = match protocol::read_answer(&mut self.stdout).await {
            Ok(answer) => answer,
            Err(e) => return Outcome::Lost(e),
        };
        // The child's view of an aborted blob says less than the reader's own error.
        match unread {
            Some(e) => Outcome::Unread(e),
            None => Outcome::Answered(answer),
        }
    }
}

/// Reads the blob in chunks into `chunks` until its end, a read error (sent on), or the job is gone.
fn feed(mut reader: Box<dyn Read + Send>, chunks: &mpsc::Sender<io::Result<Vec<u8>>>) {
    loop {
        let mut buf = vec![0; 64 * 1024];
        let chunk = match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                Ok(buf)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
        let failed = chunk.is_err();
        if chunks.blocking_send(chunk).is_err() || failed {
            return;
        }
    }
}

/// `VmRSS` of a process, from /proc.
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
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

/// Limits set in the child between fork and exec.
///
/// No `RLIMIT_CPU`: a long-lived child accumulates CPU time over all its jobs, so a per-job CPU limit
/// cannot be expressed as an rlimit, and a lifetime one would kill whichever innocent job happened to
/// cross it. The worker's per-layer deadline (wall clock, enforced by the parent, which kills the child)
/// bounds each job instead; the analysis is single-threaded, so it bounds the job's CPU time too.
fn limit(memory: Option<u64>) -> io::Result<()> {
    // A child outliving a worker that was killed would spin on for nothing: it dies with its parent.
    // Strictly with the thread that spawned it: a runtime worker thread, which lives as long as the worker.
    // SAFETY: prctl with integer arguments only.
    #[cfg(target_os = "linux")]
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if let Some(bytes) = memory {
        let value = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
        // SAFETY: a plain syscall on a value on this stack.
        if unsafe { libc::setrlimit(libc::RLIMIT_AS, &value) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
