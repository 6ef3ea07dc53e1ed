//! `Catalog` against real distribution registries: paging through a catalog larger than a page (the
//! registry's `catalog.maxentries` and our `n`), tag digests from HEAD and from the GET fallback, basic and
//! bearer-token auth (a `registry:catalog:*` token for the catalog), and rate limits (`429`/`503` with
//! `Retry-After`) put in front of the registry by a test proxy.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use strata_registry::{AllowList, Catalog, CatalogOptions, CredentialSources, RegistryError, RetryPolicy};
use strata_testkit::http_proxy::HttpProxy;
use strata_testkit::populate::{Layer, Populator, Pushed};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;
use strata_testkit::token::{TokenPolicy, TokenRegistry};

const USER: &str = "sweeper";
const PASSWORD: &str = "s3cret-Catalog-Pa55";

/// An empty Docker config, so the machine's own `~/.docker` cannot change the outcome.
fn options(dir: &tempfile::TempDir) -> CatalogOptions {
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    CatalogOptions {
        credentials: CredentialSources { docker_config: Some(dir.path().to_path_buf()), ..Default::default() },
        allowed: AllowList::parse("127.0.0.1:*").unwrap(),
        ..CatalogOptions::default()
    }
}

/// `repos` repositories `team/app-NN`, each with tags `v1`, `v2` and `latest` (= `v2`).
fn populate(registry: &TestRegistry, repos: usize) -> Vec<Pushed> {
    let layer = Layer::from_tar(&TarBuilder::new().file("etc/os-release", b"ID=debian\nVERSION_ID=\"11\"\n").build());
    let mut populator = Populator::new(registry);
    let mut pushed = Vec::new();
    for i in 0..repos {
        let repo = format!("team/app-{i:02}");
        pushed.push(populator.push(&repo, "v1", &[&layer], &format!("{repo} v1")));
        let v2 = populator.push(&repo, "v2", &[&layer], &format!("{repo} v2"));
        pushed.push(populator.tag(&repo, "latest", &v2.digest));
        pushed.push(v2);
    }
    pushed
}

fn names(pushed: &[Pushed]) -> BTreeSet<String> {
    pushed.iter().map(|p| p.repository.clone()).collect()
}

#[tokio::test]
async fn catalog_pages_tags_and_digests_of_a_real_registry() {
    let registry = TestRegistry::start_with_config("catalog:\n  maxentries: 5\n");
    let pushed = populate(&registry, 12);
    let proxy = HttpProxy::start(registry.port);
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::new(&proxy.host(), CatalogOptions { page_size: 4, ..options(&dir) }).await.unwrap();

    let repositories = catalog.repositories().await.unwrap();
    assert_eq!(repositories.iter().cloned().collect::<BTreeSet<_>>(), names(&pushed));
    assert_eq!(repositories.len(), 12, "each repository once: {repositories:?}");
    let pages: Vec<String> =
        proxy.requests().into_iter().filter(|r| r.path.starts_with("/v2/_catalog")).map(|r| r.path).collect();
    // 12 names at 4 a page: three pages, the later ones from the registry's own next links.
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(pages[0], "/v2/_catalog?n=4");
    assert!(pages[1].contains("last=team%2Fapp-03") && pages[2].contains("last=team%2Fapp-07"), "{pages:?}");

    for p in &pushed {
        assert_eq!(catalog.digest(&p.repository, &p.tag).await.unwrap(), p.digest, "{}:{}", p.repository, p.tag);
    }
    let tags: BTreeSet<String> = catalog.tags("team/app-03").await.unwrap().into_iter().collect();
    assert_eq!(tags, ["latest", "v1", "v2"].map(String::from).into());
    // Digests came from HEAD: no manifest was downloaded.
    assert!(proxy.requests().iter().filter(|r| r.path.contains("/manifests/")).all(|r| r.method == "HEAD"));

    // A page size above the registry's maxentries is refused (400 PAGINATION_NUMBER_INVALID): the
    // registry's own page size is used instead.
    let big = Catalog::new(&registry.host(), CatalogOptions { page_size: 50, ..options(&dir) }).await.unwrap();
    assert_eq!(big.repositories().await.unwrap().len(), 12);

    let err = catalog.tags("team/nothing-here").await.unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    let err = catalog.digest("team/app-01", "v9").await.unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("team/app-01:v9"), "{err}");
    let err = catalog.digest("../../etc", "v1").await.unwrap_err();
    assert!(matches!(err, RegistryError::Invalid { .. }), "{err:?}");
}

#[tokio::test]
async fn without_a_content_digest_header_the_manifest_is_hashed() {
    let registry = TestRegistry::start();
    let pushed = populate(&registry, 1);
    let proxy = HttpProxy::start(registry.port);
    proxy.strip_response_header("Docker-Content-Digest");
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::new(&proxy.host(), options(&dir)).await.unwrap();
    for p in &pushed {
        assert_eq!(catalog.digest(&p.repository, &p.tag).await.unwrap(), p.digest);
    }
    let methods: Vec<String> = proxy.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods.iter().filter(|m| *m == "GET").count(), pushed.len(), "{methods:?}");
}

#[tokio::test]
async fn a_throttled_registry_is_waited_for_as_retry_after_says() {
    let registry = TestRegistry::start();
    populate(&registry, 2);
    let proxy = HttpProxy::start(registry.port);
    proxy.answer("/v2/_catalog", 1, 429, &[("Retry-After", "2")]);
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::new(&proxy.host(), options(&dir)).await.unwrap();

    let started = Instant::now();
    assert_eq!(catalog.repositories().await.unwrap().len(), 2);
    let catalog_requests: Vec<_> =
        proxy.requests().into_iter().filter(|r| r.path.starts_with("/v2/_catalog")).collect();
    assert_eq!(catalog_requests.len(), 2, "{catalog_requests:?}");
    assert_eq!((catalog_requests[0].answered, catalog_requests[1].answered), (429, 0));
    let waited = catalog_requests[1].at - catalog_requests[0].at;
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}, before Retry-After");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    // 503 with an HTTP date: at least two seconds ahead, since the date drops the fraction of a second.
    let at = std::time::SystemTime::now() + Duration::from_secs(3);
    proxy.answer("/v2/team/app-01/tags/list", 1, 503, &[("Retry-After", &httpdate(at))]);
    assert_eq!(catalog.tags("team/app-01").await.unwrap().len(), 3);
    let tag_requests: Vec<_> = proxy.requests().into_iter().filter(|r| r.path.contains("/tags/list")).collect();
    assert_eq!(tag_requests.len(), 2, "{tag_requests:?}");
    assert!(tag_requests[1].at - tag_requests[0].at >= Duration::from_millis(1800), "{tag_requests:?}");

    // A registry asking for longer than the policy waits is not hammered early: the error says why.
    proxy.answer("/v2/_catalog", 1, 429, &[("Retry-After", "3600")]);
    let patient = CatalogOptions {
        retry: RetryPolicy { max_wait: Duration::from_secs(30), ..RetryPolicy::default() },
        ..options(&dir)
    };
    let catalog = Catalog::new(&proxy.host(), patient).await.unwrap();
    let started = Instant::now();
    let err = catalog.repositories().await.unwrap_err();
    assert!(matches!(err, RegistryError::RateLimited { .. }), "{err:?}");
    assert!(err.to_string().contains("3600 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Throttled on every try: gives up after the policy's tries.
    proxy.answer("/v2/_catalog", 100, 429, &[]);
    let quick = CatalogOptions {
        retry: RetryPolicy { max_attempts: 3, backoff: Duration::from_millis(50), ..RetryPolicy::default() },
        ..options(&dir)
    };
    let before = proxy.requests().len();
    let err = Catalog::new(&proxy.host(), quick).await.unwrap().repositories().await.unwrap_err();
    assert!(matches!(err, RegistryError::RateLimited { .. }), "{err:?}");
    assert_eq!(proxy.requests().len() - before, 3);
}

fn httpdate(at: std::time::SystemTime) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-R", "-d"])
        .arg(format!("@{}", at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()))
        .output()
        .unwrap();
    // `date -R` writes RFC 5322 with "+0000"; HTTP wants "GMT".
    String::from_utf8(out.stdout).unwrap().trim().replace("+0000", "GMT")
}

#[tokio::test]
async fn basic_auth_registry_lists_with_credentials_only() {
    let registry = TestRegistry::start_with_auth(USER, PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let anonymous = Catalog::new(&registry.host(), options(&dir)).await.unwrap();
    let err = anonymous.repositories().await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains("no credentials were sent"), "{err}");

    let wrong = with_password(&dir, &registry, "wrong");
    let err = Catalog::new(&registry.host(), wrong).await.unwrap().repositories().await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("wrong"), "{err}");

    let right = with_password(&dir, &registry, PASSWORD);
    let catalog = Catalog::new(&registry.host(), right).await.unwrap();
    assert_eq!(catalog.repositories().await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn bearer_registry_lists_with_a_catalog_scoped_token() {
    let registry = TokenRegistry::start(TokenPolicy::require_credentials(USER, PASSWORD));
    let layout = tempfile::tempdir().unwrap();
    let built = strata_testkit::image::ImageBuilder::new()
        .layer(
            strata_testkit::image::LayerContent::Bytes(TarBuilder::new().file("etc/hostname", b"sweep\n").build()),
            strata_testkit::image::Compression::Gzip,
            "ADD hostname /etc/",
        )
        .write_layout(layout.path(), "v1");
    let creds = format!("{USER}:{PASSWORD}");
    for repo in ["private/a", "private/b"] {
        registry.push(layout.path(), "v1", &format!("{repo}:v1"), &["--dest-creds", &creds]);
    }
    registry.tokens.clear_requests();
    let dir = tempfile::tempdir().unwrap();

    let anonymous = Catalog::new(&registry.host(), options(&dir)).await.unwrap();
    let err = anonymous.repositories().await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");

    let options_with_password = with_password(&dir, &registry, PASSWORD);
    let catalog = Catalog::new(&registry.host(), options_with_password).await.unwrap();
    let repositories: BTreeSet<String> = catalog.repositories().await.unwrap().into_iter().collect();
    assert_eq!(repositories, ["private/a", "private/b"].map(String::from).into(), "{}", registry.log());
    assert_eq!(catalog.tags("private/a").await.unwrap(), vec!["v1".to_string()]);
    assert_eq!(catalog.digest("private/b", "v1").await.unwrap(), built.manifest_digest);
    // Cached: a second listing asks the token service for nothing more.
    let asked = registry.tokens.requests().len();
    catalog.repositories().await.unwrap();
    assert_eq!(registry.tokens.requests().len(), asked);

    let granted: Vec<(Vec<String>, Option<String>)> =
        registry.tokens.requests().into_iter().filter(|r| r.status == 200).map(|r| (r.scopes, r.user)).collect();
    let scoped = |scope: &str| granted.iter().any(|(s, u)| s == &[scope.to_string()] && u.as_deref() == Some(USER));
    assert!(scoped("registry:catalog:*"), "no catalog-scoped token: {granted:?}");
    assert!(scoped("repository:private/a:pull") && scoped("repository:private/b:pull"), "{granted:?}");
    let err = Catalog::new(&registry.host(), with_password(&dir, &registry, "nope-wrong"))
        .await
        .unwrap()
        .repositories()
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains("registry:catalog:*"), "{err}");
    assert!(!format!("{err} {err:?}").contains("nope-wrong"), "{err}");
}

/// The pair for the registry only (and its token server, when it has one on another port).
fn with_password(dir: &tempfile::TempDir, registry: &impl RegistryHost, password: &str) -> CatalogOptions {
    let base = options(dir);
    let credentials = CredentialSources {
        username: Some(USER.into()),
        password: Some(password.into()),
        hosts: registry.hosts(),
        ..base.credentials.clone()
    };
    CatalogOptions { credentials, ..base }
}

trait RegistryHost {
    fn hosts(&self) -> Vec<String>;
}

impl RegistryHost for TestRegistry {
    fn hosts(&self) -> Vec<String> {
        vec![self.host()]
    }
}

impl RegistryHost for strata_testkit::token::TokenRegistry {
    fn hosts(&self) -> Vec<String> {
        let realm = self.tokens.realm();
        vec![self.host(), realm.trim_start_matches("http://").split('/').next().unwrap_or_default().to_string()]
    }
}
