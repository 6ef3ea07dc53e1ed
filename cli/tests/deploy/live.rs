//! The prod overlay's pods run for real, the binaries given what the render gives them: the settings file
//! at the path its Secret volume puts it; coordinator TLS with the files its env and Secret volumes name,
//! the nightly CronJob's `strata` with its rendered args, env and CA projection, and the coordinator's
//! rendered probes against its ops listener. Only addresses change (127.0.0.1 and free ports instead of
//! the Services); every path comes from the render.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_testkit::fleet::{Bins, Fleet};
use strata_testkit::registry::{free_port, http_get};

use super::operable::secret_file;
use super::{find, render, str_of};

/// A CA and a server certificate for the names the CronJob dials (`strata-coordinator`) and 127.0.0.1.
fn make_pki(dir: &Path) {
    let script = "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=strata-ca 2>/dev/null && \
         openssl req -newkey rsa:2048 -nodes -keyout tls.key -out tls.csr -subj /CN=strata-coordinator 2>/dev/null && \
         printf 'subjectAltName=DNS:strata-coordinator,IP:127.0.0.1\\n' > san.ext && \
         openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out tls.crt -days 2 -extfile san.ext 2>/dev/null";
    let out = Command::new("sh").arg("-ec").arg(script).current_dir(dir).output().expect("openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn env_value(c: &Value, name: &str) -> String {
    let e = c["env"].as_array().unwrap().iter().find(|e| e["name"] == name);
    str_of(&e.unwrap_or_else(|| panic!("{name} not rendered"))["value"], name).to_string()
}

#[test]
fn coordinator_tls_as_rendered_serves_the_cronjob_and_the_probes() {
    let docs = render("prod");
    let coordinator = find(&docs, "Deployment", "strata-coordinator");
    let cron = find(&docs, "CronJob", "strata-nightly-scan");
    let (cpod, jpod) =
        (&coordinator["spec"]["template"]["spec"], &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]);
    let (cc, submit) = (&cpod["containers"][0], &jpod["containers"][0]);

    // The operator's Secret, as files by key; a rendered path resolves through its volume to one of them.
    let tmp = tempfile::tempdir().unwrap();
    make_pki(tmp.path());
    let secrets: BTreeMap<(String, String), PathBuf> = ["tls.crt", "tls.key", "ca.crt"]
        .iter()
        .map(|k| (("strata-coordinator-tls".to_string(), k.to_string()), tmp.path().join(k)))
        .collect();
    let project = |pod: &Value, c: &Value, var: &str| -> String {
        let path = env_value(c, var);
        let source = secret_file(pod, c, &path).unwrap_or_else(|| panic!("{var}={path} is not a Secret key"));
        let file = secrets.get(&source).unwrap_or_else(|| panic!("{var}: {source:?} is no key of the TLS Secret"));
        file.to_string_lossy().into_owned()
    };
    let cert = project(cpod, cc, "STRATA_TLS_CERT");
    let key = project(cpod, cc, "STRATA_TLS_KEY");
    let ca = project(jpod, submit, "STRATA_TLS_CA");

    let bins = Bins::beside(Path::new(env!("CARGO_BIN_EXE_strata")));
    let fleet = Fleet::start(
        bins.clone(),
        Path::new(""),
        0,
        &[("STRATA_TLS_CERT", cert.as_str()), ("STRATA_TLS_KEY", key.as_str()), ("STRATA_ALLOWED_REGISTRIES", "*")],
    );

    // The coordinator's probes, as rendered: HTTP on the ops listener (the named port http-metrics).
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let get = &cc[probe]["httpGet"];
        assert_eq!(get["port"], "http-metrics", "{probe}: {}", cc[probe]);
        let (status, body) = fleet.ops_get("coordinator", str_of(&get["path"], "path"));
        assert_eq!(status, 200, "{probe} {}: {body}\n{}", get["path"], fleet.logs());
    }

    // The CronJob's submit with its rendered args and env; the list at its rendered mount.
    let url = env_value(submit, "STRATA_COORDINATOR");
    let rest = url.strip_prefix("https://strata-coordinator:").unwrap_or_else(|| panic!("CronJob dials {url}"));
    assert_eq!(rest, "50051");
    let url = format!("https://127.0.0.1:{}", fleet.port);
    let list = tmp.path().join("images.txt");
    std::fs::write(&list, "127.0.0.1:9/strata/none:1\n").unwrap();
    let args: Vec<String> = submit["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| str_of(a, "arg").replace("/config/images.txt", &list.to_string_lossy()))
        .collect();
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(&bins.strata);
        cmd.args(&args).env("NO_COLOR", "1").env_remove("STRATA_TLS_CA");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("strata submit");
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (ok, out) = run(&[("STRATA_COORDINATOR", &url), ("STRATA_TLS_CA", &ca)]);
    assert!(ok, "the rendered CronJob cannot submit over TLS: {out}\n{}", fleet.logs());
    // Known-bad: without the CA the certificate is not trusted; plaintext finds no gRPC server.
    let (ok, out) = run(&[("STRATA_COORDINATOR", &url)]);
    assert!(!ok, "submitted without trusting the CA: {out}");
    let (ok, out) = run(&[("STRATA_COORDINATOR", &url.replace("https://", "http://")), ("STRATA_TLS_CA", &ca)]);
    assert!(!ok, "submitted in plaintext to a TLS listener: {out}");
}

/// The coordinator started with nothing but the rendered `STRATA_CONFIG` (a settings file with `settings`
/// at the path the `strata-fleet` Secret volume projects) and loopback listeners; the first answer of its
/// `/readyz` (RabbitMQ and Redis reachable), or None when it exited first; and its log.
fn readiness_with_settings(bins: &Bins, settings: &str) -> (Option<u16>, String) {
    let docs = render("prod");
    let pod = &find(&docs, "Deployment", "strata-coordinator")["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let path = env_value(c, "STRATA_CONFIG");
    assert_eq!(secret_file(pod, c, &path), Some(("strata-fleet".to_string(), "config.toml".to_string())));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("config.toml");
    std::fs::write(&file, settings).unwrap();
    let ops = free_port();
    let log = tmp.path().join("stderr");
    let mut child = Command::new(&bins.coordinator)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("STRATA_CONFIG", &file)
        .env("STRATA_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("STRATA_OPS_LISTEN", format!("127.0.0.1:{ops}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("strata-coordinator");
    // Waits for the ops listener to answer at all (start-up), not for an outcome within a time.
    let started = Instant::now();
    let answer = loop {
        if child.try_wait().unwrap().is_some() {
            break None;
        }
        if let Ok((status, _)) = http_get(ops, "/readyz") {
            break Some(status);
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the coordinator neither answered nor exited");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    (answer, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn the_settings_file_alone_connects_the_coordinator() {
    let bins = Bins::beside(Path::new(env!("CARGO_BIN_EXE_strata")));
    let id = format!("deploy-settings-{}-{}", std::process::id(), free_port());
    let settings = |amqp: &str| {
        format!(
            "amqp_url = \"{amqp}\"\nredis_url = \"redis://127.0.0.1:6379\"\nqueue = \"{id}\"\nkey_prefix = \"{id}\"\n"
        )
    };
    let (ready, log) = readiness_with_settings(&bins, &settings("amqp://guest:guest@127.0.0.1:5672/%2f"));
    assert_eq!(ready, Some(200), "the settings file's brokers are not reached: {log}");
    // Known-bad: the file is what the coordinator uses: a wrong password in it is refused by RabbitMQ, the
    // coordinator stops, and the password appears nowhere in what it wrote.
    let (ready, log) =
        readiness_with_settings(&bins, &settings("amqp://guest:s3cret-from-the-file@127.0.0.1:5672/%2f"));
    assert_eq!(ready, None, "started with a refused AMQP login: {log}");
    assert!(log.contains("ACCESS_REFUSED") && !log.contains("s3cret-from-the-file"), "{log}");
}
