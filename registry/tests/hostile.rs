//! Registry names are untrusted (docs/security.md): hostile servers on 127.0.0.1 (strata-testkit's
//! `hostile`) try to get the client's credential, to reach an internal service through it, and to exhaust
//! its memory. A random canary password per run must reach no host but its own registry and appear in no
//! error.

use strata_registry::{AllowList, CredentialSources, RegistryClient, RegistryError, RegistryOptions};
use strata_testkit::hostile_server::{HostileServer, Reply, Seen};

const USER: &str = "scanner";

/// Unique per run (and per test): the time in nanoseconds and the process id.
fn canary() -> String {
    format!("canary-{:x}-{}", std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos(), std::process::id())
}

/// A client holding `password` for `registry` only, allowed to contact `allowed`.
fn client(registry: &str, password: &str, allowed: &str) -> RegistryClient {
    let dir = tempfile::tempdir().unwrap();
    let docker = dir.path().join("config.json");
    std::fs::write(&docker, "{}").unwrap();
    RegistryClient::new(RegistryOptions {
        credentials: CredentialSources {
            username: Some(USER.into()),
            password: Some(password.into()),
            hosts: vec![registry.into()],
            docker_config: Some(docker),
            ..Default::default()
        },
        allowed: AllowList::parse(allowed).unwrap(),
        ..Default::default()
    })
    .unwrap()
}

fn basic(password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}")))
}

/// No request `server` saw carried the canary, in any header, in any encoding we send.
fn assert_never_sent(server: &HostileServer, password: &str, name: &str) {
    for request in server.requests() {
        assert!(!request.head.contains(password), "{name} got the canary: {request:?}");
        assert!(!request.head.contains(&basic(password)), "{name} got the canary as basic auth: {request:?}");
    }
}

fn assert_not_in_error(err: &RegistryError, password: &str) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(password), "the canary is in an error: {text}");
}

#[tokio::test]
async fn a_token_realm_on_another_host_never_gets_the_credential() {
    let password = canary();
    let realm = HostileServer::start(|_| Reply::status(200, &[], br#"{"token":"t"}"#));
    let realm_url = format!("http://{}/token", realm.host());
    let registry = HostileServer::start(move |_| {
        let challenge = format!(r#"Bearer realm="{realm_url}",service="evil""#);
        Reply::status(401, &[("WWW-Authenticate", challenge.as_str())], b"")
    });
    // The realm is not an allowed registry: it is not contacted at all.
    let c = client(&registry.host(), &password, &registry.host());
    let err = c.resolve(&format!("{}/app:1", registry.host())).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains("not contacted"), "{err}");
    assert_eq!(realm.accepted(), 0, "the realm on another host was contacted");
    assert_not_in_error(&err, &password);

    // Allowed (as a registry of its own), it is asked anonymously: still never the credential.
    let c = client(&registry.host(), &password, &format!("{},{}", registry.host(), realm.host()));
    let _ = c.resolve(&format!("{}/app:1", registry.host())).await;
    assert!(realm.accepted() > 0, "the allowed realm was not asked at all");
    assert_never_sent(&realm, &password, "the token realm on another port");
    assert!(realm.requests().iter().all(|r| r.authorization.is_none()), "{:?}", realm.requests());
}

#[tokio::test]
async fn a_redirect_to_another_host_is_followed_without_the_credential_and_its_body_is_not_reflected() {
    let password = canary();
    let internal = HostileServer::start(|_| {
        Reply::status(500, &[("Content-Type", "text/plain")], b"internal-service: redis AUTH hunter2-secret-text")
    });
    let target = format!("http://{}/internal", internal.host());
    let expected = basic(&password);
    let registry = HostileServer::start(move |seen: &Seen| {
        if seen.authorization.as_deref() != Some(expected.as_str()) {
            return Reply::status(401, &[("WWW-Authenticate", r#"Basic realm="r""#)], b"");
        }
        Reply::status(302, &[("Location", target.as_str())], b"")
    });
    let c = client(&registry.host(), &password, &registry.host());
    let err = c.resolve(&format!("{}/app:1", registry.host())).await.unwrap_err();
    // The registry got its credential; the host it redirected to did not.
    assert!(registry.requests().iter().any(|r| r.authorization.as_deref() == Some(basic(&password).as_str())));
    assert_eq!(internal.requests().len(), 1, "the redirect was not followed");
    assert!(internal.requests()[0].authorization.is_none(), "{:?}", internal.requests());
    assert_never_sent(&internal, &password, "the redirect target");
    // Status and nothing else of the internal service's answer.
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert!(!err.to_string().contains("hunter2") && !err.to_string().contains("redis"), "{err}");
    assert_not_in_error(&err, &password);
}

#[tokio::test]
async fn registries_outside_the_allow_list_are_refused_without_a_connection() {
    let password = canary();
    let unlisted = HostileServer::start(|_| Reply::status(200, &[], b"{}"));
    let c = client("127.0.0.1:1", &password, "127.0.0.1:1");
    for reference in [format!("{}/app:1", unlisted.host()), "127.0.0.1:6379/x:1".into(), "evil.example/app:1".into()] {
        let err = c.resolve(&reference).await.unwrap_err();
        assert!(matches!(err, RegistryError::NotAllowed { .. }), "{reference}: {err:?}");
        assert_not_in_error(&err, &password);
    }
    assert_eq!(unlisted.accepted(), 0, "an unlisted registry was connected to");
    // Metadata addresses are refused even when allowed.
    let any = client("127.0.0.1:1", &password, "*");
    let err = any.resolve("169.254.169.254/latest/meta-data:1").await.unwrap_err();
    assert!(err.to_string().contains("169.254"), "{err}");
}

#[tokio::test]
async fn a_five_gib_manifest_fails_its_resolve_without_being_read() {
    let password = canary();
    let server = HostileServer::endless_manifests(5 << 30);
    let c = client(&server.host(), &password, &server.host());
    let err = c.resolve(&format!("{}/app:1", server.host())).await.unwrap_err();
    assert!(err.to_string().contains("larger than 4194304 bytes"), "{err}");
    // The client hung up after the cap: the server got nowhere near 5 GiB out.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(server.streamed_bytes() < 256 << 20, "{} bytes streamed", server.streamed_bytes());
    // A declared length over the cap is refused before reading anything.
    let declared = HostileServer::start(|_| {
        Reply::status(200, &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")], &vec![b' '; 5 << 20])
    });
    let c = client(&declared.host(), &password, &declared.host());
    let err = c.resolve(&format!("{}/app:1", declared.host())).await.unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[tokio::test]
async fn an_upload_location_on_another_host_gets_neither_the_file_nor_the_credential() {
    let password = canary();
    let internal = HostileServer::start(|_| Reply::status(201, &[], b""));
    let elsewhere = format!("http://{}/upload/here", internal.host());
    let expected = basic(&password);
    let registry = HostileServer::start(move |seen: &Seen| {
        if seen.authorization.as_deref() != Some(expected.as_str()) {
            return Reply::status(401, &[("WWW-Authenticate", r#"Basic realm="r""#)], b"");
        }
        match seen.method.as_str() {
            "HEAD" => Reply::status(404, &[], b""),
            // A registry may answer an upload with any Location; this one names another host.
            "POST" => Reply::status(202, &[("Location", elsewhere.as_str())], b""),
            _ => Reply::status(500, &[], b""),
        }
    });
    let c = client(&registry.host(), &password, &format!("{},{}", registry.host(), internal.host()));
    let artifact = strata_registry::NewArtifact {
        artifact_type: "application/vnd.example.v1",
        file_media_type: "application/octet-stream",
        file_name: "file",
        file: b"the file that must stay home",
        annotations: Default::default(),
    };
    let err = c.push_artifact(&format!("{}/team/db:1", registry.host()), &artifact).await.unwrap_err();
    assert!(err.to_string().contains("off its own origin"), "{err}");
    assert_eq!(internal.accepted(), 0, "the file went to the upload location on another host");
    assert_not_in_error(&err, &password);
}
