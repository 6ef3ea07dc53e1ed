//! A real fleet for tests: the `strata-coordinator` and `strata-worker` binaries as child processes,
//! talking to the machine's RabbitMQ and Redis under a queue name and key prefix of their own, so tests
//! run in parallel without seeing each other's jobs or keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::registry::free_port;

/// Where the fleet binaries are (the test's `CARGO_BIN_EXE_*` or the target directory).
#[derive(Debug, Clone)]
pub struct Bins {
    pub coordinator: PathBuf,
    pub worker: PathBuf,
    pub strata: PathBuf,
}

impl Bins {
    /// Finds the binaries next to `known` (one binary the test knows via `CARGO_BIN_EXE_…`).
    pub fn beside(known: &Path) -> Bins {
        let dir = known.parent().expect("binary dir");
        let bins = Bins {
            coordinator: dir.join("strata-coordinator"),
            worker: dir.join("strata-worker"),
            strata: dir.join("strata"),
        };
        for bin in [&bins.coordinator, &bins.worker, &bins.strata] {
            assert!(bin.is_file(), "{} is missing: build the workspace binaries (scripts/test.sh does)", bin.display());
        }
        bins
    }
}

pub struct Fleet {
    pub bins: Bins,
    pub prefix: String,
    pub queue: String,
    pub port: u16,
    db: PathBuf,
    dir: tempfile::TempDir,
    coordinator: Option<Child>,
    workers: Vec<Child>,
    /// Extra environment for every process (registry credentials, retry settings).
    pub env: Vec<(String, String)>,
    /// Each process's `/metrics`/`/healthz`/`/readyz` port (`coordinator`, `worker-N`).
    pub ops_ports: BTreeMap<String, u16>,
}

impl Fleet {
    /// Starts a coordinator and `workers` workers.
    pub fn start(bins: Bins, db: &Path, workers: usize, env: &[(&str, &str)]) -> Fleet {
        let id = format!("t{}-{}", std::process::id(), free_port());
        let mut fleet = Fleet {
            bins,
            prefix: format!("strata-test:{id}"),
            queue: format!("strata-test.{id}"),
            port: free_port(),
            db: db.to_path_buf(),
            dir: tempfile::tempdir().expect("tempdir"),
            coordinator: None,
            workers: Vec::new(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ops_ports: BTreeMap::new(),
        };
        fleet.start_coordinator();
        for _ in 0..workers {
            fleet.add_worker();
        }
        fleet
    }

    pub fn url(&self) -> String {
        let tls = self.env.iter().any(|(k, _)| k == "STRATA_TLS_CERT");
        format!("{}://127.0.0.1:{}", if tls { "https" } else { "http" }, self.port)
    }

    fn common(&self, command: &mut Command) {
        command
            .env("STRATA_KEY_PREFIX", &self.prefix)
            .env("STRATA_QUEUE", &self.queue)
            .env("STRATA_RECHECK_MS", "500")
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
    }

    fn log(&self, name: &str) -> std::fs::File {
        std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join(name)).expect("log file")
    }

    /// A free port for a process's ops endpoint.
    fn ops(&mut self, name: &str, command: &mut Command) {
        let port = *self.ops_ports.entry(name.to_string()).or_insert_with(free_port);
        command.env("STRATA_OPS_LISTEN", format!("127.0.0.1:{port}"));
    }

    /// GET `path` on a process's ops endpoint: (status, body).
    pub fn ops_get(&self, name: &str, path: &str) -> (u16, String) {
        let port = self.ops_ports[name];
        match crate::registry::http_get(port, path) {
            Ok((status, body)) => (status, body),
            Err(e) => (0, e.to_string()),
        }
    }

    pub fn start_coordinator(&mut self) {
        let mut command = Command::new(&self.bins.coordinator);
        self.common(&mut command);
        self.ops("coordinator", &mut command);
        command.arg("--listen").arg(format!("127.0.0.1:{}", self.port)).arg("--db").arg(&self.db);
        command.stdout(self.log("coordinator.log")).stderr(self.log("coordinator.log"));
        self.coordinator = Some(command.spawn().expect("spawn coordinator"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "coordinator did not listen: {}", self.logs());
            if let Some(c) = self.coordinator.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("coordinator exited with {status}: {}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no graceful anything, as when a node dies.
    pub fn kill_coordinator(&mut self) {
        if let Some(mut c) = self.coordinator.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn add_worker(&mut self) -> usize {
        let mut command = Command::new(&self.bins.worker);
        self.common(&mut command);
        let n = self.workers.len();
        self.ops(&format!("worker-{n}"), &mut command);
        command.stdout(self.log(&format!("worker-{n}.log"))).stderr(self.log(&format!("worker-{n}.log")));
        self.workers.push(command.spawn().expect("spawn worker"));
        // The worker serves its ops endpoint once connected to RabbitMQ and Redis: wait for it, so tests
        // start with workers that consume.
        let port = self.ops_ports[&format!("worker-{n}")];
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "worker {n} did not start: {}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
        n
    }

    pub fn kill_worker(&mut self, n: usize) {
        let _ = self.workers[n].kill();
        let _ = self.workers[n].wait();
    }

    /// SIGTERM, then waits (at most `grace`) for the worker to exit; returns its exit status.
    pub fn terminate_worker(&mut self, n: usize, grace: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.workers[n].id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.workers[n].try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The process id of the coordinator (`coordinator`) and of each worker still running (`worker-N`),
    /// for tools that read `/proc`.
    pub fn pids(&mut self) -> BTreeMap<String, u32> {
        let mut pids = BTreeMap::new();
        if let Some(c) = self.coordinator.as_mut()
            && matches!(c.try_wait(), Ok(None))
        {
            pids.insert("coordinator".to_string(), c.id());
        }
        for (n, w) in self.workers.iter_mut().enumerate() {
            if matches!(w.try_wait(), Ok(None)) {
                pids.insert(format!("worker-{n}"), w.id());
            }
        }
        pids
    }

    /// `strata` with the coordinator preset.
    pub fn strata(&self) -> Command {
        let mut command = Command::new(&self.bins.strata);
        command.env("STRATA_COORDINATOR", self.url()).env("NO_COLOR", "1").stdin(Stdio::null());
        command
    }

    /// Analyses recorded per layer digest (the workers' Redis counters).
    pub fn analyses(&self) -> BTreeMap<String, u64> {
        let pattern = format!("{}:analyses:*", self.prefix);
        let keys = redis_cli(&["--scan", "--pattern", &pattern]);
        keys.lines()
            .filter(|k| !k.is_empty())
            .map(|k| {
                let digest =
                    k.rsplit_once(":sha256:").map(|(_, h)| format!("sha256:{h}")).unwrap_or_else(|| k.to_string());
                (digest, redis_cli(&["get", k]).trim().parse().unwrap_or(0))
            })
            .collect()
    }

    /// Every process's log, for assertion messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for entry in entries.flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                out.push_str(&format!("\n== {}\n", entry.file_name().to_string_lossy()));
                out.extend(tail.into_iter().rev().map(|l| format!("{l}\n")));
            }
        }
        out
    }
}

fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli").args(args).output().expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.kill_coordinator();
        for w in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        let keys = redis_cli(&["--scan", "--pattern", &format!("{}:*", self.prefix)]);
        for chunk in keys.lines().filter(|k| !k.is_empty()).collect::<Vec<_>>().chunks(200) {
            let mut args = vec!["del"];
            args.extend(chunk);
            redis_cli(&args);
        }
        for queue in [self.queue.clone(), format!("{}.dlq", self.queue)] {
            let _ = Command::new("rabbitmqctl").args(["-q", "delete_queue", &queue]).output();
        }
    }
}
