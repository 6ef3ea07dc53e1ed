//! Untrusted registry names against the real coordinator and worker binaries (docs/security.md): a real
//! `docker-registry` that the fleet's credential (a random canary password per run) is for, and hostile
//! test-owned servers on 127.0.0.1 — a fake registry whose token realm is on another port, a registry
//! that redirects to an "internal service", one that serves a 5 GiB manifest, one nobody listed. Through a
//! submit of a foreign reference, a Harbor request to a foreign registry, a push with a spoofed `Host`
//! and the redirect, the canary reaches no host but its own registries and appears in no log, report,
//! error or Redis value. A credential Harbor lends is used by every party of its scan or by none: the
//! workers get a pull token minted with it, never the password nor their own credential.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use strata_testkit::fleet::{Fleet, redis_cli};
use strata_testkit::front::TokenFront;
use strata_testkit::hostile_server::{HostileServer, Reply, Seen};
use strata_testkit::registry::TestRegistry;
use strata_testkit::token::{TokenPolicy, TokenRegistry};

const USER: &str = "fleet";

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// Every value under the test's key prefix, as text (strings, hashes, lists, sets, sorted sets, streams).
fn redis_values(prefix: &str) -> String {
    let mut out = String::new();
    for key in redis_cli(&["--scan", "--pattern", &format!("{prefix}*")]).lines().filter(|k| !k.is_empty()) {
        let kind = redis_cli(&["type", key]);
        let value = match kind.trim() {
            "string" => redis_cli(&["get", key]),
            "hash" => redis_cli(&["hgetall", key]),
            "list" => redis_cli(&["lrange", key, "0", "-1"]),
            "set" => redis_cli(&["smembers", key]),
            "zset" => redis_cli(&["zrange", key, "0", "-1"]),
            "stream" => redis_cli(&["xrange", key, "-", "+"]),
            _ => String::new(),
        };
        out.push_str(key);
        out.push('\n');
        out.push_str(&value);
    }
    out
}

fn scan_of<'a>(scans: &'a [Value], reference: &str) -> Option<&'a Value> {
    scans.iter().find(|s| s["reference"] == reference)
}

fn finished(scan: &Value) -> bool {
    ["done", "failed", "cancelled", "partial"].iter().any(|s| scan["status"] == *s)
}

#[test]
fn the_fleets_credential_reaches_only_its_own_registries_and_hostile_registries_fail_only_their_scans() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db(&bins, tmp.path());
    let canary = format!("canary-{:x}-{}", std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos(), std::process::id());
    let canary_basic = basic(USER, &canary);

    // The fleet's own registry, real, protected by the canary.
    let own = TestRegistry::start_with_auth(USER, &canary);
    let layout = tmp.path().join("layout");
    let built = small_image(&layout, "1", "own");
    own.push(&layout, "1", "team/app:1", &["--dest-creds", &format!("{USER}:{canary}")]);

    // A fake registry whose token realm is on another port (another host).
    let realm = HostileServer::start(|_| Reply::status(200, &[], br#"{"token":"t"}"#));
    let realm_url = format!("http://{}/token", realm.host());
    let fake = HostileServer::start(move |_: &Seen| {
        let challenge = format!(r#"Bearer realm="{realm_url}",service="fake""#);
        Reply::status(401, &[("WWW-Authenticate", challenge.as_str())], br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#)
    });
    // An internal service, and a registry the canary is also for that redirects to it.
    let internal = HostileServer::start(|_| {
        Reply::status(500, &[("Content-Type", "text/plain")], b"internal-service-says: secret-internal-text")
    });
    let internal_url = format!("http://{}/v2/steal", internal.host());
    let redirector_basic = canary_basic.clone();
    let redirector = HostileServer::start(move |seen: &Seen| {
        if seen.authorization.as_deref() != Some(redirector_basic.as_str()) {
            return Reply::status(401, &[("WWW-Authenticate", r#"Basic realm="r""#)], b"");
        }
        Reply::status(307, &[("Location", internal_url.as_str())], b"")
    });
    // A registry answering every manifest with 5 GiB, streamed.
    let huge = HostileServer::endless_manifests(5 << 30);
    // Listening, but in no allow-list: nothing may connect.
    let unlisted = HostileServer::start(|_| Reply::status(200, &[], b"{}"));

    let token = "hostile-harbor-token";
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, token).unwrap();
    let notify_token = "hostile-notify-token";
    let notify_file = tmp.path().join("notify-token");
    std::fs::write(&notify_file, notify_token).unwrap();
    let (token_path, notify_path) =
        (token_file.to_string_lossy().into_owned(), notify_file.to_string_lossy().into_owned());
    let allowed = [own.host(), fake.host(), redirector.host(), huge.host()].join(",");
    let credential_hosts = format!("{},{}", own.host(), redirector.host());
    let own_host = own.host();
    let env = [
        ("STRATA_REGISTRY_USERNAME", USER),
        ("STRATA_REGISTRY_PASSWORD", canary.as_str()),
        ("STRATA_REGISTRY_HOST", credential_hosts.as_str()),
        ("STRATA_ALLOWED_REGISTRIES", allowed.as_str()),
        ("STRATA_TOKEN_FILE", token_path.as_str()),
        ("STRATA_NOTIFY_TOKEN_FILE", notify_path.as_str()),
        ("STRATA_NOTIFY_REGISTRY", own_host.as_str()),
        ("RUST_LOG", "debug"),
    ];
    let fleet = Fleet::start(bins.clone(), &db, 1, &env);
    let cli = [("STRATA_TOKEN", token)];
    let all_scans = || scans(&fleet, &cli);
    let strata_submit = |reference: &str| {
        let mut cmd = fleet.strata();
        cmd.env("STRATA_TOKEN", token);
        cmd.args(["submit", reference]);
        run(cmd)
    };

    // Refused before anything is stored or connected to: Redis's port, an unlisted loopback registry.
    for reference in ["127.0.0.1:6379/x:1".to_string(), format!("{}/app:1", unlisted.host())] {
        let (code, out, err) = strata_submit(&reference);
        assert_ne!(code, 0, "{reference} was accepted: {out}");
        assert!(err.contains("not an allowed registry"), "{reference}: {err}");
    }
    assert_eq!(unlisted.accepted(), 0, "the unlisted registry was connected to");

    // A submit of a foreign reference, the 5 GiB manifest, the redirect, and the fleet's own image.
    let foreign = format!("{}/app:1", fake.host());
    let huge_ref = format!("{}/big:1", huge.host());
    let redirected = format!("{}/app:1", redirector.host());
    let own_ref = format!("{}/team/app:1", own.host());
    for reference in [&foreign, &huge_ref, &redirected, &own_ref] {
        let (code, out, err) = strata_submit(reference);
        assert_eq!(code, 0, "{reference}: {out}{err}");
    }
    // A Harbor request naming the fake registry, lending its own credential.
    let lent = "harbor-lent-password";
    let digest = format!("sha256:{}", "ab".repeat(32));
    let harbor = json!({
        "registry": {"url": format!("http://{}", fake.host()), "authorization": basic("robot", lent)},
        "artifact": {"repository": "library/app", "digest": digest, "mime_type": "application/vnd.oci.image.manifest.v1+json"},
    });
    let bearer = format!("Bearer {token}");
    let response = fleet
        .http("POST", "/api/v1/scan", &[("Authorization", bearer.as_str())], &serde_json::to_vec(&harbor).unwrap())
        .unwrap();
    assert_eq!(response.status, 202, "{}", response.text());
    let anonymous = fleet.http("POST", "/api/v1/scan", &[], &serde_json::to_vec(&harbor).unwrap()).unwrap();
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    // A push whose Host header names the fake registry: scanned at the configured registry.
    let event = json!({"events": [{
        "id": "spoofed", "timestamp": "2026-11-30T10:00:00Z", "action": "push",
        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 400,
                   "digest": built.manifest_digest, "length": 400, "repository": "team/app", "tag": "1"},
        "request": {"id": "r", "addr": "127.0.0.1:40000", "host": fake.host(), "method": "PUT", "useragent": "x"},
        "actor": {}, "source": {"addr": "x", "instanceID": "i"}}]});
    let notify_bearer = format!("Bearer {notify_token}");
    let response = fleet
        .http(
            "POST",
            "/v1/registry/events",
            &[("Authorization", notify_bearer.as_str()), ("Content-Type", "application/json")],
            &serde_json::to_vec(&event).unwrap(),
        )
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());

    let pushed_ref = format!("{}/team/app@{}", own.host(), built.manifest_digest);
    let harbor_ref = format!("{}/library/app@{digest}", fake.host());
    let expected = [&foreign, &huge_ref, &redirected, &own_ref, &pushed_ref, &harbor_ref];
    let scans = eventually(240, "every scan finishes", &fleet, || {
        let scans = all_scans();
        expected.iter().all(|r| scan_of(&scans, r).is_some_and(finished)).then_some(scans)
    });
    let status = |r: &str| scan_of(&scans, r).map(|s| s["status"].as_str().unwrap_or_default().to_string());
    // Other scans finish: the fleet's own image, submitted and pushed, is done.
    assert_eq!(status(&own_ref).as_deref(), Some("done"), "{scans:#?}\n{}", fleet.logs());
    assert_eq!(status(&pushed_ref).as_deref(), Some("done"), "{scans:#?}");
    for hostile in [&foreign, &huge_ref, &redirected, &harbor_ref] {
        assert_eq!(status(hostile).as_deref(), Some("failed"), "{hostile}: {scans:#?}");
    }
    let error = |r: &str| scan_of(&scans, r).map(|s| s["error"].to_string()).unwrap_or_default();
    assert!(error(&huge_ref).contains("larger than 4194304 bytes"), "{}", error(&huge_ref));
    assert!(error(&redirected).contains("HTTP 500"), "{}", error(&redirected));
    assert!(!error(&redirected).contains("secret-internal-text"), "{}", error(&redirected));
    // The coordinator stayed up through the 5 GiB manifest (same process, healthy) and hung up early.
    assert_eq!(fleet.ops_get("coordinator", "/healthz").0, 200);
    std::thread::sleep(Duration::from_millis(500));
    assert!(huge.streamed_bytes() < 256 << 20, "{} bytes of manifest streamed", huge.streamed_bytes());

    // The hostile hosts were really asked (so the checks below can fail), and the canary's own registry
    // that redirected really got it.
    assert!(fake.accepted() > 0 && !internal.requests().is_empty(), "{:?} {:?}", fake.requests(), internal.requests());
    assert!(redirector.requests().iter().any(|r| r.authorization.as_deref() == Some(canary_basic.as_str())));
    // Where the canary went: only to its own registries.
    for (name, server) in
        [("the fake registry", &fake), ("its token realm", &realm), ("the internal service", &internal)]
    {
        for request in server.requests() {
            assert!(!request.head.contains(&canary) && !request.head.contains(&canary_basic), "{name}: {request:?}");
        }
    }
    assert!(internal.requests().iter().all(|r| r.authorization.is_none()), "{:?}", internal.requests());
    assert_eq!(realm.accepted(), 0, "a realm on another, unlisted host was contacted");
    assert!(fake.requests().iter().all(|r| r.authorization.as_deref() != Some(canary_basic.as_str())));
    // The spoofed push never sent anything to the host its Host header named beyond the scans aimed there.
    assert!(fake.requests().iter().all(|r| !r.path.contains("team/app")), "{:?}", fake.requests());
    assert_eq!(unlisted.accepted(), 0);

    // …and into no log line, report, error or Redis value.
    let mut logs = fleet.log_text("coordinator.log");
    logs.push_str(&fleet.log_text("worker-0.log"));
    assert!(logs.contains("DEBUG") || logs.contains("\"level\":\"DEBUG\""), "debug logging was on");
    for (what, text) in [
        ("a log", logs),
        ("a scan record", serde_json::to_string(&scans).unwrap()),
        (
            "a report",
            fleet_report(&fleet, scan_of(&scans, &own_ref).unwrap()["id"].as_str().unwrap(), &cli).to_string(),
        ),
        ("Redis", redis_values(&fleet.prefix)),
    ] {
        assert!(!text.contains(&canary), "the canary reached {what}");
        assert!(!text.contains(&canary_basic), "the canary reached {what} as basic auth");
        assert!(!text.contains(lent), "Harbor's lent password reached {what}");
        assert!(!text.contains("secret-internal-text"), "the internal service's body reached {what}");
    }
}

#[test]
fn a_lent_credential_reaches_only_the_token_service_and_workers_pull_with_the_minted_token_only() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db(&bins, tmp.path());
    let run_id = format!("{:x}-{}", std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos(), std::process::id());
    let (canary, lent) = (format!("canary-{run_id}"), format!("lent-{run_id}"));
    let (canary_basic, lent_basic) = (basic(USER, &canary), basic("robot", &lent));

    // A token-auth registry (realm on its own origin, as Harbor's) that only the lent robot can pull from.
    let registry = TokenRegistry::start(TokenPolicy::require_credentials("robot", &lent));
    let layout = tmp.path().join("layout");
    let built = small_image(&layout, "1", "lent");
    registry.push(&layout, "1", "team/app:1", &["--dest-creds", &format!("robot:{lent}")]);
    let front = TokenFront::start(&registry);
    // A basic-auth registry that Harbor also lends a credential for: no token to hand the workers.
    let basic_only = TestRegistry::start_with_auth("robot", &lent);
    basic_only.push(&layout, "1", "team/app:1", &["--dest-creds", &format!("robot:{lent}")]);

    let token = "lent-harbor-token";
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, token).unwrap();
    let token_path = token_file.to_string_lossy().into_owned();
    // Every party also has its own (canary) credential for both registries: it must not be used.
    let hosts = format!("{},{}", front.host(), basic_only.host());
    let env = [
        ("STRATA_REGISTRY_USERNAME", USER),
        ("STRATA_REGISTRY_PASSWORD", canary.as_str()),
        ("STRATA_REGISTRY_HOST", hosts.as_str()),
        ("STRATA_ALLOWED_REGISTRIES", hosts.as_str()),
        ("STRATA_TOKEN_FILE", token_path.as_str()),
        ("RUST_LOG", "debug"),
    ];
    let fleet = Fleet::start(bins.clone(), &db, 1, &env);
    let cli = [("STRATA_TOKEN", token)];
    let bearer = format!("Bearer {token}");
    let mut harbor_ids = Vec::new();
    for host in [front.host(), basic_only.host()] {
        let request = json!({
            "registry": {"url": format!("http://{host}"), "authorization": lent_basic},
            "artifact": {"repository": "team/app", "digest": built.manifest_digest,
                         "mime_type": "application/vnd.oci.image.manifest.v1+json"},
        });
        let response = fleet
            .http("POST", "/api/v1/scan", &[("Authorization", bearer.as_str())], &serde_json::to_vec(&request).unwrap())
            .unwrap();
        assert_eq!(response.status, 202, "{}", response.text());
        let answer: Value = serde_json::from_slice(&response.body).unwrap();
        harbor_ids.push(answer["id"].as_str().unwrap().to_string());
    }
    let (token_ref, basic_ref) = (
        format!("{}/team/app@{}", front.host(), built.manifest_digest),
        format!("{}/team/app@{}", basic_only.host(), built.manifest_digest),
    );
    let scans = eventually(180, "both Harbor scans finish", &fleet, || {
        let scans = scans(&fleet, &cli);
        [&token_ref, &basic_ref].iter().all(|r| scan_of(&scans, r).is_some_and(finished)).then_some(scans)
    });
    let scan = |r: &str| scan_of(&scans, r).unwrap().clone();
    assert_eq!(scan(&token_ref)["status"], "done", "{scans:#?}\n{}", fleet.logs());
    // The basic-only registry: the lent password cannot go to the workers, so the scan fails, saying why.
    assert_eq!(scan(&basic_ref)["status"], "failed", "{scans:#?}");
    let basic_error = scan(&basic_ref)["error"].to_string();
    assert!(basic_error.contains("a lent basic credential cannot be passed to workers"), "{basic_error}");

    // The token service got the lent credential (from the coordinator) and nothing else.
    let token_requests: Vec<Seen> =
        front.server.requests().into_iter().filter(|r| r.path.starts_with("/token")).collect();
    assert!(!token_requests.is_empty(), "no token was asked for");
    for request in &token_requests {
        assert_eq!(request.authorization.as_deref(), Some(lent_basic.as_str()), "{request:?}");
    }
    let issued = front.issued();
    assert!(!issued.is_empty(), "no token was issued");
    // Every blob request, the workers' layer pulls included, carried only a token minted for the lent
    // credential; the registry never saw a password.
    let blob_requests: Vec<Seen> = front.server.requests().into_iter().filter(|r| r.path.contains("/blobs/")).collect();
    for layer in &built.layer_digests {
        assert!(blob_requests.iter().any(|r| r.path.ends_with(layer.as_str())), "layer {layer} was not pulled");
    }
    for request in &blob_requests {
        let presented = request.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer "));
        assert!(presented.is_some_and(|t| issued.iter().any(|i| i == t)), "{request:?}");
    }
    // The workers' (and coordinator's) own canary credential went nowhere.
    for request in front.server.requests() {
        assert!(!request.head.contains(&canary) && !request.head.contains(&canary_basic), "{request:?}");
    }
    assert!(
        registry.tokens.requests().iter().all(|r| r.user.as_deref() == Some("robot")),
        "{:?}",
        registry.tokens.requests()
    );

    // Neither the lent password nor a minted token in any log line, report, scan record or Redis value.
    let mut texts = vec![
        ("a log", fleet.logs()),
        ("a scan record", serde_json::to_string(&scans).unwrap()),
        ("a report", fleet_report(&fleet, scan(&token_ref)["id"].as_str().unwrap(), &cli).to_string()),
        ("Redis", redis_values(&fleet.prefix)),
    ];
    for id in &harbor_ids {
        let accept = "application/vnd.security.vulnerability.report; version=1.1";
        let report = fleet
            .http(
                "GET",
                &format!("/api/v1/scan/{id}/report"),
                &[("Authorization", bearer.as_str()), ("Accept", accept)],
                &[],
            )
            .unwrap();
        texts.push(("a Harbor report", report.text()));
    }
    assert!(texts[0].1.contains("DEBUG") || texts[0].1.contains("\"level\":\"DEBUG\""), "debug logging was on");
    for (what, text) in &texts {
        assert!(!text.contains(&lent) && !text.contains(&lent_basic), "the lent password reached {what}");
        assert!(!text.contains(&canary), "the canary reached {what}");
        for minted in &issued {
            assert!(!text.contains(minted.as_str()), "a minted pull token reached {what}");
        }
    }
}
