//! A Redis server and a RabbitMQ node of a test's own, on free 127.0.0.1 ports with their data in a
//! temporary directory, for tests (and `strata-loadtest --faults`) that stop and start them while a
//! fleet runs, or that need TLS listeners (`start_tls`: only TLS, client certificates required). The
//! machine's shared RabbitMQ and Redis are never restarted.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pki::Pki;
use crate::registry::free_port;

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
}

fn wait_for_port(port: u16, within: Duration, what: &str, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status}: {}", tail(log));
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port} within {within:?}: {}", tail(log));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops the service in `child`, if running: SIGTERM to its process group, SIGKILL after `grace`.
fn stop(child: &mut Option<Child>, grace: Duration) {
    if let Some(mut child) = child.take() {
        stop_group(&mut child, grace);
    }
}

/// SIGTERM to the process group, then waits for it to be gone (SIGKILL after `grace`).
fn stop_group(child: &mut Child, grace: Duration) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        // Reap our own child once it exits: an unreaped zombie still counts as a member of the group.
        let _ = child.try_wait();
        let alive = Command::new("kill").args(["-0", "--", &group]).stderr(Stdio::null()).status();
        if !alive.is_ok_and(|s| s.success()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
    let _ = child.wait();
}

/// `redis-server` on its own port. With `appendonly` it keeps its data across a restart (fsync every
/// second), as a production deployment would; without, it restarts empty, as the machine's Redis does.
pub struct OwnedRedis {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    appendonly: bool,
    /// Further `redis-server` arguments (`--maxmemory-policy allkeys-lru`).
    args: Vec<String>,
    tls: Option<Pki>,
}

impl OwnedRedis {
    pub fn start(dir: &Path, appendonly: bool) -> OwnedRedis {
        Self::launch_with(dir, appendonly, &[], None)
    }

    /// As [`start`](Self::start), with further `redis-server` arguments.
    pub fn start_with(dir: &Path, appendonly: bool, args: &[&str]) -> OwnedRedis {
        Self::launch_with(dir, appendonly, args, None)
    }

    /// Only a TLS port, with `pki`'s server certificate; clients must present one signed by its CA.
    pub fn start_tls(dir: &Path, pki: &Pki) -> OwnedRedis {
        Self::launch_with(dir, false, &[], Some(pki.clone()))
    }

    fn launch_with(dir: &Path, appendonly: bool, args: &[&str], tls: Option<Pki>) -> OwnedRedis {
        let dir = dir.join("redis");
        std::fs::create_dir_all(&dir).expect("redis dir");
        let args = args.iter().map(|a| a.to_string()).collect();
        let mut redis = OwnedRedis { child: None, port: free_port(), dir, appendonly, args, tls };
        redis.launch();
        redis
    }

    fn launch(&mut self) {
        let log = self.dir.join("redis.log");
        let mut command = Command::new("redis-server");
        let port = self.port.to_string();
        match &self.tls {
            None => command.args(["--port", &port]),
            Some(pki) => command
                .args(["--port", "0", "--tls-port", &port, "--tls-cert-file"])
                .arg(&pki.server_cert)
                .arg("--tls-key-file")
                .arg(&pki.server_key)
                .arg("--tls-ca-cert-file")
                .arg(&pki.ca),
        };
        let mut child = command
            .args(["--bind", "127.0.0.1", "--save", "", "--daemonize", "no"])
            .args(["--appendonly", if self.appendonly { "yes" } else { "no" }, "--appendfsync", "everysec"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("redis-server must be installed (Debian package redis-server)");
        wait_for_port(self.port, Duration::from_secs(30), "redis-server", &mut child, &log);
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", if self.tls.is_some() { "rediss" } else { "redis" }, self.port)
    }

    pub fn appendonly(&self) -> bool {
        self.appendonly
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops it (SIGTERM: Redis flushes its append-only file), waits `down`, starts it on the same port.
    pub fn restart(&mut self, down: Duration) {
        stop(&mut self.child, Duration::from_secs(20));
        std::thread::sleep(down);
        self.launch();
    }
}

impl Drop for OwnedRedis {
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(5));
    }
}

/// A RabbitMQ node: its own node name, ports, data and log directories, no plugins. Durable queues and
/// persistent messages survive its restart.
pub struct OwnedRabbit {
    child: Option<Child>,
    pub port: u16,
    dist_port: u16,
    node: String,
    dir: PathBuf,
    tls: bool,
}

impl OwnedRabbit {
    pub fn start(dir: &Path) -> OwnedRabbit {
        Self::start_with(dir, None)
    }

    /// Only an `amqps` listener, with `pki`'s server certificate; clients must present one signed by its CA.
    pub fn start_tls(dir: &Path, pki: &Pki) -> OwnedRabbit {
        Self::start_with(dir, Some(pki))
    }

    fn start_with(dir: &Path, tls: Option<&Pki>) -> OwnedRabbit {
        let dir = dir.join("rabbitmq");
        std::fs::create_dir_all(&dir).expect("rabbitmq dir");
        let port = free_port();
        let config = match tls {
            None => format!("listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n"),
            Some(pki) => format!(
                "listeners.tcp = none\nlisteners.ssl.default = 127.0.0.1:{port}\nloopback_users = none\n\
                 ssl_options.cacertfile = {}\nssl_options.certfile = {}\nssl_options.keyfile = {}\n\
                 ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\n",
                pki.ca.display(),
                pki.server_cert.display(),
                pki.server_key.display(),
            ),
        };
        std::fs::write(dir.join("rabbitmq.conf"), config).expect("rabbitmq.conf");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("enabled_plugins");
        std::fs::write(dir.join("rabbitmq-env.conf"), "").expect("rabbitmq-env.conf");
        let node = format!("strata-test-{}-{port}@localhost", std::process::id());
        let mut rabbit = OwnedRabbit { child: None, port, dist_port: free_port(), node, dir, tls: tls.is_some() };
        rabbit.launch();
        rabbit
    }

    fn launch(&mut self) {
        let log = self.dir.join("server.log");
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("rabbitmq log");
        let dir = &self.dir;
        // The packaged wrapper (/usr/sbin/rabbitmq-server) switches to the rabbitmq user; this node runs as
        // us, with its own HOME (Erlang cookie) and every path in its directory.
        let mut child = Command::new("/usr/lib/rabbitmq/bin/rabbitmq-server")
            .env("HOME", dir)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_PID_FILE", dir.join("pid"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("rabbitmq-server must be installed (Debian package rabbitmq-server)");
        // A node boots in seconds on a quiet machine, in a minute or more on a loaded one.
        wait_for_port(self.port, Duration::from_secs(240), "rabbitmq-server", &mut child, &log);
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("{}://guest:guest@127.0.0.1:{}/%2f", if self.tls { "amqps" } else { "amqp" }, self.port)
    }

    /// `rabbitmqctl ARGS…` against this node: its standard output.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new("/usr/lib/rabbitmq/bin/rabbitmqctl")
            .env("HOME", &self.dir)
            .args(["-q", "-n", &self.node])
            .args(args)
            .output()
            .expect("rabbitmqctl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The Erlang VM's process (a grandchild: the start script runs it), from the node's pid file.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("pid")).ok()?.trim().parse().ok()
    }

    /// Stops the node (SIGTERM: a clean shutdown), waits `down`, starts it with the same name and data.
    pub fn restart(&mut self, down: Duration) {
        stop(&mut self.child, Duration::from_secs(60));
        std::thread::sleep(down);
        self.launch();
    }
}

impl Drop for OwnedRabbit {
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(30));
    }
}
