//! The pool of analysis children with the real worker binary: one child serves job after job, a child
//! killed mid-job fails only that job and is replaced, a dropped job (the per-layer deadline) kills its
//! child, the declared size is enforced, a blob that cannot be read to its end fails without costing
//! the child, and the worker's secret config reaches the children.

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use strata_testkit::tarball::TarBuilder;
use strata_worker::Isolation;

/// A plain tar layer with one file, and its digest.
fn layer(path: &str, data: &[u8]) -> (Vec<u8>, String) {
    let blob = TarBuilder::new().file(path, data).build();
    let digest = strata_testkit::sha256(&blob);
    (blob, digest)
}

fn pool() -> Isolation {
    Isolation::new(env!("CARGO_BIN_EXE_strata-worker").into(), Some(1024 << 20))
}

async fn analyse(pool: &Isolation, blob: &[u8], digest: &str) -> Result<strata_scanner::layer::LayerInventory, String> {
    let reader = Box::new(std::io::Cursor::new(blob.to_vec()));
    tokio::time::timeout(Duration::from_secs(60), pool.analyse(reader, digest, blob.len() as u64))
        .await
        .expect("the analysis ends")
}

/// Yields `head`, then blocks until `release` is dropped or sends, then ends.
struct Held {
    head: std::io::Cursor<Vec<u8>>,
    release: mpsc::Receiver<()>,
}

impl Read for Held {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.head.read(buf)?;
        if n == 0 {
            let _ = self.release.recv();
        }
        Ok(n)
    }
}

/// Waits until the pool has no idle child, i.e. the job in flight took it.
async fn wait_busy(pool: &Isolation) {
    for _ in 0..500 {
        if pool.idle_children().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the job never took the idle child");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_child_serves_jobs_in_a_row_and_a_killed_one_is_replaced() {
    let pool = pool();
    let (blob, digest) = layer("etc/os-release", b"ID=alpine\nVERSION_ID=3.19.1\n");
    let first = analyse(&pool, &blob, &digest).await.expect("first job");
    assert!(first.files.contains_key("etc/os-release") || first.files.contains_key("/etc/os-release"), "{first:?}");
    let served = pool.idle_children();
    assert_eq!(served.len(), 1, "one child, kept for the next job");
    for n in 0..3 {
        analyse(&pool, &blob, &digest).await.unwrap_or_else(|e| panic!("job {n}: {e}"));
    }
    assert_eq!(pool.idle_children(), served, "the same child served every job");

    // Killed mid-job: the job fails saying how, the next one gets a new child.
    let (release, held) = mpsc::channel();
    let reader = Box::new(Held { head: std::io::Cursor::new(blob[..1024].to_vec()), release: held });
    let job = {
        let (pool, digest, size) = (pool.clone(), digest.clone(), blob.len() as u64);
        tokio::spawn(async move { pool.analyse(reader, &digest, size).await })
    };
    wait_busy(&pool).await;
    // SAFETY: a plain kill(2) of the child this test's pool started.
    assert_eq!(unsafe { libc::kill(served[0] as i32, libc::SIGKILL) }, 0);
    let failed = tokio::time::timeout(Duration::from_secs(30), job).await.expect("the job ends").unwrap();
    drop(release);
    let failed = failed.expect_err("a killed child fails its job");
    assert!(failed.contains(&digest) && failed.contains("SIGKILL"), "{failed}");
    analyse(&pool, &blob, &digest).await.expect("the job after the kill");
    let replaced = pool.idle_children();
    assert_eq!(replaced.len(), 1);
    assert_ne!(replaced, served, "a new child");

    // Dropped mid-job (the worker's deadline): the child is killed, not put back.
    let (release, held) = mpsc::channel();
    let reader = Box::new(Held { head: std::io::Cursor::new(blob[..1024].to_vec()), release: held });
    let dropped = tokio::time::timeout(Duration::from_millis(500), pool.analyse(reader, &digest, 4096)).await;
    assert!(dropped.is_err(), "the held job cannot finish");
    drop(release);
    assert!(pool.idle_children().is_empty(), "the dropped job's child is not kept");
    let mut gone = false;
    for _ in 0..200 {
        // SAFETY: signal 0 only checks that the process exists.
        if unsafe { libc::kill(replaced[0] as i32, 0) } != 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "the dropped job's child was killed");
    analyse(&pool, &blob, &digest).await.expect("the job after the drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_declared_size_is_enforced_and_an_error_keeps_the_child() {
    let pool = pool();
    let (blob, digest) = layer("etc/hostname", b"box\n");
    let reader = Box::new(std::io::Cursor::new(blob.clone()));
    let short = pool.analyse(reader, &digest, blob.len() as u64 + 10).await.expect_err("a blob under its size");
    assert!(short.contains(&digest) && short.contains("declared"), "{short}");
    let served = pool.idle_children();
    assert_eq!(served.len(), 1, "an analysis error leaves the child serving");
    // Longer than declared: only the declared bytes are analysed, so the digest does not match.
    let reader = Box::new(std::io::Cursor::new(blob.clone()));
    let long = pool.analyse(reader, &digest, blob.len() as u64 - 512).await.expect_err("a blob over its size");
    assert!(long.contains(&digest), "{long}");
    // A blob the worker fails to read midway (the registry's stream broke): the child is told, answers,
    // and serves on.
    let broken = Box::new(std::io::Cursor::new(blob[..1024].to_vec()).chain(Broken));
    let unread = pool.analyse(broken, &digest, blob.len() as u64).await.expect_err("a broken read");
    assert!(unread.contains(&digest) && unread.contains("reading the blob: connection reset"), "{unread}");
    analyse(&pool, &blob, &digest).await.expect("the exact size");
    assert_eq!(pool.idle_children(), served, "the same child after the three errors");
}

/// A reader whose stream breaks.
struct Broken;

impl Read for Broken {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_config_reaches_the_children() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("secrets.yaml");
    std::fs::write(
        &config,
        "rules:\n  - id: strata-test-token\n    title: Strata test token\n    severity: HIGH\n    \
         keywords: [stratatok]\n    regex: 'stratatok_(?P<secret>[a-z0-9]{24})'\n",
    )
    .unwrap();
    let (blob, digest) = layer("app/settings.ini", b"token = stratatok_abcdefghij0123456789klmn\n");
    let builtin = analyse(&pool(), &blob, &digest).await.expect("built-in rules");
    assert!(builtin.secrets.iter().all(|s| s.rule_id != "strata-test-token"), "{:?}", builtin.secrets);
    let mut custom = pool();
    custom.secret_config = Some(config);
    let found = analyse(&custom, &blob, &digest).await.expect("custom rules");
    assert!(found.secrets.iter().any(|s| s.rule_id == "strata-test-token"), "{:?}", found.secrets);
}
