//! One trace from `strata submit` to the delivered DefectDojo import: the real `strata`, coordinator and
//! worker binaries export their spans over OTLP/gRPC to a test-owned receiver (`testkit::otlp`), with the
//! machine's RabbitMQ and Redis, a real registry and the DefectDojo stand-in on the other side.
//!
//! The batch delay is a minute, longer than the test waits: every span that arrives was flushed by a
//! process's exit (the CLI's, then the worker's and the coordinator's graceful stop).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use strata_testkit::debian::{Rootfs, minbase_osv, with_source_version};
use strata_testkit::defectdojo::{HashMode, MockDefectDojo};
use strata_testkit::fleet::{Bins, Fleet};
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::otlp::{OtlpReceiver, ReceivedSpan};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

const KEY: &str = "dd-trace-key-7e21c0";
const NO_TIMER_FLUSH: &str = "60000";

fn run(mut command: Command) -> (i32, String, String) {
    let out = command.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A two-layer image: Debian's release files and a dpkg status with openssl downgraded (real findings),
/// then an application file.
fn push_small_image(registry: &TestRegistry, dir: &Path) -> String {
    let status = with_source_version(&Rootfs::bullseye().status, "openssl", "1.1.1k-1+deb11u1");
    let os_release = "PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"11\"\n\
                      VERSION=\"11 (bullseye)\"\nVERSION_CODENAME=bullseye\nID=debian\n";
    let system = TarBuilder::new()
        .file("etc/os-release", os_release.as_bytes())
        .file("etc/debian_version", b"11.11\n")
        .file("var/lib/dpkg/status", status.as_bytes())
        .build();
    let app = TarBuilder::new().file("srv/app/VERSION", b"1.0\n").build();
    let layout = dir.join("layout");
    ImageBuilder::new()
        .layer(LayerContent::Bytes(system), Compression::Gzip, "ADD system /")
        .layer(LayerContent::Bytes(app), Compression::Gzip, "COPY app /srv/app")
        .write_layout(&layout, "1.0");
    registry.push(&layout, "1.0", "traced/app:1.0", &[]);
    format!("{}/traced/app:1.0", registry.host())
}

/// A receiver, a registry with the small image, and a DB.
struct Setup {
    bins: Bins,
    receiver: OtlpReceiver,
    _registry: TestRegistry,
    reference: String,
    db: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let bins = Bins::beside(Path::new(env!("CARGO_BIN_EXE_strata")));
        let tmp = tempfile::tempdir().unwrap();
        let registry = TestRegistry::start();
        let reference = push_small_image(&registry, tmp.path());
        let db = tmp.path().join("strata.db");
        let mut cmd = Command::new(&bins.strata);
        cmd.args(["db", "build", "--out"]).arg(&db).arg("--osv").arg(minbase_osv());
        let (code, _, err) = run(cmd);
        assert_eq!(code, 0, "{err}");
        Setup { bins, receiver: OtlpReceiver::start(), _registry: registry, reference, db, _tmp: tmp }
    }

    /// The environment that exports spans to the receiver, flushed only at exit.
    fn otel(&self) -> [(&'static str, String); 2] {
        [("OTEL_EXPORTER_OTLP_ENDPOINT", self.receiver.endpoint()), ("OTEL_BSP_SCHEDULE_DELAY", NO_TIMER_FLUSH.into())]
    }
}

/// Stops the worker and the coordinator gracefully (their exits flush their spans).
fn stop(fleet: &mut Fleet) {
    std::thread::sleep(Duration::from_millis(300));
    let worker = fleet.terminate_worker(0, Duration::from_secs(30));
    assert!(worker.is_some_and(|s| s.success()), "worker stop: {worker:?}\n{}", fleet.logs());
    let coordinator = fleet.terminate_coordinator(Duration::from_secs(30));
    assert!(coordinator.is_some_and(|s| s.success()), "coordinator stop: {coordinator:?}\n{}", fleet.logs());
}

fn only<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one {name} span expected: {spans:#?}");
    found[0]
}

#[test]
fn one_scan_is_one_trace_from_submit_to_the_defectdojo_import() {
    let setup = Setup::new();
    let (receiver, reference) = (&setup.receiver, &setup.reference);
    let mock = MockDefectDojo::start(KEY, HashMode::Default);
    let dd_url = mock.url();
    let mut env = vec![("STRATA_DEFECTDOJO_URL", dd_url.clone()), ("STRATA_DEFECTDOJO_TOKEN", KEY.to_string())];
    env.extend(setup.otel());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut fleet = Fleet::start(setup.bins.clone(), &setup.db, 1, &env);

    let mut submit = fleet.strata();
    submit.args(["submit", "--wait", reference]).envs(setup.otel());
    let (code, out, err) = run(submit);
    assert_eq!(code, 0, "submit --wait: {out}\n{err}\n{}", fleet.logs());
    let scan_id = out.split('\t').next().unwrap_or_default().to_string();
    // Flushed by the CLI's exit, before the fleet's processes have sent anything.
    let cli = receiver
        .wait_for(Duration::from_secs(10), |spans| spans.iter().any(|s| s.name == "submit"))
        .unwrap_or_else(|spans| panic!("no submit span from the CLI: {spans:#?}"));
    assert!(cli.iter().all(|s| s.service == "strata"), "only the CLI flushed yet: {cli:#?}");

    let deadline = Instant::now() + Duration::from_secs(120);
    let row = loop {
        let row = fleet.status(&scan_id);
        let deliveries = row["defectdojo"].as_array().cloned().unwrap_or_default();
        if !deliveries.is_empty() && deliveries.iter().all(|d| d["state"] == "delivered") {
            break row;
        }
        assert!(Instant::now() < deadline, "no DefectDojo delivery: {row:#}\n{}", fleet.logs());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(mock.imports().len(), 1);
    let digest = row["image_digest"].as_str().unwrap_or_default().to_string();

    // A graceful stop flushes what the batch timer has not sent.
    stop(&mut fleet);

    let names = ["submit", "scan", "layer_job", "fetch", "analyze", "cache_write", "assemble", "defectdojo_delivery"];
    let spans = receiver
        .wait_for(Duration::from_secs(10), |spans| {
            names.iter().all(|n| spans.iter().any(|s| s.name == *n))
                && spans.iter().filter(|s| s.name == "layer_job").count() >= 2
        })
        .unwrap_or_else(|spans| panic!("spans missing: {spans:#?}\n{}", fleet.logs()));

    let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(services, BTreeSet::from(["strata", "strata-coordinator", "strata-worker"]));

    // One trace, rooted at the CLI's submit.
    let root = only(&spans, "submit");
    assert_eq!(root.service, "strata");
    assert!(root.parent_span_id.is_empty(), "submit is the root: {root:?}");
    let trace: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == root.trace_id).collect();
    assert_eq!(trace.len(), spans.len(), "every span in the submit's trace: {spans:#?}");
    // A span per unit of work, never per file or package: 4 + 2 layers × (job, fetch, analyze, write).
    let counts: BTreeMap<&str, usize> = trace.iter().fold(BTreeMap::new(), |mut m, s| {
        *m.entry(s.name.as_str()).or_default() += 1;
        m
    });
    let expected: BTreeMap<&str, usize> = BTreeMap::from([
        ("submit", 1),
        ("scan", 1),
        ("layer_job", 2),
        ("fetch", 2),
        ("analyze", 2),
        ("cache_write", 2),
        ("assemble", 1),
        ("defectdojo_delivery", 1),
    ]);
    assert_eq!(counts, expected, "{trace:#?}");

    let scan = only(&spans, "scan");
    assert_eq!((scan.service.as_str(), scan.parent_span_id.as_str()), ("strata-coordinator", root.span_id.as_str()));
    assert_eq!(scan.attribute("scan.id"), Some(scan_id.as_str()));
    assert_eq!(scan.attribute("image.reference"), Some(reference.as_str()));
    assert!(digest.starts_with("sha256:"), "{row:#}");
    assert_eq!(scan.attribute("image.digest"), Some(digest.as_str()));
    assert_eq!(scan.attribute("scan.status"), Some("done"));

    for name in ["assemble", "defectdojo_delivery"] {
        let span = only(&spans, name);
        assert_eq!(
            (span.service.as_str(), span.parent_span_id.as_str()),
            ("strata-coordinator", scan.span_id.as_str())
        );
    }
    let delivery = only(&spans, "defectdojo_delivery");
    assert_eq!(delivery.attribute("delivery.state"), Some("delivered"));
    assert_eq!(delivery.attribute("scan.id"), Some(scan_id.as_str()));
    assert!(only(&spans, "assemble").attribute("image.packages").is_some_and(|n| n != "0"));

    let jobs: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name == "layer_job").collect();
    for job in &jobs {
        assert_eq!((job.service.as_str(), job.parent_span_id.as_str()), ("strata-worker", scan.span_id.as_str()));
        assert_eq!(job.attribute("scan.id"), Some(scan_id.as_str()));
        assert_eq!(job.attribute("job.outcome"), Some("analysed"), "{job:?}");
        let children: BTreeSet<&str> =
            spans.iter().filter(|s| s.parent_span_id == job.span_id).map(|s| s.name.as_str()).collect();
        assert_eq!(children, BTreeSet::from(["fetch", "analyze", "cache_write"]), "children of {job:?}");
    }
    let layers: BTreeSet<&str> = jobs.iter().filter_map(|j| j.attribute("layer.digest")).collect();
    assert_eq!(layers.len(), 2, "{jobs:#?}");

    // The JSON log lines inside a traced span carry its trace id.
    let log = fleet.log_text("coordinator.log");
    let delivered = log.lines().find(|l| l.contains("delivered to DefectDojo")).expect("the delivery's log line");
    assert!(delivered.contains(&format!("\"trace_id\":\"{}\"", root.trace_id)), "{delivered}");
}

#[test]
fn a_scan_resumed_by_a_new_coordinator_stays_in_the_submit_trace() {
    let setup = Setup::new();
    let otel = setup.otel();
    let env: Vec<(&str, &str)> = otel.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // No worker yet: the scan waits on its layer jobs while its first coordinator dies.
    let mut fleet = Fleet::start(setup.bins.clone(), &setup.db, 0, &env);
    let mut submit = fleet.strata();
    submit.args(["submit", &setup.reference]).envs(setup.otel());
    let (code, out, err) = run(submit);
    assert_eq!(code, 0, "submit: {out}\n{err}");
    let scan_id = out.split('\t').next().unwrap_or_default().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while fleet.status(&scan_id)["status"] != "analyzing" {
        assert!(Instant::now() < deadline, "the scan never reached its layers\n{}", fleet.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    fleet.kill_coordinator();
    fleet.start_coordinator();
    fleet.add_worker();
    // The dead replica's lease runs out first (30 s), then the new coordinator resumes the scan.
    let deadline = Instant::now() + Duration::from_secs(120);
    while fleet.status(&scan_id)["status"] != "done" {
        assert!(Instant::now() < deadline, "the resumed scan did not finish\n{}", fleet.logs());
        std::thread::sleep(Duration::from_millis(500));
    }
    stop(&mut fleet);

    let spans = setup
        .receiver
        .wait_for(Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.name == "assemble") && spans.iter().filter(|s| s.name == "layer_job").count() >= 2
        })
        .unwrap_or_else(|spans| panic!("spans missing: {spans:#?}\n{}", fleet.logs()));
    let root = only(&spans, "submit");
    assert_eq!(root.service, "strata");
    assert!(spans.iter().all(|s| s.trace_id == root.trace_id), "one trace: {spans:#?}");
    // The killed run's spans died with it; the resumed run is a child of the same submit.
    let runs: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name == "scan").collect();
    assert!(!runs.is_empty() && runs.iter().all(|r| r.parent_span_id == root.span_id), "{runs:#?}");
    let done = runs.iter().find(|r| r.attribute("scan.status") == Some("done")).expect("the resumed run");
    assert_eq!(done.attribute("scan.id"), Some(scan_id.as_str()));
    assert_eq!(only(&spans, "assemble").parent_span_id, done.span_id);
}

#[test]
fn an_otlp_endpoint_the_exporter_cannot_use_is_a_clear_error() {
    let bins = Bins::beside(Path::new(env!("CARGO_BIN_EXE_strata")));
    for (endpoint, says) in [
        ("https://collector.example:4317", "OTLP over TLS is not supported"),
        ("http://not a host:4317", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ] {
        let mut submit = Command::new(&bins.strata);
        submit.args(["submit", "--coordinator", "http://127.0.0.1:9", "registry.example/app:1"]);
        submit.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
        let (code, _, err) = run(submit);
        assert_eq!(code, 2, "{endpoint}: {err}");
        assert!(err.contains(says) && !err.contains("coordinator"), "{endpoint}: {err}");
    }
}
