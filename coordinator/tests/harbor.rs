//! Harbor's pluggable scanner adapter API v1.2 end to end: Harbor-shaped requests to the real coordinator
//! binary's HTTP listener, a real fleet and a real token-protected registry; every answer is validated
//! against the schemas of the spec's own OpenAPI document (tests/specs/, converted to JSON Schema here).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use strata_testkit::fleet::Fleet;
use strata_testkit::front::TokenFront;
use strata_testkit::registry::Response;
use strata_testkit::token::{TokenPolicy, TokenRegistry};

const VULN: &str = "application/vnd.security.vulnerability.report; version=1.1";
const HARBOR_VULN: &str = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";
const SBOM: &str = "application/vnd.security.sbom.report+json; version=1.0";
const ERROR: &str = "application/vnd.scanner.adapter.error+json; version=1.0";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The spec's `components.schemas` as a JSON Schema (2020-12) whose root is `name`. OpenAPI's
/// `nullable` becomes a `null` alternative; objects that declare properties accept no others, so a field
/// the spec does not define fails validation.
fn spec_schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/harbor-scanner-adapter-openapi-v1.2.yaml");
    let spec: Value = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut defs = spec["components"]["schemas"].as_object().expect("components.schemas").clone();
    for schema in defs.values_mut() {
        openapi_to_json_schema(schema);
    }
    let root = json!({"$defs": defs, "$ref": format!("#/$defs/{name}")});
    jsonschema::options().should_validate_formats(true).build(&root).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn openapi_to_json_schema(schema: &mut Value) {
    let Some(map) = schema.as_object_mut() else { return };
    if let Some(Value::String(r)) = map.get_mut("$ref") {
        *r = r.replace("#/components/schemas/", "#/$defs/");
    }
    if map.remove("nullable") == Some(Value::Bool(true)) {
        if let Some(t) = map.get("type").cloned() {
            map.insert("type".into(), json!([t, "null"]));
        } else if let Some(Value::Array(alternatives)) = map.get_mut("oneOf") {
            alternatives.push(json!({"type": "null"}));
        }
    }
    if map.contains_key("properties") && !map.contains_key("additionalProperties") {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        properties.values_mut().for_each(openapi_to_json_schema);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            openapi_to_json_schema(child);
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            children.iter_mut().for_each(openapi_to_json_schema);
        }
    }
}

fn assert_valid(name: &str, doc: &Value) {
    let validator = spec_schema(name);
    let errors: Vec<String> =
        validator.iter_errors(doc).map(|e| format!("{e} at {}", e.instance_path())).take(10).collect();
    assert!(errors.is_empty(), "{name}:\n{}\n{doc:#}", errors.join("\n"));
}

/// Parses a JSON answer, checks its `Content-Type` and validates it as the spec's `schema`.
fn answer(response: &Response, status: u16, mime: &str, schema: &str) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.header("content-type"), Some(mime), "{}", response.text());
    let body: Value = serde_json::from_slice(&response.body).expect("JSON body");
    assert_valid(schema, &body);
    body
}

fn get(fleet: &Fleet, path: &str, headers: &[(&str, &str)]) -> Response {
    fleet.http("GET", path, headers, &[]).expect("GET")
}

fn report_path(id: &str, sbom: Option<&str>) -> String {
    let query = sbom.map(|m| format!("?sbom_media_type={}", m.replace('/', "%2F").replace('+', "%2B")));
    format!("/api/v1/scan/{id}/report{}", query.unwrap_or_default())
}

#[test]
fn a_harbor_scan_request_gives_reports_that_follow_the_spec_and_match_the_fleets() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db(&bins, tmp.path());
    let (user, password) = ("robot$strata", format!("robot-pw-{}", std::process::id()));
    // Token auth with the realm on the registry's own origin, as Harbor serves it: the lent credential can
    // be turned into a pull token for the workers.
    let registry = TokenRegistry::start(TokenPolicy::require_credentials(user, &password));
    let layout = tmp.path().join("layout");
    let built = small_image(&layout, "1.0", "harbor");
    registry.push(&layout, "1.0", "library/app:1.0", &["--dest-creds", &format!("{user}:{password}")]);
    let registry = TokenFront::start(&registry);
    let token = "harbor-adapter-token";
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, token).unwrap();
    let token_path = token_file.to_string_lossy().into_owned();
    // Only the workers have registry credentials of their own: the coordinator resolves with the ones
    // Harbor lends, and the workers pull that scan's layers with the token minted from them.
    let host = registry.host();
    let workers = [
        ("STRATA_REGISTRY_USERNAME", user),
        ("STRATA_REGISTRY_PASSWORD", password.as_str()),
        ("STRATA_REGISTRY_HOST", host.as_str()),
    ];
    let env = [("STRATA_TOKEN_FILE", token_path.as_str()), ("RUST_LOG", "debug")];
    let mut fleet = Fleet::start_with_worker_env(bins.clone(), &db, 0, &env, &workers);
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let cli = [("STRATA_TOKEN", token)];

    answer(&get(&fleet, "/api/v1/metadata", &[]), 401, ERROR, "ErrorResponse");
    let metadata = answer(
        &get(&fleet, "/api/v1/metadata", &auth),
        200,
        "application/vnd.scanner.adapter.metadata+json; version=1.1",
        "ScannerAdapterMetadata",
    );
    let produced: BTreeSet<&str> = metadata["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["produces_mime_types"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(produced, BTreeSet::from([VULN, HARBOR_VULN, SBOM]));
    assert_eq!(metadata["scanner"]["name"], "Strata");

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let artifact = json!({"repository": "library/app", "digest": built.manifest_digest, "tag": "1.0",
                          "mime_type": OCI_MANIFEST});
    let request = json!({
        "registry": {"url": format!("http://{}", registry.host()), "authorization": format!("Basic {basic}")},
        "artifact": artifact,
        "enabled_capabilities": [{"type": "vulnerability"},
                                 {"type": "sbom", "parameters": {"sbom_media_types": ["application/spdx+json"]}}],
    });
    assert_valid("ScanRequest", &request);
    let content_type = [("Content-Type", "application/vnd.scanner.adapter.scan.request+json; version=1.1")];
    let headers = [auth[0], content_type[0]];
    let body = serde_json::to_vec(&request).unwrap();
    let accepted = fleet.http("POST", "/api/v1/scan", &headers, &body).unwrap();
    let id = answer(&accepted, 202, "application/vnd.scanner.adapter.scan.response+json; version=1.0", "ScanResponse")
        ["id"]
        .as_str()
        .unwrap()
        .to_string();

    // No worker yet, so the scan cannot finish: Harbor is told when to ask again.
    let pending = get(&fleet, &report_path(&id, None), &[auth[0], ("Accept", VULN)]);
    assert_eq!(pending.status, 302, "{}", pending.text());
    let refresh: u32 = pending.header("refresh-after").expect("Refresh-After").parse().expect("integer seconds");
    assert!(refresh >= 1);
    fleet.add_worker();
    let done = eventually(120, "the report", &fleet, || {
        let response = get(&fleet, &report_path(&id, None), &[auth[0], ("Accept", VULN)]);
        assert!(response.status == 200 || response.status == 302, "{} {}", response.status, response.text());
        (response.status == 200).then_some(response)
    });
    let report = answer(&done, 200, VULN, "HarborVulnerabilityReport");
    assert_eq!(report["artifact"], artifact);
    let items = report["vulnerabilities"].as_array().unwrap();
    let listed: BTreeSet<String> =
        items.iter().map(|v| format!("{} {}", v["id"].as_str().unwrap(), v["package"].as_str().unwrap())).collect();
    let own = findings(&fleet_report(&fleet, &id, &cli));
    assert!(!own.is_empty(), "the downgraded openssl has advisories");
    assert_eq!(listed, own, "Harbor's list is the fleet's own report");
    let scale = ["Unknown", "Negligible", "Low", "Medium", "High", "Critical"];
    let rank = |s: &Value| scale.iter().position(|x| s == x).unwrap();
    let worst = items.iter().map(|v| rank(&v["severity"])).max().unwrap();
    assert_eq!(rank(&report["severity"]), worst, "the report's severity is its worst item's");
    assert!(items.iter().any(|v| v["fix_version"].is_string() && v["links"].as_array().is_some_and(|l| !l.is_empty())));

    let legacy = answer(
        &get(&fleet, &report_path(&id, None), &[auth[0], ("Accept", HARBOR_VULN)]),
        200,
        HARBOR_VULN,
        "HarborVulnerabilityReport",
    );
    assert_eq!(legacy["vulnerabilities"], report["vulnerabilities"]);
    for (media_type, list) in [("application/vnd.cyclonedx+json", "components"), ("application/spdx+json", "packages")]
    {
        let sbom = answer(
            &get(&fleet, &report_path(&id, Some(media_type)), &[auth[0], ("Accept", SBOM)]),
            200,
            SBOM,
            "HarborSbomReport",
        );
        assert_eq!(sbom["media_type"], media_type);
        assert_eq!(sbom["artifact"], artifact);
        let names: BTreeSet<&str> =
            sbom["sbom"][list].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
        // Every package, not only the vulnerable ones.
        assert!(names.contains("libssl1.1") && names.contains("bash") && names.len() > 50, "{media_type}: {names:?}");
    }

    // Harbor's credential stays in memory: not in any log, not in the scan record.
    let logs = fleet.logs();
    assert!(logs.contains("DEBUG") || logs.contains("\"level\":\"DEBUG\""), "debug logging was on");
    assert!(!logs.contains(&password) && !logs.contains(&basic), "Harbor's credential reached a log");
    let records = serde_json::to_string(&scans(&fleet, &cli)).unwrap();
    assert!(!records.contains(&password) && !records.contains(&basic), "{records}");
    assert!(records.contains("\"trigger\":\"harbor\""), "{records}");
}

#[test]
fn errors_are_the_specs_error_responses() {
    let bins = bins();
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db(&bins, tmp.path());
    let token = "harbor-errors-token";
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, token).unwrap();
    let token_path = token_file.to_string_lossy().into_owned();
    let fleet = Fleet::start(bins.clone(), &db, 0, &[("STRATA_TOKEN_FILE", token_path.as_str())]);
    let bearer = format!("Bearer {token}");
    let auth = ("Authorization", bearer.as_str());
    let unknown = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    answer(&get(&fleet, &report_path(unknown, None), &[("Accept", VULN), auth]), 404, ERROR, "ErrorResponse");
    // A MIME type the scanner does not produce: the spec's 501; an SBOM without (or with a bad) format: 400.
    let raw = [("Accept", "application/vnd.scanner.adapter.vuln.report.raw"), auth];
    answer(&get(&fleet, &report_path(unknown, None), &raw), 501, ERROR, "ErrorResponse");
    answer(&get(&fleet, &report_path(unknown, None), &[("Accept", SBOM), auth]), 400, ERROR, "ErrorResponse");
    let sbom = [("Accept", SBOM), auth];
    answer(&get(&fleet, &report_path(unknown, Some("text/csv")), &sbom), 400, ERROR, "ErrorResponse");

    let post = |body: &Value| fleet.http("POST", "/api/v1/scan", &[auth], &serde_json::to_vec(body).unwrap()).unwrap();
    let bad_json = fleet.http("POST", "/api/v1/scan", &[auth], b"{\"registry\":").unwrap();
    answer(&bad_json, 400, ERROR, "ErrorResponse");
    let wrong_type = post(&json!({"registry": {"url": 5}, "artifact": {}}));
    answer(&wrong_type, 400, ERROR, "ErrorResponse");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let registry = json!({"url": "http://127.0.0.1:9"});
    for (artifact, status) in [
        (json!({"repository": "library/app"}), 422),
        (json!({"repository": "library/app", "digest": "latest"}), 422),
        (json!({"digest": digest}), 422),
        // not the distribution grammar: refused before anything is stored or queued
        (json!({"repository": "../../v2/x", "digest": digest}), 422),
        (json!({"repository": "Library/App", "digest": digest}), 422),
        (
            json!({"repository": "library/app", "digest": digest,
                   "mime_type": "application/vnd.oci.image.index.v1+json"}),
            501,
        ),
    ] {
        answer(&post(&json!({"registry": registry, "artifact": artifact})), status, ERROR, "ErrorResponse");
    }
    let no_url = json!({"registry": {"url": "not a url"}, "artifact": {"repository": "a", "digest": digest}});
    answer(&post(&no_url), 422, ERROR, "ErrorResponse");
    // A registry outside the allow-list (the tests allow 127.0.0.1:* only): 422, nothing contacted.
    let foreign =
        json!({"registry": {"url": "https://registry.example.com"}, "artifact": {"repository": "a", "digest": digest}});
    let refused = answer(&post(&foreign), 422, ERROR, "ErrorResponse");
    assert!(refused.to_string().contains("not an allowed registry"), "{refused}");
    // Anonymous or wrong-token requests: 401, whatever they ask.
    let valid =
        serde_json::to_vec(&json!({"registry": registry, "artifact": {"repository": "a", "digest": digest}})).unwrap();
    for headers in [vec![], vec![("Authorization", "Bearer wrong")], vec![("Authorization", "Basic abc")]] {
        let response = fleet.http("POST", "/api/v1/scan", &headers, &valid).unwrap();
        answer(&response, 401, ERROR, "ErrorResponse");
        answer(&fleet.http("GET", "/api/v1/metadata", &headers, &[]).unwrap(), 401, ERROR, "ErrorResponse");
    }
    assert!(scans(&fleet, &[("STRATA_TOKEN", token)]).is_empty(), "no refused request started a scan");
}

#[test]
fn the_converted_schemas_refuse_what_the_spec_does_not_allow() {
    let item =
        json!({"id": "DSA-1", "package": "p", "version": "1", "severity": "High", "links": ["https://x.test/1"]});
    let report =
        |item: Value| json!({"generated_at": "2026-11-30T10:00:00Z", "severity": "High", "vulnerabilities": [item]});
    let validator = spec_schema("HarborVulnerabilityReport");
    assert!(validator.is_valid(&report(item.clone())));
    for (field, value) in [
        ("severity", json!("HIGH")),
        ("links", json!(["not a uri"])),
        ("cvss", json!(9.8)),
        ("preferred_cvss", json!({"score_v3": "high"})),
    ] {
        let mut bad = item.clone();
        bad[field] = value;
        assert!(!validator.is_valid(&report(bad)), "{field} must be refused");
    }
    assert!(!validator.is_valid(&json!({"generated_at": "yesterday"})));
    assert!(spec_schema("ErrorResponse").is_valid(&json!({"error": {"message": "m"}})));
    assert!(!spec_schema("ErrorResponse").is_valid(&json!({"message": "m"})));
    let sbom = spec_schema("HarborSbomReport");
    assert!(!sbom.is_valid(&json!({"media_type": "text/csv"})));
}
