//! `RegistryClient` against a real distribution registry configured for bearer-token auth (`auth: token:`),
//! with a token server the test runs (strata-testkit's `TokenRegistry`). The registry answers 401 with a
//! `Bearer realm=…,service=…,scope=…` challenge; the client must fetch an RS256 JWT from the realm
//! (presenting its credentials there) and retry with it.

use std::path::Path;

use strata_registry::{AllowList, CredentialSources, RegistryClient, RegistryError, RegistryOptions};
use strata_scanner::ErrorKind;
use strata_scanner::image::{Descriptor, media_types};
use strata_testkit::image::{BuiltImage, Compression, ImageBuilder, LayerContent, blob_path};
use strata_testkit::sha256;
use strata_testkit::tarball::TarBuilder;
use strata_testkit::token::{SERVICE, TokenPolicy, TokenRegistry, TokenRequest};
use tempfile::TempDir;
use tokio::io::AsyncReadExt as _;

const USER: &str = "scanner";
const PASSWORD: &str = "s3cret-Bearer-Pa55word";
const REPO: &str = "private/app";

/// A one-layer gzip linux/amd64 image in an OCI layout, tagged `v1`.
fn layout() -> (TempDir, BuiltImage) {
    let layer = TarBuilder::new()
        .dir("etc")
        .file("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n")
        .file("etc/strata-bearer-test", b"token auth")
        .build();
    let dir = tempfile::tempdir().unwrap();
    let built = ImageBuilder::new()
        .layer(LayerContent::Bytes(layer), Compression::Gzip, "/bin/sh -c #(nop) ADD file:etc in /")
        .write_layout(dir.path(), "v1");
    (dir, built)
}

/// A token registry holding the image at `private/app:1`, pushed by skopeo through the token dance.
fn registry_with_image(policy: TokenPolicy) -> (TokenRegistry, TempDir, BuiltImage, String) {
    let registry = TokenRegistry::start(policy);
    let (layout, built) = layout();
    registry.push(layout.path(), "v1", &format!("{REPO}:1"), &["--dest-creds", &format!("{USER}:{PASSWORD}")]);
    // skopeo had to get a push token with the credentials: the registry really is token-protected.
    let push_tokens: Vec<TokenRequest> = registry.tokens.requests();
    assert!(
        push_tokens.iter().any(|r| r.status == 200
            && r.user.as_deref() == Some(USER)
            && r.scopes.iter().any(|s| s.starts_with(&format!("repository:{REPO}:")) && s.contains("push"))),
        "skopeo never obtained a push token: {push_tokens:#?}\nregistry log: {}",
        registry.log()
    );
    registry.tokens.clear_requests();
    let reference = format!("{}/{REPO}:1", registry.host());
    (registry, layout, built, reference)
}

fn client(options: RegistryOptions) -> RegistryClient {
    let allowed = AllowList::parse("127.0.0.1:*").unwrap();
    RegistryClient::new(RegistryOptions { allowed, ..options }).unwrap()
}

/// An empty Docker config, so the machine's own `~/.docker` cannot change the outcome.
fn no_docker_config() -> (TempDir, RegistryOptions) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    let credentials = CredentialSources { docker_config: Some(dir.path().to_path_buf()), ..Default::default() };
    let options = RegistryOptions { credentials, ..Default::default() };
    (dir, options)
}

/// The pair is for the registry and its token server (another 127.0.0.1 port, so another host).
fn with_password(registry: &TokenRegistry, password: &str) -> RegistryClient {
    let realm = registry.tokens.realm();
    let token_host = realm.trim_start_matches("http://").split('/').next().unwrap().to_string();
    let credentials = CredentialSources {
        username: Some(USER.into()),
        password: Some(password.into()),
        hosts: vec![registry.host(), token_host],
        ..Default::default()
    };
    client(RegistryOptions { credentials, ..Default::default() })
}

fn layer_descriptor(layout: &Path, built: &BuiltImage) -> Descriptor {
    let digest = built.layer_digests[0].clone();
    Descriptor {
        media_type: media_types::OCI_LAYER_GZIP.into(),
        size: std::fs::metadata(blob_path(layout, &digest)).unwrap().len() as i64,
        digest,
        platform: None,
        artifact_type: None,
        annotations: Default::default(),
    }
}

async fn read_blob(client: &RegistryClient, reference: &str, descriptor: &Descriptor) -> Vec<u8> {
    let mut bytes = Vec::new();
    client.open_blob(reference, descriptor).await.unwrap().read_to_end(&mut bytes).await.unwrap();
    bytes
}

fn assert_denied(err: &RegistryError, reference: &str) {
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.to_string().contains(reference), "{err}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(PASSWORD), "secret leaked: {text}");
    }
}

#[tokio::test]
async fn registry_really_demands_a_bearer_token() {
    let (registry, _layout, built, _) = registry_with_image(TokenPolicy::require_credentials(USER, PASSWORD));
    // Without the client under test: no token, no manifest, and a challenge naming our realm and service.
    let raw = registry.http("GET", &format!("/v2/{REPO}/manifests/1"), &[("Accept", media_types::OCI_MANIFEST)], &[]);
    assert_eq!(raw.status, 401, "{}", raw.text());
    let challenge = raw.header("www-authenticate").expect("a challenge");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains(&format!("realm=\"{}\"", registry.tokens.realm())), "{challenge}");
    assert!(challenge.contains(&format!("service=\"{SERVICE}\"")), "{challenge}");
    assert!(challenge.contains(&format!("scope=\"repository:{REPO}:pull\"")), "{challenge}");
    // Basic credentials sent straight to the registry are not a token.
    let basic = format!("Basic {}", base64_encode(&format!("{USER}:{PASSWORD}")));
    let raw = registry.http("GET", &format!("/v2/{REPO}/manifests/1"), &[("Authorization", &basic)], &[]);
    assert_eq!(raw.status, 401, "{}", raw.text());

    // The registry verifies our JWTs: a token for the repository opens it, the same token with its
    // signature or its scope changed does not, and a token for another repository does not either.
    let manifest = |token: &str| {
        let bearer = format!("Bearer {token}");
        let headers = [("Authorization", bearer.as_str()), ("Accept", media_types::OCI_MANIFEST)];
        registry.http("GET", &format!("/v2/{REPO}/manifests/1"), &headers, &[])
    };
    let (status, token) = registry.tokens.fetch_token(&[&format!("repository:{REPO}:pull")], Some((USER, PASSWORD)));
    assert_eq!(status, 200);
    let token = token.unwrap();
    let ok = manifest(&token);
    assert_eq!(ok.status, 200, "{}\nregistry log: {}", ok.text(), registry.log());
    assert_eq!(sha256(&ok.body), built.manifest_digest);
    let (rest, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    assert_eq!(manifest(&format!("{rest}.{flipped}{}", &signature[1..])).status, 401);
    let (_, other) = registry.tokens.fetch_token(&["repository:someone/else:pull"], Some((USER, PASSWORD)));
    assert_eq!(manifest(&other.unwrap()).status, 401);
    // And it answers 401 for missing and wrong credentials.
    assert_eq!(registry.tokens.fetch_token(&[&format!("repository:{REPO}:pull")], None), (401, None));
    assert_eq!(registry.tokens.fetch_token(&[&format!("repository:{REPO}:pull")], Some((USER, "nope"))), (401, None));
}

#[tokio::test]
async fn credentials_get_a_token_that_resolves_and_streams() {
    let (registry, layout, built, reference) = registry_with_image(TokenPolicy::require_credentials(USER, PASSWORD));

    let image = with_password(&registry, PASSWORD).resolve(&reference).await.unwrap_or_else(|e| {
        panic!("{e}\ntoken requests: {:#?}\nregistry log: {}", registry.tokens.requests(), registry.log())
    });
    assert_eq!(image.manifest_digest, built.manifest_digest);
    assert_eq!(image.config_digest, built.config_digest);
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.layers[0].descriptor.digest, built.layer_digests[0]);
    assert_eq!(image.layers[0].diff_id, built.diff_ids[0]);

    let requests = registry.tokens.requests();
    let pull_scope = format!("repository:{REPO}:pull");
    assert!(!requests.is_empty(), "the client never asked the token server");
    for request in &requests {
        assert_eq!(request.status, 200, "{request:?}");
        assert!(request.credentials_sent, "token requested without credentials: {request:?}");
        assert_eq!(request.user.as_deref(), Some(USER));
        assert_eq!(request.service.as_deref(), Some(SERVICE));
        assert_eq!(request.scopes, [pull_scope.as_str()], "{request:?}");
        assert!(!request.path.contains(PASSWORD), "{request:?}");
    }
    // One token serves the manifest and the config (cached per repository).
    assert_eq!(requests.len(), 1, "{requests:#?}");

    // A fresh client, as a fleet worker has: opening a blob must get its own token.
    registry.tokens.clear_requests();
    let descriptor = &image.layers[0].descriptor;
    let bytes = read_blob(&with_password(&registry, PASSWORD), &reference, descriptor).await;
    assert_eq!(sha256(&bytes), descriptor.digest);
    assert_eq!(bytes, std::fs::read(blob_path(layout.path(), &descriptor.digest)).unwrap());
    let requests = registry.tokens.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert!(requests[0].credentials_sent && requests[0].status == 200, "{requests:#?}");
}

#[tokio::test]
async fn no_credentials_is_unauthorized_when_the_token_server_requires_them() {
    let (registry, layout, built, reference) = registry_with_image(TokenPolicy::require_credentials(USER, PASSWORD));
    let (_config, options) = no_docker_config();
    let client = client(options);

    let err = client.resolve(&reference).await.unwrap_err();
    assert_denied(&err, &reference);
    assert!(err.to_string().contains("no credentials were sent"), "{err}");

    let err = client.open_blob(&reference, &layer_descriptor(layout.path(), &built)).await.err().expect("must fail");
    assert_denied(&err, &reference);

    let requests = registry.tokens.requests();
    assert!(!requests.is_empty(), "the client never asked the token server");
    for request in &requests {
        assert!(!request.credentials_sent, "{request:?}");
        assert_eq!(request.status, 401, "{request:?}");
    }
}

#[tokio::test]
async fn wrong_password_is_unauthorized_and_never_shown() {
    let (registry, layout, built, reference) = registry_with_image(TokenPolicy::require_credentials(USER, PASSWORD));
    let wrong = "not-the-Pa55word-but-secret-too";
    let client = with_password(&registry, wrong);
    assert!(!format!("{client:?}").contains(wrong));

    let err = client.resolve(&reference).await.unwrap_err();
    assert_denied(&err, &reference);
    assert!(err.to_string().contains("credentials were sent"), "{err}");
    assert!(!err.to_string().contains("no credentials"), "{err}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(wrong), "secret leaked: {text}");
    }

    let err = client.open_blob(&reference, &layer_descriptor(layout.path(), &built)).await.err().expect("must fail");
    assert_denied(&err, &reference);
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(wrong), "secret leaked: {text}");
    }

    let requests = registry.tokens.requests();
    assert!(!requests.is_empty(), "the client never asked the token server");
    for request in &requests {
        assert!(request.credentials_sent, "{request:?}");
        assert_eq!(request.user.as_deref(), Some(USER));
        assert_eq!(request.status, 401, "{request:?}");
    }
}

#[tokio::test]
async fn anonymous_pull_works_when_the_token_server_allows_it() {
    let (registry, layout, built, reference) = registry_with_image(TokenPolicy::anonymous_pull(USER, PASSWORD));
    let (_config, options) = no_docker_config();
    let client = client(options);

    let image = client.resolve(&reference).await.unwrap_or_else(|e| {
        panic!("{e}\ntoken requests: {:#?}\nregistry log: {}", registry.tokens.requests(), registry.log())
    });
    assert_eq!(image.manifest_digest, built.manifest_digest);
    let descriptor = &image.layers[0].descriptor;
    let bytes = read_blob(&client, &reference, descriptor).await;
    assert_eq!(sha256(&bytes), built.layer_digests[0]);
    assert_eq!(bytes, std::fs::read(blob_path(layout.path(), &descriptor.digest)).unwrap());

    let requests = registry.tokens.requests();
    assert!(!requests.is_empty(), "the client never asked the token server");
    for request in &requests {
        assert!(!request.credentials_sent, "{request:?}");
        assert_eq!(request.status, 200, "{request:?}");
    }

    // Wrong credentials are still refused, even where anonymous pulls are allowed.
    let err = with_password(&registry, "wrong-password").resolve(&reference).await.unwrap_err();
    assert_denied(&err, &reference);
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
