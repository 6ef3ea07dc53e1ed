//! Issue 17's operability checks on a rendered overlay: the images an overlay declares are the ones it
//! runs, credentials arrive as a settings file, the DB refreshes in place, job deadlines end before the
//! grace period, coordinator TLS reaches the probes and the CronJob, and the monitoring objects scrape
//! ports that exist and alert on metrics the binaries export. Each check returns its problems so that the
//! known-bad inputs at the end can show it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::{Mutation, OVERLAYS, find, render, repo, str_of, yaml, yaml_docs};

/// A container's setting: its own `env` value, else the `envFrom` ConfigMaps' data.
fn setting(docs: &[Value], c: &Value, name: &str) -> Option<String> {
    let own = c["env"].as_array().into_iter().flatten().find(|e| e["name"] == name);
    if let Some(e) = own {
        return e["value"].as_str().map(str::to_string);
    }
    c["envFrom"].as_array().into_iter().flatten().filter_map(|f| f["configMapRef"]["name"].as_str()).find_map(|cm| {
        docs.iter()
            .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == cm)
            .and_then(|d| d["data"][name].as_str())
            .map(str::to_string)
    })
}

/// The Secret (name, key) a file path in the pod comes from, through a volume mount.
pub fn secret_file(pod: &Value, c: &Value, path: &str) -> Option<(String, String)> {
    let (dir, file) = path.rsplit_once('/')?;
    let mount = c["volumeMounts"].as_array()?.iter().find(|m| m["mountPath"] == dir)?;
    let volume = pod["volumes"].as_array()?.iter().find(|v| v["name"] == mount["name"])?;
    let secret = &volume["secret"];
    let key = match secret["items"].as_array() {
        Some(items) => items.iter().find(|i| i["path"] == file)?["key"].as_str()?.to_string(),
        None => file.to_string(),
    };
    Some((secret["secretName"].as_str()?.to_string(), key))
}

fn pod_of(d: &Value) -> &Value {
    if d["kind"] == "CronJob" {
        &d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    } else {
        &d["spec"]["template"]["spec"]
    }
}

fn num(v: Option<String>, what: &str) -> Result<u64, String> {
    v.ok_or(format!("{what} unset"))?.parse().map_err(|e| format!("{what}: {e}"))
}

/// The `strata_*` metric names the fleet binaries register (string literals in their sources).
pub fn exported_metrics() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for piece in text.split("\"strata_").skip(1) {
                    let name: String = piece.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    if piece[name.len()..].starts_with('"') {
                        out.insert(format!("strata_{name}"));
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    for krate in ["fleet", "coordinator", "worker"] {
        walk(&repo().join(krate).join("src"), &mut out);
    }
    out
}

const ALERTS: [&str; 4] = ["StrataJobsDeadLettered", "StrataQueueBacklog", "StrataDbStale", "StrataScansFailing"];

pub fn operability_problems(overlay: &str, docs: &[Value]) -> Vec<String> {
    let mut bad = Vec::new();
    let mut check = |r: Result<(), String>| {
        if let Err(e) = r {
            bad.push(format!("{overlay}: {e}"));
        }
    };
    let coordinator = find(docs, "Deployment", "strata-coordinator");
    let worker = find(docs, "Deployment", "strata-worker");
    let cron = find(docs, "CronJob", "strata-nightly-scan");
    let cc = &pod_of(coordinator)["containers"][0];
    let wc = &pod_of(worker)["containers"][0];
    let submit = &pod_of(cron)["containers"][0];

    // Credentials: the settings file, from the strata-fleet Secret.
    for (d, c) in [(coordinator, cc), (worker, wc)] {
        check((|| {
            let path = setting(docs, c, "STRATA_CONFIG").ok_or("STRATA_CONFIG unset")?;
            let source = secret_file(pod_of(d), c, &path).ok_or(format!("{path} is not a mounted Secret key"))?;
            (source == ("strata-fleet".into(), "config.toml".into()))
                .then_some(())
                .ok_or(format!("{} settings file from {source:?}", d["metadata"]["name"]))
        })());
    }

    // A drained worker exits by itself: job deadline < drain < the kubelet's grace period.
    check((|| {
        let deadline = num(setting(docs, wc, "STRATA_LAYER_DEADLINE_SECS"), "STRATA_LAYER_DEADLINE_SECS")?;
        let drain = num(setting(docs, wc, "STRATA_SHUTDOWN_GRACE_SECS"), "STRATA_SHUTDOWN_GRACE_SECS")?;
        let grace = pod_of(worker)["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
        (deadline < drain && drain < grace)
            .then_some(())
            .ok_or(format!("deadline {deadline}s, drain {drain}s, grace {grace}s"))
    })());

    // The DB: refreshed by the coordinator into a writable volume, no init container.
    check((|| {
        if pod_of(coordinator).get("initContainers").is_some() {
            return Err("the coordinator still fills its DB in an init container".into());
        }
        for name in
            ["STRATA_DB_SOURCE", "STRATA_DB_REFRESH", "STRATA_DB_MAX_AGE", "STRATA_RETAIN_DAYS", "STRATA_RETAIN_LATEST"]
        {
            setting(docs, cc, name).filter(|v| !v.is_empty()).ok_or(format!("coordinator: {name} unset"))?;
        }
        let db = setting(docs, cc, "STRATA_DB").ok_or("STRATA_DB unset")?;
        let dir = db.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
        let mount = cc["volumeMounts"].as_array().into_iter().flatten().find(|m| m["mountPath"] == dir);
        let mount = mount.ok_or(format!("{dir} not mounted"))?;
        (mount["readOnly"] != json!(true)).then_some(()).ok_or(format!("{dir} is read-only: no refresh"))
    })());

    // Queues: quorum in production, with a delivery limit; the same type for every fleet process.
    check((|| {
        let kinds: BTreeSet<Option<String>> = [cc, wc].iter().map(|c| setting(docs, c, "STRATA_QUEUE_TYPE")).collect();
        let want = if overlay == "dev" { "classic" } else { "quorum" };
        if kinds != BTreeSet::from([Some(want.to_string())]) {
            return Err(format!("queue types {kinds:?}, want {want}"));
        }
        (num(setting(docs, wc, "STRATA_QUEUE_DELIVERY_LIMIT"), "STRATA_QUEUE_DELIVERY_LIMIT")? > 0)
            .then_some(())
            .ok_or("delivery limit 0".into())
    })());

    // Coordinator TLS: where the coordinator serves TLS, the CronJob dials https:// and verifies it with
    // the CA of the same Secret (and only the CA reaches its pod); no probe speaks plaintext gRPC to it.
    check((|| {
        let url = setting(docs, submit, "STRATA_COORDINATOR").ok_or("CronJob: STRATA_COORDINATOR unset")?;
        let Some(cert) = setting(docs, cc, "STRATA_TLS_CERT") else {
            if overlay != "dev" {
                return Err("no coordinator TLS in production".into());
            }
            return url
                .starts_with("http://")
                .then_some(())
                .ok_or(format!("plaintext coordinator, CronJob dials {url}"));
        };
        let key = setting(docs, cc, "STRATA_TLS_KEY").ok_or("STRATA_TLS_KEY unset")?;
        let pod = pod_of(coordinator);
        let tls = ("strata-coordinator-tls".to_string(), "tls.crt".to_string());
        (secret_file(pod, cc, &cert) == Some(tls))
            .then_some(())
            .ok_or(format!("{cert} not from strata-coordinator-tls"))?;
        secret_file(pod, cc, &key).ok_or(format!("{key} not mounted"))?;
        if !url.starts_with("https://strata-coordinator:") {
            return Err(format!("the coordinator serves TLS, the CronJob dials {url}"));
        }
        let ca = setting(docs, submit, "STRATA_TLS_CA").ok_or("CronJob: STRATA_TLS_CA unset")?;
        let source = secret_file(pod_of(cron), submit, &ca).ok_or(format!("CronJob: {ca} not mounted"))?;
        if source != ("strata-coordinator-tls".to_string(), "ca.crt".to_string()) {
            return Err(format!("CronJob CA from {source:?}"));
        }
        let projected: Vec<&Value> = pod_of(cron)["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["secret"]["secretName"] == "strata-coordinator-tls")
            .collect();
        if projected.iter().any(|v| v["secret"]["items"] != json!([{"key": "ca.crt", "path": "ca.crt"}])) {
            return Err(format!("CronJob gets more of the TLS Secret than ca.crt: {projected:?}"));
        }
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            if !cc[probe]["grpc"].is_null() {
                return Err(format!("{probe} is a plaintext gRPC probe against a TLS listener"));
            }
        }
        Ok(())
    })());

    // The nightly list names only registries the fleet may contact (credential hosts aside, which the
    // settings file holds and a render cannot see): Docker Hub references without a registry included.
    check((|| {
        let allowed = setting(docs, wc, "STRATA_ALLOWED_REGISTRIES").unwrap_or_default();
        let allowed: Vec<&str> = allowed.split(',').map(str::trim).filter(|a| !a.is_empty()).collect();
        let list = docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap" && d["data"]["images.txt"].is_string())
            .ok_or("no nightly image list")?;
        for reference in str_of(&list["data"]["images.txt"], "images.txt")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let first = reference.split('/').next().unwrap_or_default();
            let host = if reference.contains('/') && (first.contains('.') || first.contains(':')) {
                first
            } else {
                "docker.io"
            };
            let ok = allowed.iter().any(|a| {
                *a == "*" || *a == host || a.strip_prefix("*.").is_some_and(|s| host.ends_with(&format!(".{s}")))
            });
            if !ok {
                return Err(format!(
                    "nightly {reference}: registry {host} not in STRATA_ALLOWED_REGISTRIES {allowed:?}"
                ));
            }
        }
        Ok(())
    })());

    // Monitoring: scrape what exists, alert on what is exported.
    let has_monitoring = docs.iter().any(|d| d["kind"] == "ServiceMonitor");
    if overlay != "dev" || has_monitoring {
        check(monitoring_problems(docs, coordinator, worker));
    }
    bad
}

fn monitoring_problems(docs: &[Value], coordinator: &Value, worker: &Value) -> Result<(), String> {
    let sm = docs.iter().find(|d| d["kind"] == "ServiceMonitor").ok_or("no ServiceMonitor")?;
    let service = find(docs, "Service", "strata-coordinator");
    let labels = service["metadata"]["labels"].as_object().cloned().unwrap_or_default();
    let selected = sm["spec"]["selector"]["matchLabels"].as_object().ok_or("ServiceMonitor without matchLabels")?;
    if selected.iter().any(|(k, v)| labels.get(k) != Some(v)) {
        return Err(format!("ServiceMonitor selects {selected:?}, the Service has {labels:?}"));
    }
    let service_ports: BTreeSet<&str> =
        service["spec"]["ports"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
    for e in sm["spec"]["endpoints"].as_array().ok_or("ServiceMonitor without endpoints")? {
        if !service_ports.contains(str_of(&e["port"], "port")) || e["path"] != "/metrics" {
            return Err(format!("ServiceMonitor endpoint {e} is not a Service port's /metrics"));
        }
    }
    let pm = docs.iter().find(|d| d["kind"] == "PodMonitor").ok_or("no PodMonitor for the workers")?;
    let pod_labels = worker["spec"]["template"]["metadata"]["labels"].as_object().cloned().unwrap_or_default();
    let selected = pm["spec"]["selector"]["matchLabels"].as_object().ok_or("PodMonitor without matchLabels")?;
    if selected.iter().any(|(k, v)| pod_labels.get(k) != Some(v)) {
        return Err(format!("PodMonitor selects {selected:?}, worker pods have {pod_labels:?}"));
    }
    let worker_ports: BTreeSet<&str> = worker["spec"]["template"]["spec"]["containers"][0]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for e in pm["spec"]["podMetricsEndpoints"].as_array().ok_or("PodMonitor without endpoints")? {
        if !worker_ports.contains(str_of(&e["port"], "port")) {
            return Err(format!("PodMonitor endpoint {e} is not a worker port"));
        }
    }
    let _ = coordinator;
    let rule = docs.iter().find(|d| d["kind"] == "PrometheusRule").ok_or("no PrometheusRule")?;
    let rules: Vec<&Value> = rule["spec"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    let names: BTreeSet<&str> = rules.iter().filter_map(|r| r["alert"].as_str()).collect();
    if let Some(missing) = ALERTS.iter().find(|a| !names.contains(*a)) {
        return Err(format!("alert {missing} missing: {names:?}"));
    }
    let exported = exported_metrics();
    for r in &rules {
        let expr = str_of(&r["expr"], "expr");
        for piece in expr.split("strata_").skip(1) {
            let metric = format!(
                "strata_{}",
                piece.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>()
            );
            if !exported.contains(&metric) {
                return Err(format!("alert {}: {metric} is exported by no binary", r["alert"]));
            }
        }
        if r["labels"]["severity"].as_str().is_none() || r["annotations"]["summary"].as_str().is_none() {
            return Err(format!("alert {} lacks a severity or summary", r["alert"]));
        }
    }
    Ok(())
}

#[test]
fn overlays_are_operable() {
    for overlay in OVERLAYS {
        let problems = operability_problems(overlay, &render(overlay));
        assert!(problems.is_empty(), "{problems:#?}");
    }
    let docs = render("prod");
    fn deployment<'a>(docs: &'a mut [Value], name: &str) -> &'a mut Value {
        docs.iter_mut().find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == name).unwrap()
    }
    fn worker(docs: &mut [Value]) -> &mut Value {
        deployment(docs, "strata-worker")
    }
    fn coordinator(docs: &mut [Value]) -> &mut Value {
        deployment(docs, "strata-coordinator")
    }
    let mutations: [Mutation<Vec<Value>>; 8] = [
        ("a nightly image from a registry the fleet refuses", |docs| {
            let list =
                docs.iter_mut().find(|d| d["kind"] == "ConfigMap" && d["data"]["images.txt"].is_string()).unwrap();
            list["data"]["images.txt"] = json!("ghcr.io/acme/app:1\n");
        }),
        ("a deadline past the grace period", |docs| {
            worker(docs)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(95);
        }),
        ("the DB from an init container", |docs| {
            coordinator(docs)["spec"]["template"]["spec"]["initContainers"] = json!([{"name": "db-update"}]);
        }),
        ("a plaintext CronJob against a TLS coordinator", |docs| {
            let cron = docs.iter_mut().find(|d| d["kind"] == "CronJob").unwrap();
            cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] =
                json!("http://strata-coordinator:50051");
        }),
        ("a gRPC probe against TLS", |docs| {
            coordinator(docs)["spec"]["template"]["spec"]["containers"][0]["startupProbe"] =
                json!({"grpc": {"port": 50051}});
        }),
        ("the settings file from another Secret", |docs| {
            let volumes = worker(docs)["spec"]["template"]["spec"]["volumes"].as_array_mut().unwrap();
            volumes.iter_mut().find(|v| v["name"] == "config").unwrap()["secret"]["secretName"] = json!("other");
        }),
        ("a ServiceMonitor on a missing port", |docs| {
            let sm = docs.iter_mut().find(|d| d["kind"] == "ServiceMonitor").unwrap();
            sm["spec"]["endpoints"][0]["port"] = json!("metrics");
        }),
        ("an alert on a metric nobody exports", |docs| {
            let rule = docs.iter_mut().find(|d| d["kind"] == "PrometheusRule").unwrap();
            rule["spec"]["groups"][0]["rules"][0]["expr"] = json!("strata_queue_lenght > 1");
        }),
    ];
    for (what, mutate) in mutations {
        let mut bad = docs.clone();
        mutate(&mut bad);
        assert!(!operability_problems("prod", &bad).is_empty(), "the checks accepted: {what}");
    }
}

/// The images an overlay's `images:` declares (its own entries over those of the overlay it builds on).
fn declared_images(overlay: &Path) -> BTreeMap<String, String> {
    let k = yaml(&std::fs::read_to_string(overlay.join("kustomization.yaml")).unwrap());
    let mut out = BTreeMap::new();
    for r in k["resources"].as_array().into_iter().flatten().filter_map(|r| r.as_str()) {
        let parent = overlay.join(r);
        if r.starts_with("../") && parent.join("kustomization.yaml").exists() && !r.ends_with("base") {
            out.extend(declared_images(&parent));
        }
    }
    for i in k["images"].as_array().into_iter().flatten() {
        let name = str_of(&i["name"], "name").to_string();
        let new_name = i["newName"].as_str().unwrap_or(&name).to_string();
        let full = match (i["digest"].as_str(), i["newTag"].as_str()) {
            (Some(digest), _) => format!("{new_name}@{digest}"),
            (None, Some(tag)) => format!("{new_name}:{tag}"),
            (None, None) => new_name,
        };
        out.insert(name, full);
    }
    out
}

/// Every container image of a render, by the base's plain name it stands for (coordinator, worker, CLI).
fn rendered_images(docs: &[Value]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for d in docs.iter().filter(|d| ["Deployment", "CronJob"].contains(&d["kind"].as_str().unwrap_or_default())) {
        let pod = pod_of(d);
        for c in pod["containers"].as_array().into_iter().chain(pod["initContainers"].as_array()).flatten() {
            let image = str_of(&c["image"], "image").to_string();
            let plain = match (d["metadata"]["name"].as_str().unwrap(), d["kind"].as_str().unwrap()) {
                ("strata-coordinator", _) => "strata-coordinator",
                ("strata-worker", _) => "strata-worker",
                (_, "CronJob") => "strata",
                (other, _) => panic!("unexpected workload {other}"),
            };
            if let Some(before) = out.insert(plain.to_string(), image.clone()) {
                assert_eq!(before, image, "{plain}: two images");
            }
        }
    }
    out
}

#[test]
fn overlay_images_are_the_declared_ones() {
    let overlays = repo().join("deploy/k8s/overlays");
    for overlay in OVERLAYS {
        let declared = declared_images(&overlays.join(overlay));
        assert_eq!(declared.len(), 3, "{overlay} declares {declared:?}");
        assert_eq!(rendered_images(&render(overlay)), declared, "{overlay}: rendered images");
    }
    // What a release pipeline does: `kustomize edit set image strata-worker=…@sha256:…` in (a copy of) the
    // prod overlay, which turns its entry's newTag into a digest.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("deploy/k8s"), tmp.path());
    let prod = tmp.path().join("overlays/prod/kustomization.yaml");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let text = std::fs::read_to_string(&prod).unwrap();
    let entry = "newName: registry.example.com/strata/strata-worker\n    newTag: 0.1.0";
    assert!(text.contains(entry), "prod overlay's strata-worker entry changed: update this test");
    let pinned = entry.replace("newTag: 0.1.0", &format!("digest: {digest}"));
    std::fs::write(&prod, text.replace(entry, &pinned)).unwrap();
    let out = Command::new("kubectl").arg("kustomize").arg(prod.parent().unwrap()).output().expect("kubectl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let images = rendered_images(&yaml_docs(&String::from_utf8(out.stdout).unwrap()));
    assert_eq!(images["strata-worker"], format!("registry.example.com/strata/strata-worker@{digest}"));
    assert_eq!(images["strata-coordinator"], "registry.example.com/strata/strata-coordinator:0.1.0");
    // The check can fail: a base that renames the images again would make the dev overlay run 0.1.0.
    let mut renamed = declared_images(&overlays.join("dev"));
    renamed.insert("strata-worker".into(), "registry.example.com/strata/strata-worker:0.1.0".into());
    assert_ne!(rendered_images(&render("dev")), renamed);
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).unwrap();
        }
    }
}

/// `target` relative to `from` (kustomize refuses absolute resource and component paths).
fn relative(from: &Path, target: &Path) -> String {
    let up = "../".repeat(from.components().count() - 1);
    format!("{up}{}", target.strip_prefix("/").unwrap().display())
}

/// The cert-manager component issues the Secret the TLS component mounts, for the name the CronJob dials.
#[test]
fn cert_manager_component_issues_the_coordinator_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let k8s = repo().join("deploy/k8s");
    std::fs::write(
        tmp.path().join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: strata\nresources: [{}]\ncomponents: [{}]\n",
            relative(tmp.path(), &k8s.join("overlays/prod")),
            relative(tmp.path(), &k8s.join("components/cert-manager"))
        ),
    )
    .unwrap();
    let out = Command::new("kubectl").arg("kustomize").arg(tmp.path()).output().expect("kubectl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let docs = yaml_docs(&String::from_utf8(out.stdout).unwrap());
    let cert = find(&docs, "Certificate", "strata-coordinator");
    assert_eq!(cert["apiVersion"], "cert-manager.io/v1");
    assert_eq!(cert["spec"]["secretName"], "strata-coordinator-tls");
    let names: Vec<&str> = cert["spec"]["dnsNames"].as_array().unwrap().iter().map(|n| str_of(n, "dnsName")).collect();
    let ns = cert["metadata"]["namespace"].as_str().unwrap();
    for want in ["strata-coordinator".to_string(), format!("strata-coordinator.{ns}.svc")] {
        assert!(names.contains(&want.as_str()), "{names:?} lacks {want}");
    }
    assert!(cert["spec"]["issuerRef"]["name"].is_string());
    assert!(operability_problems("prod", &docs).is_empty());
}

/// KEDA and the CPU HPA that replaces it scale between the same bounds, in the base and in production.
#[test]
fn autoscaler_bounds_agree() {
    let bounds = |d: &Value, min: &str, max: &str| (d["spec"][min].as_u64().unwrap(), d["spec"][max].as_u64().unwrap());
    let keda =
        |docs: &[Value]| bounds(find(docs, "ScaledObject", "strata-worker"), "minReplicaCount", "maxReplicaCount");
    let hpa =
        |docs: &[Value]| bounds(find(docs, "HorizontalPodAutoscaler", "strata-worker"), "minReplicas", "maxReplicas");
    let k8s = repo().join("deploy/k8s");
    let base = yaml_docs(&std::fs::read_to_string(k8s.join("base/keda.yaml")).unwrap());
    let component = yaml_docs(&std::fs::read_to_string(k8s.join("components/hpa-cpu/hpa.yaml")).unwrap());
    assert_eq!(hpa(&component), keda(&base), "components/hpa-cpu vs base/keda.yaml");
    assert_eq!(hpa(&render("prod-hpa")), keda(&render("prod")), "prod-hpa vs prod");
    assert_ne!(hpa(&component), keda(&render("prod")), "the check can tell different bounds apart");
}
