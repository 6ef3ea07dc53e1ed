//! `RegistryClient` against a real distribution registry per test (strata-testkit), with images built by
//! the kit and pushed by skopeo.

use std::io::Read as _;
use std::path::Path;

use base64::Engine as _;
use strata_registry::{AllowList, CredentialSources, RegistryClient, RegistryError, RegistryOptions, blocking_reader};
use strata_scanner::ErrorKind;
use strata_scanner::image::{Descriptor, media_types};
use strata_testkit::image::{
    BuiltImage, Compression, ImageBuilder, LayerContent, OCI_MANIFEST, blob_path, write_multiarch_layout,
};
use strata_testkit::registry::{TestRegistry, free_port};
use strata_testkit::sha256;
use strata_testkit::tarball::TarBuilder;
use tempfile::TempDir;
use tokio::io::AsyncReadExt as _;

const USER: &str = "scanner";
const PASSWORD: &str = "s3cret-Pa55word";
const CREATED_BY: &str = "/bin/sh -c #(nop) ADD file:os-release in /etc/";
const OS_RELEASE: &[u8] = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";

/// A one-layer gzip image for `arch`: an os-release and a file naming the architecture (so each platform's
/// layer differs), and a history with the layer's step followed by an empty `CMD` step.
fn image(arch: &str) -> ImageBuilder {
    let layer = TarBuilder::new()
        .dir("etc")
        .file("etc/os-release", OS_RELEASE)
        .file("etc/strata-test-arch", arch.as_bytes())
        .build();
    ImageBuilder::new()
        .architecture(arch)
        .runtime("Env", serde_json::json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]))
        .layer(LayerContent::Bytes(layer), Compression::Gzip, CREATED_BY)
        .step("/bin/sh -c #(nop)  CMD [\"bash\"]")
}

/// An OCI layout holding one linux/amd64 image tagged `tag`.
fn single_layout(tag: &str) -> (TempDir, BuiltImage) {
    let dir = tempfile::tempdir().unwrap();
    let built = image("amd64").write_layout(dir.path(), tag);
    assert_eq!((built.layer_digests.len(), built.diff_ids.len()), (1, 1));
    (dir, built)
}

fn blob_size(layout: &Path, digest: &str) -> u64 {
    std::fs::metadata(blob_path(layout, digest)).unwrap().len()
}

fn client(options: RegistryOptions) -> RegistryClient {
    let allowed = AllowList::parse("127.0.0.1:*").unwrap();
    RegistryClient::new(RegistryOptions { allowed, ..options }).unwrap()
}

fn anonymous() -> RegistryClient {
    client(RegistryOptions::default())
}

fn for_platform(platform: &str) -> RegistryClient {
    client(RegistryOptions { platform: platform.parse().unwrap(), ..Default::default() })
}

fn with_credentials(host: &str, user: &str, password: &str) -> RegistryClient {
    let credentials = CredentialSources {
        username: Some(user.into()),
        password: Some(password.into()),
        hosts: vec![host.into()],
        ..Default::default()
    };
    client(RegistryOptions { credentials, ..Default::default() })
}

fn assert_no_secret(err: &RegistryError) {
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(PASSWORD), "secret leaked: {text}");
    }
}

#[tokio::test]
async fn resolves_an_oci_manifest_by_tag_and_by_digest() {
    let registry = TestRegistry::start();
    let (layout, built) = single_layout("v1");
    registry.push(layout.path(), "v1", "team/app:1.0", &[]);

    let reference = format!("{}/team/app:1.0", registry.host());
    let image = anonymous().resolve(&reference).await.unwrap();
    assert_eq!(image.name, reference);
    assert_eq!(image.manifest_digest, built.manifest_digest);
    assert_eq!(image.config_digest, built.config_digest);
    assert_eq!(image.config.architecture, "amd64");
    assert_eq!(image.layers.len(), 1);
    let layer = &image.layers[0];
    assert_eq!(layer.descriptor.digest, built.layer_digests[0]);
    assert_eq!(layer.descriptor.size as u64, blob_size(layout.path(), &built.layer_digests[0]));
    assert_eq!(layer.descriptor.media_type, media_types::OCI_LAYER_GZIP);
    assert_eq!(layer.diff_id, built.diff_ids[0]);
    assert_eq!(layer.created_by.as_deref(), Some(CREATED_BY));

    let by_digest = format!("{}/team/app@{}", registry.host(), built.manifest_digest);
    let image = anonymous().resolve(&by_digest).await.unwrap();
    assert_eq!(image.manifest_digest, built.manifest_digest);
    assert_eq!(image.name, by_digest);
}

#[tokio::test]
async fn resolves_a_docker_v2_schema2_manifest() {
    let registry = TestRegistry::start();
    let (layout, built) = single_layout("v1");
    registry.push(layout.path(), "v1", "app:docker", &["--format", "v2s2"]);

    let image = anonymous().resolve(&format!("{}/app:docker", registry.host())).await.unwrap();
    // The registry's own view of the manifest, fetched without the client under test.
    let raw = registry.http("GET", "/v2/app/manifests/docker", &[("Accept", media_types::DOCKER_MANIFEST)], &[]);
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("content-type"), Some(media_types::DOCKER_MANIFEST));
    assert_eq!(image.manifest_digest, sha256(&raw.body));
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.layers[0].descriptor.media_type, media_types::DOCKER_LAYER_GZIP);
    assert_eq!(image.layers[0].diff_id, built.diff_ids[0]);
    assert_eq!(image.layers[0].created_by.as_deref(), Some(CREATED_BY));
}

#[tokio::test]
async fn selects_each_platform_from_an_index_and_names_the_missing_one() {
    let registry = TestRegistry::start();
    let layout = tempfile::tempdir().unwrap();
    let (amd64, arm64) = (image("amd64"), image("arm64").variant("v8"));
    let (index_digest, built) =
        write_multiarch_layout(layout.path(), "multi", &[(&amd64, "linux/amd64"), (&arm64, "linux/arm64/v8")]);
    registry.push(layout.path(), "multi", "multi:latest", &["--all"]);
    let reference = format!("{}/multi", registry.host());
    let (amd64, arm64) = (&built[0], &built[1]);
    assert_ne!(amd64.layer_digests[0], arm64.layer_digests[0]);

    let image = for_platform("linux/amd64").resolve(&reference).await.unwrap();
    assert_eq!(image.manifest_digest, amd64.manifest_digest);
    assert_eq!(image.config.architecture, "amd64");
    assert_eq!(image.layers[0].descriptor.digest, amd64.layer_digests[0]);

    // A request without a variant takes the v8 entry, as `docker pull` does.
    let image = for_platform("linux/arm64").resolve(&reference).await.unwrap();
    assert_eq!(image.manifest_digest, arm64.manifest_digest);
    assert_ne!(image.manifest_digest, index_digest);
    assert_eq!(image.config.architecture, "arm64");
    assert_eq!(image.layers[0].descriptor.digest, arm64.layer_digests[0]);

    let err = for_platform("linux/s390x").resolve(&reference).await.unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let text = err.to_string();
    for needle in [reference.as_str(), "linux/s390x", "linux/amd64", "linux/arm64/v8"] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_a_layer_blob_async_and_blocking() {
    let registry = TestRegistry::start();
    let (layout, built) = single_layout("v1");
    registry.push(layout.path(), "v1", "app:1", &[]);
    let reference = format!("{}/app:1", registry.host());
    let client = anonymous();
    let image = client.resolve(&reference).await.unwrap();
    let descriptor = &image.layers[0].descriptor;

    let mut bytes = Vec::new();
    client.open_blob(&reference, descriptor).await.unwrap().read_to_end(&mut bytes).await.unwrap();
    assert_eq!(sha256(&bytes), descriptor.digest);
    assert_eq!(descriptor.digest, built.layer_digests[0]);
    assert_eq!(bytes, std::fs::read(blob_path(layout.path(), &built.layer_digests[0])).unwrap());
    assert_eq!(bytes.len() as i64, descriptor.size);

    // The way the CLI feeds the engine: a blocking reader on a blocking thread.
    let reader = blocking_reader(client.open_blob(&reference, descriptor).await.unwrap());
    let blocking = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map(|_| out)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(blocking, bytes);

    let missing = Descriptor { digest: sha256(b"no such blob"), ..descriptor.clone() };
    let err = client.open_blob(&reference, &missing).await.err().expect("unknown blob must fail");
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(&missing.digest), "{err}");
}

#[tokio::test]
async fn htpasswd_registry_accepts_explicit_credentials() {
    let registry = TestRegistry::start_with_auth(USER, PASSWORD);
    let (layout, built) = single_layout("v1");
    let creds = format!("{USER}:{PASSWORD}");
    registry.push(layout.path(), "v1", "private/app:1", &["--dest-creds", &creds]);
    let reference = format!("{}/private/app:1", registry.host());

    let image = with_credentials(&registry.host(), USER, PASSWORD).resolve(&reference).await.unwrap();
    assert_eq!(image.manifest_digest, built.manifest_digest);
    // A fresh client, as a fleet worker has: opening a blob must authenticate on its own.
    let mut bytes = Vec::new();
    with_credentials(&registry.host(), USER, PASSWORD)
        .open_blob(&reference, &image.layers[0].descriptor)
        .await
        .unwrap()
        .read_to_end(&mut bytes)
        .await
        .unwrap();
    assert_eq!(sha256(&bytes), image.layers[0].descriptor.digest);
}

#[tokio::test]
async fn htpasswd_registry_accepts_docker_config_auths() {
    let registry = TestRegistry::start_with_auth(USER, PASSWORD);
    let (layout, built) = single_layout("v1");
    let creds = format!("{USER}:{PASSWORD}");
    registry.push(layout.path(), "v1", "private/app:1", &["--dest-creds", &creds]);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let auth = base64::engine::general_purpose::STANDARD.encode(&creds);
    // Keyed with a scheme, as `docker login` writes some entries; matching must ignore it.
    let json = serde_json::json!({"auths": {format!("http://{}", registry.host()): {"auth": auth}}});
    std::fs::write(&config, serde_json::to_vec(&json).unwrap()).unwrap();

    let client = client(RegistryOptions {
        credentials: CredentialSources { docker_config: Some(config), ..Default::default() },
        ..Default::default()
    });
    let image = client.resolve(&format!("{}/private/app:1", registry.host())).await.unwrap();
    assert_eq!(image.manifest_digest, built.manifest_digest);
}

#[tokio::test]
async fn htpasswd_registry_without_credentials_is_unauthorized() {
    let registry = TestRegistry::start_with_auth(USER, PASSWORD);
    let reference = format!("{}/private/app:1", registry.host());
    // An empty Docker config, so the machine's own ~/.docker cannot change the outcome.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    let client = client(RegistryOptions {
        credentials: CredentialSources { docker_config: Some(dir.path().to_path_buf()), ..Default::default() },
        ..Default::default()
    });

    let err = client.resolve(&reference).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.to_string().contains(&reference), "{err}");
    assert!(err.to_string().contains("no credentials were sent"), "{err}");
}

#[tokio::test]
async fn htpasswd_registry_with_wrong_password_is_unauthorized_without_leaking_it() {
    let registry = TestRegistry::start_with_auth(USER, "the-right-one");
    let (layout, built) = single_layout("v1");
    registry.push(layout.path(), "v1", "private/app:1", &["--dest-creds", &format!("{USER}:the-right-one")]);
    let reference = format!("{}/private/app:1", registry.host());
    let credentials = CredentialSources {
        username: Some(USER.into()),
        password: Some(PASSWORD.into()),
        hosts: vec![registry.host()],
        ..Default::default()
    };
    let options = RegistryOptions { credentials, ..Default::default() };
    assert!(!format!("{options:?}").contains(PASSWORD));
    let client = client(options);
    assert!(!format!("{client:?}").contains(PASSWORD));

    let err = client.resolve(&reference).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.to_string().contains("credentials were sent"), "{err}");
    assert!(!err.to_string().contains("no credentials"), "{err}");
    assert_no_secret(&err);

    let descriptor = Descriptor {
        media_type: media_types::OCI_LAYER_GZIP.into(),
        digest: built.layer_digests[0].clone(),
        size: blob_size(layout.path(), &built.layer_digests[0]) as i64,
        platform: None,
        artifact_type: None,
        annotations: Default::default(),
    };
    let err = client.open_blob(&reference, &descriptor).await.err().expect("wrong password must fail");
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_no_secret(&err);
}

#[tokio::test]
async fn unknown_tag_and_repository_are_not_found() {
    let registry = TestRegistry::start();
    let (layout, _) = single_layout("v1");
    registry.push(layout.path(), "v1", "app:1", &[]);
    for reference in [format!("{}/app:no-such-tag", registry.host()), format!("{}/no/such-repo:1", registry.host())] {
        let err = anonymous().resolve(&reference).await.unwrap_err();
        assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains(&reference), "{err}");
    }
}

#[tokio::test]
async fn helm_chart_is_not_an_image() {
    let registry = TestRegistry::start();
    let config = registry.upload_blob("charts/web", br#"{"name":"web","version":"0.1.0","apiVersion":"v2"}"#);
    let chart = registry.upload_blob("charts/web", b"not really a chart tarball");
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config, "size": 49},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": chart, "size": 26}]
    });
    let put = registry.http(
        "PUT",
        "/v2/charts/web/manifests/0.1.0",
        &[("Content-Type", OCI_MANIFEST)],
        &serde_json::to_vec(&manifest).unwrap(),
    );
    assert_eq!(put.status, 201, "{}", put.text());

    let reference = format!("{}/charts/web:0.1.0", registry.host());
    let err = anonymous().resolve(&reference).await.unwrap_err();
    assert!(matches!(err, RegistryError::NotAnImage { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotAnImage);
    assert!(err.to_string().contains("helm"), "{err}");
    assert!(err.to_string().contains(&reference), "{err}");
}

#[tokio::test]
async fn connection_refused_is_a_network_error() {
    let reference = format!("127.0.0.1:{}/app:1", free_port());
    let err = anonymous().resolve(&reference).await.unwrap_err();
    assert!(matches!(err, RegistryError::Network { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains(&reference), "{err}");
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
}

/// A single-file artifact pushed with basic-auth credentials (sent to that registry only) and pulled back:
/// the tag resolves to the manifest digest the push returned, the file comes back digest-checked, a size
/// cap below the file's size refuses it, and without credentials the push is refused naming no secret.
#[tokio::test]
async fn pushes_and_pulls_a_single_file_artifact_with_credentials() {
    let registry = TestRegistry::start_with_auth(USER, PASSWORD);
    let reference = format!("{}/strata/vulndb:latest", registry.host());
    let file = b"not really a DB, but bytes with a digest".repeat(100);
    let artifact = strata_registry::NewArtifact {
        artifact_type: "application/vnd.strata.test.v1",
        file_media_type: "application/vnd.strata.test.file.v1",
        file_name: "test.bin",
        file: &file,
        annotations: [("dev.strata.test".to_string(), "yes".to_string())].into(),
    };
    let client = with_credentials(&registry.host(), USER, PASSWORD);
    let digest = client.push_artifact(&reference, &artifact).await.unwrap();

    let found = client.artifact_manifest(&reference, "application/vnd.strata.test.v1").await.unwrap();
    assert_eq!(found.digest, digest);
    assert_eq!(found.file.digest, sha256(&file));
    assert_eq!(found.annotations["dev.strata.test"], "yes");
    let by_digest = client
        .artifact_manifest(&format!("{}/strata/vulndb@{digest}", registry.host()), "application/vnd.strata.test.v1")
        .await
        .unwrap();
    assert_eq!(by_digest, found);
    assert_eq!(client.fetch_artifact_file(&reference, &found, 1 << 20).await.unwrap(), file);
    let capped = client.fetch_artifact_file(&reference, &found, 100).await.unwrap_err();
    assert!(capped.to_string().contains("over the cap of 100"), "{capped}");
    let other = client.artifact_manifest(&reference, "application/vnd.other.v1").await.unwrap_err();
    assert!(other.to_string().contains("not a application/vnd.other.v1 artifact"), "{other}");

    let refused = anonymous().push_artifact(&reference, &artifact).await.unwrap_err();
    assert!(matches!(refused, RegistryError::Unauthorized { .. }), "{refused}");
    assert_no_secret(&refused);
}
