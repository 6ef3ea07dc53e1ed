//! The fleet index against a brute force over the stored reports: a real coordinator and worker, Redis,
//! RabbitMQ and a local registry holding a few hundred images on three layer chains that share bases. Every
//! query (each advisory seen, each package, ranges, repository globs) and rollup the index answers must
//! EQUAL what the latest done report of each reference says — after the first scans, after new scans of
//! re-pushed tags supersede old ones, after a rescan, and after retention prunes images.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use strata_coordinator::query::range::PackageSelector;
use strata_coordinator::query::{Base, Match, QueryAnswer, RollupAnswer};
use strata_coordinator::retention::{RetentionSettings, prune};
use strata_coordinator::runner::now_ms;
use strata_coordinator::store::ScanStore;
use strata_proto::status::is_terminal;
use strata_proto::v1::scan_service_client::ScanServiceClient;
use strata_proto::v1::{FleetQueryRequest, GetReportRequest, ListScansRequest, RollupRequest, Scan, ScanStatus};
use strata_scanner::report::Report;
use strata_testkit::debian::{Rootfs, with_source_version};
use strata_testkit::fleet::Fleet;
use strata_testkit::populate::{Layer, Populator};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use common::{bins, build_db, run};

const IMAGES: usize = 240;
const TOKEN: &str = "query-test-token";

type Bearer = Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;
type Client = ScanServiceClient<InterceptedService<Channel, Bearer>>;

/// A layer with the bullseye base files and its dpkg status, `rewrite` applied.
fn base_layer(rootfs: &Rootfs, rewrite: &[(&str, &str)], marker: &str) -> Layer {
    let status = rewrite.iter().fold(rootfs.status.clone(), |s, (source, v)| with_source_version(&s, source, v));
    Layer::from_tar(
        &TarBuilder::new()
            .file("etc/os-release", &rootfs.file("usr/lib/os-release"))
            .file("etc/debian_version", &rootfs.file("etc/debian_version"))
            .file("var/lib/dpkg/status", status.as_bytes())
            .file(&format!("etc/{marker}"), marker.as_bytes())
            .build(),
    )
}

fn app_layer(i: usize, generation: u32) -> Layer {
    Layer::from_tar(&TarBuilder::new().file(&format!("srv/app/{i}-{generation}.txt"), b"app\n").build())
}

fn repository(i: usize) -> String {
    format!("team-{}/app{}", ["a", "b", "c"][i % 3], i % 8)
}

async fn client(fleet: &Fleet) -> Client {
    let channel = Channel::from_shared(fleet.url()).unwrap().connect().await.unwrap();
    let header: tonic::metadata::MetadataValue<_> = format!("Bearer {TOKEN}").parse().unwrap();
    let interceptor: Bearer = Box::new(move |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", header.clone());
        Ok(r)
    });
    ScanServiceClient::with_interceptor(channel, interceptor).max_decoding_message_size(256 * 1024 * 1024)
}

async fn scans(client: &mut Client) -> Vec<Scan> {
    client.list_scans(ListScansRequest::default()).await.unwrap().into_inner().scans
}

/// Waits until the coordinator has `expected` scans and all of them are done.
async fn all_done(client: &mut Client, expected: usize, fleet: &Fleet) {
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let scans = scans(client).await;
        let finished = scans.iter().filter(|s| is_terminal(s.status)).count();
        if scans.len() == expected && finished == expected {
            let failed: Vec<&Scan> = scans.iter().filter(|s| s.status != ScanStatus::Done as i32).collect();
            assert!(failed.is_empty(), "scans that did not finish done: {failed:?}");
            return;
        }
        assert!(Instant::now() < deadline, "{finished}/{expected} scans finished\n{}", fleet.logs());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Each reference's latest done scan (by creation, as a rescan picks it) and its stored report.
async fn latest_reports(client: &mut Client) -> BTreeMap<String, (String, Report)> {
    let mut latest: BTreeMap<String, Scan> = BTreeMap::new();
    for scan in scans(client).await.into_iter().filter(|s| s.status == ScanStatus::Done as i32) {
        match latest.get(&scan.reference) {
            Some(kept) if (kept.created_unix_ms, &kept.id) >= (scan.created_unix_ms, &scan.id) => {}
            _ => {
                latest.insert(scan.reference.clone(), scan);
            }
        }
    }
    let mut reports = BTreeMap::new();
    for (reference, scan) in latest {
        let json = client.get_report(GetReportRequest { id: scan.id.clone() }).await.unwrap().into_inner().json;
        reports.insert(reference, (scan.id, serde_json::from_slice::<Report>(&json).unwrap()));
    }
    reports
}

fn glob_allows(glob: Option<&str>, reference: &str) -> bool {
    let Some(glob) = glob else { return true };
    let matcher = globset::GlobBuilder::new(glob).literal_separator(true).build().unwrap().compile_matcher();
    let repository = strata_registry::repository_of(reference);
    matcher.is_match(repository) || repository.split_once('/').is_some_and(|(_, p)| matcher.is_match(p))
}

/// The brute force: every finding of every latest report that the query selects.
fn brute_query(
    reports: &BTreeMap<String, (String, Report)>,
    advisory: Option<&str>,
    package: Option<&str>,
    glob: Option<&str>,
) -> QueryAnswer {
    let selector = package.map(|p| PackageSelector::parse(p).unwrap());
    let mut matches = BTreeSet::new();
    for (reference, (scan_id, report)) in reports.iter().filter(|(r, _)| glob_allows(glob, r)) {
        for result in &report.results {
            for f in &result.findings {
                let wanted = match (advisory, &selector) {
                    (Some(a), _) => f.id == a || f.aliases.iter().any(|x| x == a),
                    (None, Some(s)) => {
                        f.package == s.name && s.contains(result.ecosystem.as_deref(), &f.installed_version)
                    }
                    (None, None) => unreachable!(),
                };
                if !wanted {
                    continue;
                }
                let layer = report.artifact.layers.get(f.layer.index);
                matches.insert(Match {
                    reference: reference.clone(),
                    scan_id: scan_id.clone(),
                    advisory: f.id.clone(),
                    package: f.package.clone(),
                    installed_version: f.installed_version.clone(),
                    fixed_version: f.fixed_version.clone(),
                    severity: f.severity.as_str().to_string(),
                    layer_index: f.layer.index,
                    layer_digest: layer.map(|l| l.diff_id.clone()).unwrap_or_default(),
                    created_by: layer.and_then(|l| l.created_by.clone()),
                });
            }
        }
    }
    let images = matches.iter().map(|m| m.reference.clone()).collect::<BTreeSet<_>>().len();
    QueryAnswer { images, matches: matches.into_iter().collect() }
}

/// The brute force of a rollup: every prefix of every image's layers, its images and the fixable findings
/// its layers introduced in them.
fn brute_rollup(
    reports: &BTreeMap<String, (String, Report)>,
    glob: Option<&str>,
    min_images: usize,
    limit: usize,
) -> RollupAnswer {
    #[derive(Default)]
    struct Chain {
        images: usize,
        fixes: u64,
        candidate: bool,
        examples: Vec<String>,
        step: Option<String>,
    }
    let mut chains: HashMap<Vec<String>, Chain> = HashMap::new();
    let mut images = 0;
    for (reference, (_, report)) in reports.iter().filter(|(r, _)| glob_allows(glob, r)) {
        images += 1;
        let layers = &report.artifact.layers;
        let mut fixable = vec![0u64; layers.len()];
        let distinct: BTreeSet<(&str, &str, &str, usize)> = report
            .results
            .iter()
            .flat_map(|r| &r.findings)
            .filter(|f| f.fixed_version.is_some())
            .map(|f| (f.id.as_str(), f.package.as_str(), f.installed_version.as_str(), f.layer.index))
            .collect();
        for (_, _, _, layer) in distinct {
            fixable[layer] += 1;
        }
        for k in 1..=layers.len() {
            let chain = chains.entry(layers[..k].iter().map(|l| l.diff_id.clone()).collect()).or_default();
            chain.images += 1;
            chain.fixes += fixable[..k].iter().sum::<u64>();
            chain.candidate |= fixable[k - 1] > 0;
            if chain.examples.len() < 3 {
                chain.examples.push(reference.clone());
            }
            chain.step = chain.step.take().or_else(|| layers[k - 1].created_by.clone());
        }
    }
    let mut bases: Vec<Base> = chains
        .into_iter()
        .filter(|(_, c)| c.candidate && c.images >= min_images && c.fixes > 0)
        .map(|(digests, c)| Base {
            top_layer: digests.last().cloned().unwrap(),
            depth: digests.len(),
            created_by: c.step,
            images: c.images,
            fixes: c.fixes,
            examples: c.examples,
        })
        .collect();
    bases.sort_by(|a, b| {
        b.fixes
            .cmp(&a.fixes)
            .then(b.images.cmp(&a.images))
            .then(a.depth.cmp(&b.depth))
            .then(a.top_layer.cmp(&b.top_layer))
    });
    bases.truncate(limit);
    RollupAnswer { images, bases }
}

async fn index_query(
    client: &mut Client,
    advisory: Option<&str>,
    package: Option<&str>,
    glob: Option<&str>,
) -> QueryAnswer {
    let request = FleetQueryRequest {
        advisory: advisory.unwrap_or_default().into(),
        package: package.unwrap_or_default().into(),
        repository: glob.unwrap_or_default().into(),
    };
    serde_json::from_slice(&client.query(request).await.unwrap().into_inner().json).unwrap()
}

async fn index_rollup(client: &mut Client, glob: Option<&str>, min_images: u32, limit: u32) -> RollupAnswer {
    let request = RollupRequest { repository: glob.unwrap_or_default().into(), min_images, limit };
    serde_json::from_slice(&client.rollup(request).await.unwrap().into_inner().json).unwrap()
}

/// Every question against its brute force; returns how many queries matched something.
async fn check(client: &mut Client, fleet: &Fleet, stage: &str) -> usize {
    let reports = latest_reports(client).await;
    let mut advisories = BTreeSet::new();
    let mut packages = BTreeSet::new();
    for (_, report) in reports.values() {
        for f in report.results.iter().flat_map(|r| &r.findings) {
            advisories.insert(f.id.clone());
            advisories.extend(f.aliases.iter().take(1).cloned());
            packages.insert(f.package.clone());
        }
    }
    assert!(advisories.len() >= 5, "{stage}: the population has findings ({} advisories)", advisories.len());
    let mut nonempty = 0;
    for glob in [None, Some("team-a/*")] {
        for advisory in &advisories {
            let (index, brute) = (
                index_query(client, Some(advisory), None, glob).await,
                brute_query(&reports, Some(advisory), None, glob),
            );
            assert_eq!(index, brute, "{stage}: --advisory {advisory} --repository {glob:?}");
            nonempty += usize::from(!index.matches.is_empty());
        }
        let ranged =
            packages.iter().flat_map(|p| [p.clone(), format!("{p}@<1.1.1n"), format!("{p}@>=2.31,<2.31-13+deb11u5")]);
        for package in ranged {
            let (index, brute) = (
                index_query(client, None, Some(&package), glob).await,
                brute_query(&reports, None, Some(&package), glob),
            );
            assert_eq!(index, brute, "{stage}: --package {package} --repository {glob:?}");
            nonempty += usize::from(!index.matches.is_empty());
        }
        for (min_images, limit) in [(2, 20), (1, 1000), (50, 5)] {
            let index = index_rollup(client, glob, min_images, limit).await;
            let brute = brute_rollup(&reports, glob, min_images as usize, limit as usize);
            assert_eq!(index, brute, "{stage}: rollup --repository {glob:?} --min-images {min_images} --limit {limit}");
            assert_eq!(index.images, reports.keys().filter(|r| glob_allows(glob, r)).count(), "{stage}");
        }
    }
    // The HTTP API serves the same answer, to a token holder only.
    let advisory = advisories.iter().next().unwrap();
    let path = format!("/v1/query?advisory={advisory}");
    let bearer = format!("Bearer {TOKEN}");
    let served = fleet.http("GET", &path, &[("Authorization", bearer.as_str())], &[]).unwrap();
    assert_eq!(served.status, 200, "{stage}: {}", served.text());
    let served: QueryAnswer = serde_json::from_slice(&served.body).unwrap();
    assert_eq!(served, brute_query(&reports, Some(advisory), None, None), "{stage}: HTTP /v1/query");
    let rolled =
        fleet.http("GET", "/v1/rollup?min_images=2&limit=20", &[("Authorization", bearer.as_str())], &[]).unwrap();
    assert_eq!(rolled.status, 200, "{stage}: {}", rolled.text());
    let rolled: RollupAnswer = serde_json::from_slice(&rolled.body).unwrap();
    assert_eq!(rolled, brute_rollup(&reports, None, 2, 20), "{stage}: HTTP /v1/rollup");
    for headers in [&[][..], &[("Authorization", "Bearer wrong")][..]] {
        assert_eq!(fleet.http("GET", &path, headers, &[]).unwrap().status, 401, "{stage}: {headers:?}");
        assert_eq!(fleet.http("GET", "/v1/rollup", headers, &[]).unwrap().status, 401, "{stage}: {headers:?}");
        // Refused before the parameters are read.
        let bad = "/v1/rollup?min_images=many";
        assert_eq!(fleet.http("GET", bad, headers, &[]).unwrap().status, 401, "{stage}: {headers:?}");
    }
    let bad = fleet.http("GET", "/v1/rollup?min_images=many", &[("Authorization", bearer.as_str())], &[]).unwrap();
    assert_eq!(bad.status, 400, "{stage}: {}", bad.text());
    let both = fleet.http("GET", "/v1/query?advisory=A&package=b", &[("Authorization", bearer.as_str())], &[]).unwrap();
    assert_eq!(both.status, 400, "{stage}: {}", both.text());
    nonempty
}

fn submit(fleet: &Fleet, dir: &std::path::Path, references: &[String]) {
    let file = dir.join(format!("refs-{}", uuid::Uuid::new_v4()));
    std::fs::write(&file, references.join("\n")).unwrap();
    let mut cmd = fleet.strata();
    cmd.env("STRATA_TOKEN", TOKEN).arg("submit").arg("--file").arg(&file);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn query_and_rollup_equal_a_brute_force_over_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let bins = bins();
    let db = build_db(&bins, dir.path());
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let registry = TestRegistry::start();
    let fleet = Fleet::start(bins, &db, 1, &[("STRATA_TOKEN_FILE", token_file.to_str().unwrap())]);

    // Three chains: A, B (another openssl) and A + a middle layer that downgrades glibc and zlib.
    let rootfs = Rootfs::bullseye();
    let a = base_layer(&rootfs, &[("openssl", "1.1.1k-1+deb11u1")], "a");
    let b = base_layer(&rootfs, &[("openssl", "1.1.1n-0+deb11u3")], "b");
    let m =
        base_layer(&rootfs, &[("openssl", "1.1.1k-1+deb11u1"), ("glibc", "2.31-13"), ("zlib", "1:1.2.11.dfsg-2")], "m");
    let chain = |i: usize| -> Vec<&Layer> {
        match i % 3 {
            0 => vec![&a],
            1 => vec![&b],
            _ => vec![&a, &m],
        }
    };
    let mut populator = Populator::new(&registry);
    let mut references = Vec::new();
    for i in 0..IMAGES {
        let app = app_layer(i, 0);
        let mut layers = chain(i);
        layers.push(&app);
        let pushed = populator.push(&repository(i), &format!("v{i}"), &layers, &format!("{i}"));
        references.push(format!("{}/{}:{}", registry.host(), pushed.repository, pushed.tag));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = client(&fleet).await;
        submit(&fleet, dir.path(), &references);
        all_done(&mut client, IMAGES, &fleet).await;
        assert!(check(&mut client, &fleet, "first scans").await > 10);

        // Re-pushed tags (A → B) scanned again: the new scans supersede the old ones in the index.
        let moved: Vec<usize> = (0..IMAGES).filter(|i| i % 3 == 0).take(20).collect();
        let mut again = Vec::new();
        for &i in &moved {
            let app = app_layer(i, 1);
            populator.push(&repository(i), &format!("v{i}"), &[&b, &app], &format!("{i}-again"));
            again.push(references[i].clone());
        }
        submit(&fleet, dir.path(), &again);
        all_done(&mut client, IMAGES + moved.len(), &fleet).await;
        check(&mut client, &fleet, "superseding scans").await;

        let mut cmd = fleet.strata();
        cmd.env("STRATA_TOKEN", TOKEN).args(["rescan", "--all"]);
        let (code, _, err) = run(cmd);
        assert_eq!(code, 0, "{err}");
        check(&mut client, &fleet, "rescan").await;

        // Retention keeps the latest done scan of each repository: most references go, with their index.
        let store =
            ScanStore::connect(&redis::Client::open("redis://127.0.0.1:6379").unwrap(), &fleet.prefix).await.unwrap();
        let settings = RetentionSettings { days: 1, latest: 1, ..RetentionSettings::default() };
        let pass = prune(&store, &settings, now_ms() + 86_400_000 + 60_000).await.unwrap();
        assert!(pass.scans > 100, "{pass:?}");
        let left = latest_reports(&mut client).await.len();
        assert!(left < 30, "{left} references left");
        check(&mut client, &fleet, "after retention").await;
        cli_answers(&mut client, &fleet).await;
    });
}

/// `strata query` and `strata rollup` print the coordinator's answers: the same JSON with `--json`, and
/// lines a person reads without.
async fn cli_answers(client: &mut Client, fleet: &Fleet) {
    let reports = latest_reports(client).await;
    let advisory = reports.values().flat_map(|(_, r)| r.results.iter().flat_map(|r| &r.findings)).next();
    let advisory = advisory.expect("findings left after retention").id.clone();
    let strata = |args: &[&str]| {
        let mut cmd = fleet.strata();
        cmd.env("STRATA_TOKEN", TOKEN).args(args);
        let (code, out, err) = run(cmd);
        assert_eq!(code, 0, "strata {args:?}: {err}");
        out
    };
    let json = strata(&["query", "--advisory", &advisory, "--json"]);
    let answer: QueryAnswer = serde_json::from_str(&json).unwrap();
    assert_eq!(answer, brute_query(&reports, Some(&advisory), None, None), "strata query --json");
    assert!(answer.images > 0, "{json}");
    let lines = strata(&["query", "--advisory", &advisory]);
    assert!(lines.contains(&format!("{} image(s), {} finding(s)", answer.images, answer.matches.len())), "{lines}");
    assert_eq!(lines.matches(&format!("  {advisory} ")).count(), answer.matches.len(), "{lines}");

    let json = strata(&["rollup", "--min-images", "1", "--limit", "1000", "--json"]);
    let rolled: RollupAnswer = serde_json::from_str(&json).unwrap();
    assert_eq!(rolled, brute_rollup(&reports, None, 1, 1000), "strata rollup --json");
    let lines = strata(&["rollup", "--min-images", "1", "--limit", "1000"]);
    assert_eq!(lines.matches("rebuilding on base@").count(), rolled.bases.len(), "{lines}");
    assert!(lines.contains(&format!("{} image(s) looked at", rolled.images)), "{lines}");
}
