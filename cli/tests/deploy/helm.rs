//! The Helm chart deploy/helm/strata: rendered and linted offline with the Helm library that PyPI
//! helm-sdkpy bundles (deploy/tests/helm_render.py; there is no helm binary), validated like the
//! overlays, and equal to the prod overlay's render for equal settings.
//!
//! Equal means equal after this normalisation, and nothing else is ignored:
//! - `metadata.labels` and `metadata.annotations` (at every level, pod templates included): the chart adds
//!   Helm's standard labels (`helm.sh/chart`, `app.kubernetes.io/instance`, …) and a `checksum/config`
//!   pod annotation; selectors are compared and are identical;
//! - kustomize's hash suffix on generated ConfigMap names (`strata-config-<hash>`): the chart rolls pods
//!   with the checksum annotation instead;
//! - the order of lists whose items all have a `name` (env, volumes, mounts, ports): kustomize patches
//!   append, templates write in one pass; the API server does not care;
//! - `#` comment lines of the nightly image list;
//! - the `Namespace` object: a chart installs into a namespace (`helm install -n strata --create-namespace`),
//!   whose Pod Security labels the operator sets (deploy/README.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::operable::operability_problems;
use super::{
    CRD_KINDS, find, keda_errors, keda_schema, pinned_venv, policy_violations, render, repo, validate_k8s, yaml_docs,
};

const HELM_TOOLS: &str = "/var/tmp/strata-tools/helm";

/// The venv with the pinned helm-sdkpy: it needs Python >= 3.12, unlike kubernetes-validate's venv, so
/// the first such interpreter on PATH or among pyenv's makes it.
fn helm_python() -> PathBuf {
    let find = "for p in python3.13 python3.12 \"$(pyenv root 2>/dev/null)\"/versions/3.1[2-9]*/bin/python3; do \
                \"$p\" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && echo \"$p\" && exit 0; \
                done; echo 'no Python >= 3.12 for helm-sdkpy' >&2; exit 1";
    pinned_venv(HELM_TOOLS, "requirements-helm.txt", find).join("bin/python")
}

/// (helm lint's result, the rendered objects) of `chart` with `values`, or the renderer's error.
fn helm_render(chart: &Path, values: &Value) -> Result<(Value, Vec<Value>), String> {
    let tmp = tempfile::tempdir().unwrap();
    let values_file = tmp.path().join("values.json");
    std::fs::write(&values_file, values.to_string()).unwrap();
    let out = Command::new(helm_python())
        .arg(repo().join("deploy/tests/helm_render.py"))
        .arg(chart)
        .arg(&values_file)
        .arg("strata")
        .output()
        .expect("helm_render.py");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let result: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok((result["lint"].clone(), yaml_docs(result["manifest"].as_str().ok_or("no manifest")?)))
}

fn chart() -> PathBuf {
    repo().join("deploy/helm/strata")
}

/// Lint messages of severity warning (2) or error (3); 1 is informational (e.g. "icon is recommended").
fn lint_findings(lint: &Value) -> Vec<Value> {
    lint["Messages"].as_array().into_iter().flatten().filter(|m| m["Severity"].as_u64() >= Some(2)).cloned().collect()
}

fn strip_hash(s: &str) -> String {
    let mut out = s.to_string();
    for name in ["strata-config", "strata-nightly-images"] {
        let prefix = format!("{name}-");
        if let Some(rest) = out.strip_prefix(&prefix)
            && rest.len() == 10
            && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            out = name.to_string();
        }
    }
    out
}

fn normalise_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let mut x = normalise_value(x);
                    if k == "metadata"
                        && let Some(meta) = x.as_object_mut()
                    {
                        meta.remove("labels");
                        meta.remove("annotations");
                    }
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalise_value).collect();
            if !items.is_empty() && items.iter().all(|i| i["name"].is_string()) {
                items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            }
            Value::Array(items)
        }
        Value::String(s) => Value::String(strip_hash(s)),
        other => other.clone(),
    }
}

/// Objects by (kind, name) after the normalisation in the module comment.
fn normalise(docs: &[Value]) -> BTreeMap<(String, String), Value> {
    docs.iter()
        .filter(|d| d["kind"] != "Namespace")
        .map(|d| {
            let mut d = normalise_value(d);
            if let Some(list) = d["data"]["images.txt"].as_str() {
                let refs: Vec<&str> = list.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).collect();
                d["data"]["images.txt"] = json!(refs.join("\n"));
            }
            let key = (d["kind"].as_str().unwrap().to_string(), d["metadata"]["name"].as_str().unwrap().to_string());
            (key, d)
        })
        .collect()
}

/// The objects that differ (or exist on one side only), each side shown.
fn differences(chart: &[Value], overlay: &[Value]) -> Vec<String> {
    let (a, b) = (normalise(chart), normalise(overlay));
    let mut out = Vec::new();
    for key in a.keys().chain(b.keys()).collect::<std::collections::BTreeSet<_>>() {
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => out.push(format!(
                "{key:?}:\n  chart:   {}\n  overlay: {}",
                x.map(Value::to_string).unwrap_or("-".into()),
                y.map(Value::to_string).unwrap_or("-".into())
            )),
        }
    }
    out
}

fn validate(what: &str, docs: &[Value]) {
    let unknown = validate_k8s(docs).unwrap_or_else(|log| panic!("{what}: kubernetes-validate:\n{log}"));
    assert!(unknown.iter().all(|k| CRD_KINDS.contains(&k.as_str())), "{what}: no schema for {unknown:?}");
    for (kind, file) in [
        ("ScaledObject", "keda-scaledobjects-crd.yaml"),
        ("TriggerAuthentication", "keda-triggerauthentications-crd.yaml"),
    ] {
        let schema = keda_schema(file);
        for d in docs.iter().filter(|d| d["kind"] == kind) {
            let errors = keda_errors(&schema, d);
            assert!(errors.is_empty(), "{what}: {kind}: {errors:#?}");
        }
    }
    let violations = policy_violations(docs);
    assert!(violations.is_empty(), "{what}: {violations:#?}");
}

#[test]
fn helm_chart_renders_lints_validates_and_equals_the_prod_overlay() {
    // Defaults: the prod overlay.
    let (lint, docs) = helm_render(&chart(), &json!({})).unwrap_or_else(|e| panic!("helm: {e}"));
    assert_eq!(lint["TotalChartsLinted"], 1, "{lint}");
    assert!(lint_findings(&lint).is_empty(), "helm lint: {lint}");
    validate("chart defaults", &docs);
    let problems = operability_problems("prod", &docs);
    assert!(problems.is_empty(), "{problems:#?}");
    let diff = differences(&docs, &render("prod"));
    assert!(diff.is_empty(), "chart defaults vs overlays/prod:\n{}", diff.join("\n"));

    // KEDA off: the prod-hpa overlay.
    let hpa_values = json!({"worker": {"autoscaling": {"keda": {"enabled": false}}}});
    let (_, hpa) = helm_render(&chart(), &hpa_values).unwrap_or_else(|e| panic!("helm: {e}"));
    validate("chart without KEDA", &hpa);
    let diff = differences(&hpa, &render("prod-hpa"));
    assert!(diff.is_empty(), "chart without KEDA vs overlays/prod-hpa:\n{}", diff.join("\n"));

    // The comparison can fail.
    let (_, three) = helm_render(&chart(), &json!({"coordinator": {"replicas": 3}})).unwrap();
    assert_eq!(differences(&three, &render("prod")).len(), 1, "replicas 3 must differ in one object");
}

#[test]
fn helm_chart_options() {
    let digest = format!("sha256:{}", "cd".repeat(32));
    let values = json!({
        "fullnameOverride": "scan",
        "images": {"registry": "harbor.example.com/sec", "pullPolicy": "IfNotPresent",
                   "pullSecrets": [{"name": "harbor-pull"}],
                   "worker": {"repository": "strata-worker", "digest": digest}},
        "fleet": {"existingSecret": "vault-strata"},
        "defectdojo": {"url": "https://dojo.example.com", "existingSecret": "dojo-key"},
        "coordinator": {"replicas": 1, "tls": {"enabled": false}},
        "worker": {"autoscaling": {"minReplicas": 0, "maxReplicas": 5, "keda": {"fallback": {"failureThreshold": 2, "replicas": 1}}}},
        "metrics": {"serviceMonitor": {"enabled": false}, "prometheusRule": {"enabled": false}},
        "nightly": {"suspend": true, "images": ["harbor.example.com/app/api:1"]}
    });
    let (lint, docs) = helm_render(&chart(), &values).unwrap_or_else(|e| panic!("helm: {e}"));
    assert!(lint_findings(&lint).is_empty(), "{lint}");
    validate("chart options", &docs);
    let worker = find(&docs, "Deployment", "scan-worker");
    let pod = &worker["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], format!("harbor.example.com/sec/strata-worker@{digest}"));
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "harbor-pull"}]));
    let coordinator = find(&docs, "Deployment", "scan-coordinator");
    assert_eq!(
        coordinator["spec"]["template"]["spec"]["containers"][0]["image"],
        "harbor.example.com/sec/strata-coordinator:0.1.0"
    );
    assert_eq!(coordinator["spec"]["replicas"], 1);
    assert_eq!(find(&docs, "PodDisruptionBudget", "scan-coordinator")["spec"]["minAvailable"], 0);
    // Without TLS: plaintext everywhere, and the gRPC startup probe is back.
    let cc = &coordinator["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(cc["startupProbe"]["grpc"]["port"], 50051);
    let cron = find(&docs, "CronJob", "scan-nightly-scan");
    assert_eq!(cron["spec"]["suspend"], true);
    let submit = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(submit["env"][0], json!({"name": "STRATA_COORDINATOR", "value": "http://scan-coordinator:50051"}));
    assert_eq!(find(&docs, "ConfigMap", "scan-nightly-images")["data"]["images.txt"], "harbor.example.com/app/api:1\n");
    assert_eq!(find(&docs, "ConfigMap", "scan-config")["data"]["STRATA_DEFECTDOJO_URL"], "https://dojo.example.com");
    let so = find(&docs, "ScaledObject", "scan-worker");
    assert_eq!((so["spec"]["minReplicaCount"].as_u64(), so["spec"]["maxReplicaCount"].as_u64()), (Some(0), Some(5)));
    assert_eq!(
        find(&docs, "TriggerAuthentication", "scan-rabbitmq")["spec"]["secretTargetRef"][0]["name"],
        "vault-strata"
    );
    let rendered = docs.iter().map(Value::to_string).collect::<String>();
    for secret in ["\"vault-strata\"", "\"dojo-key\""] {
        assert!(rendered.contains(secret), "{secret} not referenced");
    }
    assert!(
        !docs.iter().any(|d| ["ServiceMonitor", "PodMonitor", "PrometheusRule"].contains(&d["kind"].as_str().unwrap()))
    );

    // cert-manager issues the Secret the coordinator mounts, for the Service's names.
    let values =
        json!({"coordinator": {"tls": {"certManager": {"enabled": true, "extraDnsNames": ["strata.example.com"]}}}});
    let (_, docs) = helm_render(&chart(), &values).unwrap_or_else(|e| panic!("helm: {e}"));
    let cert = find(&docs, "Certificate", "strata-coordinator");
    assert_eq!(cert["spec"]["secretName"], "strata-coordinator-tls");
    let names = &cert["spec"]["dnsNames"];
    assert_eq!(
        names,
        &json!([
            "strata-coordinator",
            "strata-coordinator.strata.svc",
            "strata-coordinator.strata.svc.cluster.local",
            "strata.example.com"
        ])
    );
    assert!(operability_problems("prod", &docs).is_empty());
}

#[test]
fn helm_chart_refuses_what_it_must() {
    // values.schema.json: credentials do not go into the ConfigMap; unknown keys are typos.
    for (what, values) in [
        ("a credential URL in config", json!({"config": {"STRATA_REDIS_URL": "redis://:pw@redis:6379"}})),
        ("an unknown key", json!({"worker": {"replicas": 3}})),
        ("a malformed digest", json!({"images": {"worker": {"repository": "w", "digest": "latest"}}})),
        ("a classic-or-quorum typo", json!({"config": {"STRATA_QUEUE_TYPE": "mirrored"}})),
        // The templates: the job deadline must end before the drain, the drain before the grace period.
        ("a deadline past the drain", json!({"worker": {"layerDeadlineSeconds": 110}})),
    ] {
        assert!(helm_render(&chart(), &values).is_err(), "the chart accepted {what}");
    }
    // helm lint reports a broken template as an error.
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("strata");
    super::operable::copy_dir(&chart(), &copy);
    std::fs::write(copy.join("templates/broken.yaml"), "{{ .Values.nope \n").unwrap();
    let lint = Command::new(helm_python())
        .arg("-c")
        .arg("import asyncio, json, sys, helm_sdkpy; c = helm_sdkpy.Configuration(namespace='x', kubeconfig=None); print(json.dumps(asyncio.run(helm_sdkpy.Lint(c).run(sys.argv[1]))))")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(lint.status.success(), "{}", String::from_utf8_lossy(&lint.stderr));
    let lint: Value = serde_json::from_slice(&lint.stdout).unwrap();
    assert!(lint_findings(&lint).iter().any(|m| m["Severity"] == 3), "helm lint accepted a broken template: {lint}");
}
