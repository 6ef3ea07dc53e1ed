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

impl Bins {
    /// `strata db build --out DIR/NAME --osv OSV…`: the DB file.
    pub fn build_db(&self, dir: &Path, osv: &[PathBuf], name: &str) -> PathBuf {
        let out = dir.join(name);
        let mut cmd = Command::new(&self.strata);
        cmd.args(["db", "build", "--out"]).arg(&out).arg("--osv").args(osv);
        let (code, _, err) = run(cmd);
        assert_eq!(code, 0, "strata db build: {err}");
        out
    }
}

/// Runs `command` to the end: (exit code, stdout, stderr).
pub fn run(mut command: Command) -> (i32, String, String) {
    let out = command.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub struct Fleet {
    pub bins: Bins,
    pub prefix: String,
    pub queue: String,
    pub port: u16,
    /// The coordinator's HTTP API (`STRATA_HTTP_LISTEN`): the same across restarts, as a registry's
    /// notification endpoint needs.
    pub http_port: u16,
    db: PathBuf,
    dir: tempfile::TempDir,
    coordinator: Option<Child>,
    /// Further coordinators on the same prefix and queue.
    replicas: Vec<Child>,
    workers: Vec<Child>,
    /// Extra environment for every process (registry credentials, retry settings).
    pub env: Vec<(String, String)>,
    /// Extra environment for the workers only (credentials the coordinator must not have).
    pub worker_env: Vec<(String, String)>,
    /// Each process's `/metrics`/`/healthz`/`/readyz` port (`coordinator`, `worker-N`).
    pub ops_ports: BTreeMap<String, u16>,
}

impl Fleet {
    /// Starts a coordinator and `workers` workers. An empty `db` path starts the coordinator without a DB.
    pub fn start(bins: Bins, db: &Path, workers: usize, env: &[(&str, &str)]) -> Fleet {
        Self::start_with_worker_env(bins, db, workers, env, &[])
    }

    /// As [`start`](Self::start), with `worker_env` set for the workers only.
    pub fn start_with_worker_env(
        bins: Bins,
        db: &Path,
        workers: usize,
        env: &[(&str, &str)],
        worker_env: &[(&str, &str)],
    ) -> Fleet {
        let id = format!("t{}-{}", std::process::id(), free_port());
        let mut fleet = Fleet {
            bins,
            prefix: format!("strata-test:{id}"),
            queue: format!("strata-test.{id}"),
            port: free_port(),
            http_port: free_port(),
            db: db.to_path_buf(),
            dir: tempfile::tempdir().expect("tempdir"),
            coordinator: None,
            replicas: Vec::new(),
            workers: Vec::new(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            worker_env: worker_env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
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

    /// `http://127.0.0.1:PORT`: the coordinator's HTTP API.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// A request to the coordinator's HTTP API.
    pub fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<crate::registry::Response> {
        crate::registry::http(self.http_port, method, path, headers, body)
    }

    fn common(&self, command: &mut Command) {
        command
            .env("STRATA_KEY_PREFIX", &self.prefix)
            .env("STRATA_QUEUE", &self.queue)
            .env("STRATA_RECHECK_MS", "500")
            .env("RUST_LOG", "info")
            // Test registries live on ephemeral loopback ports; a test that checks the allow-list sets its own.
            .env("STRATA_ALLOWED_REGISTRIES", "127.0.0.1:*")
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
        let child = self.spawn_coordinator("coordinator", self.port, self.http_port);
        self.coordinator = Some(child);
    }

    /// Starts one more coordinator on the same Redis prefix and queue (a replica, as in a deployment of
    /// several); it is stopped with the fleet. Returns its gRPC port.
    pub fn add_coordinator(&mut self) -> u16 {
        let port = free_port();
        let name = format!("coordinator-{}", self.replicas.len() + 1);
        let child = self.spawn_coordinator(&name, port, free_port());
        self.replicas.push(child);
        port
    }

    /// As [`add_coordinator`](Self::add_coordinator), keeping its DB in a file of its own (`db`), as
    /// replicas on separate nodes do. Returns its gRPC port; its ops endpoint is `coordinator-N`.
    pub fn add_coordinator_with_db(&mut self, db: &Path) -> u16 {
        let port = free_port();
        let name = format!("coordinator-{}", self.replicas.len() + 1);
        let child = self.spawn_coordinator_with(&name, port, free_port(), &db.to_path_buf());
        self.replicas.push(child);
        port
    }

    fn spawn_coordinator(&mut self, name: &str, port: u16, http_port: u16) -> Child {
        let db = self.db.clone();
        self.spawn_coordinator_with(name, port, http_port, &db)
    }

    fn spawn_coordinator_with(&mut self, name: &str, port: u16, http_port: u16, db: &PathBuf) -> Child {
        let mut command = Command::new(&self.bins.coordinator);
        self.common(&mut command);
        self.ops(name, &mut command);
        command.arg("--listen").arg(format!("127.0.0.1:{port}"));
        if !db.as_os_str().is_empty() {
            command.arg("--db").arg(db);
        }
        command.env("STRATA_HTTP_LISTEN", format!("127.0.0.1:{http_port}"));
        let log = format!("{name}.log");
        command.stdout(self.log(&log)).stderr(self.log(&log));
        let mut child = command.spawn().expect("spawn coordinator");
        let deadline = Instant::now() + Duration::from_secs(30);
        let listening = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        while !listening(port) || !listening(http_port) {
            assert!(Instant::now() < deadline, "{name} did not listen: {}", self.logs());
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited with {status}: {}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// SIGKILL: no graceful anything, as when a node dies.
    pub fn kill_coordinator(&mut self) {
        if let Some(mut c) = self.coordinator.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits (at most `grace`) for the coordinator to exit; returns its exit status.
    pub fn terminate_coordinator(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let child = self.coordinator.as_mut()?;
        let status = terminate(child, grace);
        if status.is_some() {
            self.coordinator = None;
        }
        status
    }

    pub fn add_worker(&mut self) -> usize {
        let mut command = Command::new(&self.bins.worker);
        self.common(&mut command);
        command.envs(self.worker_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
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
        terminate(&mut self.workers[n], grace)
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

    /// `strata status ID --json`: the scan's row, its DefectDojo deliveries included.
    pub fn status(&self, id: &str) -> serde_json::Value {
        let out = self.strata().args(["status", id, "--json"]).output().expect("run strata status");
        assert!(out.status.success(), "strata status {id}: {}", String::from_utf8_lossy(&out.stderr));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        rows[0].clone()
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

    /// The whole log of one process (`coordinator.log`, `worker-0.log`).
    pub fn log_text(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
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

fn terminate(child: &mut Child, grace: Duration) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// `redis-cli ARGS…` against the machine's Redis: its standard output.
pub fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli").args(args).output().expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.kill_coordinator();
        for w in self.replicas.iter_mut().chain(&mut self.workers) {
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
