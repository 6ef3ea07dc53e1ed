//! Acceptance: what a new user meets in the first hour (issue 19) — OS advisories that take the CVE's
//! severity from an alias so a `--severity CRITICAL,HIGH` gate works, the count of what a filter hid, the
//! data's age in every report, the package list in the table, filled `--help` texts, and errors that say
//! what is wrong (no DB, upper-case reference, missing repository).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;
use strata_testkit::fixtures;
use strata_testkit::image::{Compression, ImageBuilder, LayerContent};
use strata_testkit::registry::TestRegistry;
use strata_testkit::tarball::TarBuilder;

/// Bullseye's minbase with openssl and zlib at their first bullseye versions: the first DSAs of each
/// (DSA-4963-1, DSA-5111-1) and every later one apply.
const OLD: [(&str, &str); 2] = [("openssl", "1.1.1k-1"), ("zlib", "1:1.2.11.dfsg-2")];

fn aliases_osv() -> PathBuf {
    fixtures::repo_root().join("testkit/fixtures/osv/severity-aliases.jsonl.gz")
}

/// The aged image as an OCI layout (`DIR:old`) and its dpkg status.
fn old_image(dir: &Path) -> (String, String) {
    let rootfs = Rootfs::bullseye();
    let status = OLD.iter().fold(rootfs.status.clone(), |s, (src, v)| with_source_version(&s, src, v));
    let layout = dir.join("layout");
    ImageBuilder::new()
        .layer(LayerContent::TarFile(rootfs.tar.clone()), Compression::Gzip, "ADD bullseye-minbase /")
        .layer(
            LayerContent::Bytes(TarBuilder::new().file("var/lib/dpkg/status", status.as_bytes()).build()),
            Compression::Gzip,
            "apt-get install --allow-downgrades libssl1.1 zlib1g",
        )
        .write_layout(&layout, "old");
    (format!("{}:old", layout.display()), status)
}

fn scan(input: &str, db: &Path, args: &[&str]) -> Outcome {
    let mut cmd = strata();
    cmd.args(["image", "--input", input, "--quiet", "--db"]).arg(db).args(args);
    run(&mut cmd)
}

fn by_id<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["results"][0]["findings"].as_array().unwrap().iter().filter(|f| f["id"] == id).collect()
}

#[test]
fn os_advisories_take_severity_from_aliases_and_filters_say_what_they_hid() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, status) = old_image(tmp.path());
    let expected = dpkg_oracle(&status, &[minbase_osv()], "Debian:11");
    assert!(expected.len() >= 7, "{expected:?}");

    // Debian data alone: every advisory is UNKNOWN, the gate passes, and the report says what it hid.
    let debian_only = build_db(tmp.path(), &[minbase_osv()]);
    let gate = ["--severity", "CRITICAL,HIGH", "--exit-code", "1"];
    let out = scan(&input, &debian_only, &[&gate[..], &["--format", "json"]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    assert_eq!(report["summary"]["total"], 0);
    assert_eq!(report["summary"]["hidden"], expected.len(), "{}", report["summary"]);
    assert_eq!(report["summary"]["hidden_by"]["by_severity"]["UNKNOWN"], expected.len());
    let table = scan(&input, &debian_only, &gate);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let line = format!("Hidden by filters: {n} (--severity: {n} UNKNOWN)", n = expected.len());
    assert!(table.stdout.contains(&line), "{}", table.stdout);

    // With the committed records of other ecosystems for the same CVEs, the DSAs take their severity.
    let dir = tmp.path().join("with-aliases");
    std::fs::create_dir(&dir).unwrap();
    let db = build_db(&dir, &[minbase_osv(), aliases_osv()]);
    let info = run(strata().args(["db", "info"]).arg(&db));
    assert!(info.stdout.contains("severity from aliases: 3 advisories"), "{}", info.stdout);
    let out = scan(&input, &db, &["--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let all = out.json();
    assert_eq!(findings(&all), expected, "severity changes no match");
    for (id, severity, score, source) in [
        ("DSA-4963-1", "CRITICAL", 9.8, "RUSTSEC-2021-0097"),
        ("DSA-5111-1", "HIGH", 7.5, "x_RUBYSEC-nokogiri-CVE-2018-25032"),
        ("DSA-5343-1", "HIGH", 7.4, "PYSEC-2026-800"),
    ] {
        let found = by_id(&all, id);
        assert!(!found.is_empty(), "{id} not found");
        for f in found {
            assert_eq!((f["severity"].as_str(), f["score"].as_f64()), (Some(severity), Some(score)), "{f}");
            assert_eq!(f["severity_source"], source, "{f}");
        }
    }
    // A DSA whose CVEs no other record names stays UNKNOWN, with no source.
    assert!(by_id(&all, "DSA-5218-1").iter().all(|f| f["severity"] == "UNKNOWN" && f["severity_source"].is_null()));

    // The usual CI gate now fails the image, and counts the UNKNOWN ones it left out.
    let gated = scan(&input, &db, &[&gate[..], &["--format", "json"]].concat());
    assert_eq!(gated.code, 1, "{}", gated.stderr);
    let report = gated.json();
    let kept = report["summary"]["total"].as_u64().unwrap();
    let unknown = all["summary"]["by_severity"]["UNKNOWN"].as_u64().unwrap();
    assert!(kept >= 3 && unknown > 0, "{}", report["summary"]);
    assert_eq!(kept + unknown, expected.len() as u64);
    assert_eq!(report["summary"]["hidden"], unknown);
    assert_eq!(report["results"][0]["hidden"]["by_severity"]["UNKNOWN"], unknown);
    // Every DSA here has a fix: --ignore-unfixed hides nothing, and says nothing.
    let unfixed = scan(&input, &db, &["--ignore-unfixed", "--format", "json"]).json();
    assert_eq!((unfixed["summary"]["hidden"].as_u64(), unfixed["summary"].get("hidden_by")), (Some(0), None));
}

/// One Debian:11 record for zlib dated `modified`, for a DB whose data is as old as that.
fn dated_record(path: &Path, modified: &str) {
    let record = format!(
        r#"{{"id":"DSA-9999-1","modified":"{modified}","upstream":["CVE-2099-0001"],"summary":"zlib - test","affected":[{{"package":{{"ecosystem":"Debian:11","name":"zlib"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"1:1.2.11.dfsg-9"}}]}}]}}]}}"#
    );
    let mut gz = gzip_writer(std::fs::File::create(path).unwrap());
    gz.write_all(record.as_bytes()).unwrap();
}

#[test]
fn the_data_age_is_in_db_info_and_every_report_and_stale_data_is_warned() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, _) = old_image(tmp.path());
    let db = build_db(tmp.path(), &[minbase_osv(), aliases_osv()]);

    let info = run(strata().args(["db", "info"]).arg(&db));
    assert_eq!(info.code, 0, "{}", info.stderr);
    // The newest record overall is PYSEC-2026-800 (modified 2026-07-07); Debian:11 ends with DSA-5349-1 (2023-02-14).
    assert!(info.stdout.contains("newest advisory: 2026-07-07T11:30:31Z"), "{}", info.stdout);
    assert!(info.stdout.lines().any(|l| l.contains("Debian:11") && l.ends_with("2023-02-14")), "{}", info.stdout);

    let json = scan(&input, &db, &["--format", "json"]).json();
    assert_eq!(json["db"]["newest_advisory"], "2026-07-07T11:30:31Z");
    // The image matched Debian:11 data, which is years old: the warning names it, not the DB's newest.
    let stale = json["db"]["stale"].as_str().expect("stale warning");
    assert!(stale.starts_with("the Debian:11 advisories: newest advisory is from 2023-02-14"), "{stale}");
    assert!(stale.contains("strata db update"), "{stale}");

    let table = scan(&input, &db, &[]);
    let head: Vec<&str> = table.stdout.lines().take(3).collect();
    assert!(head[1] == "advisory data as of 2026-07-07" && head[2] == format!("warning: {stale}"), "{head:?}");
    let sarif: Value = serde_json::from_str(&scan(&input, &db, &["--format", "sarif"]).stdout).unwrap();
    let run0 = &sarif["runs"][0];
    assert_eq!(run0["properties"]["dbNewestAdvisory"], "2026-07-07T11:30:31Z");
    let notes = run0["invocations"][0]["toolExecutionNotifications"].as_array().unwrap();
    assert!(notes.iter().any(|n| n["level"] == "warning" && n["message"]["text"] == stale), "{notes:?}");
    let bom: Value = serde_json::from_str(&scan(&input, &db, &["--format", "cyclonedx"]).stdout).unwrap();
    let props = bom["metadata"]["properties"].as_array().unwrap();
    assert!(props.iter().any(|p| p["name"] == "strata:db:newest_advisory" && p["value"] == "2026-07-07T11:30:31Z"));
    // Without --quiet the warning reaches stderr too.
    let mut loud = strata();
    loud.args(["image", "--input", &input, "--format", "json", "--db"]).arg(&db);
    assert!(run(&mut loud).stderr.contains(stale), "stderr");

    // Data with an advisory from today is current: no warning anywhere.
    let today = chrono_free_today();
    let fresh_osv = tmp.path().join("fresh.jsonl.gz");
    dated_record(&fresh_osv, &format!("{today}T00:00:00Z"));
    let fresh_dir = tmp.path().join("fresh");
    std::fs::create_dir(&fresh_dir).unwrap();
    let fresh = build_db(&fresh_dir, &[fresh_osv]);
    let json = scan(&input, &fresh, &["--format", "json"]).json();
    assert_eq!(json["db"]["newest_advisory"], format!("{today}T00:00:00Z"));
    assert!(json["db"].get("stale").is_none(), "{}", json["db"]);
    assert!(!scan(&input, &fresh, &[]).stdout.contains("warning:"));
}

/// Today's date (UTC) as `YYYY-MM-DD`, from `date`, so the test does not share the code it checks.
fn chrono_free_today() -> String {
    let out = Command::new("date").args(["-u", "+%Y-%m-%d"]).output().expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn list_all_pkgs_lists_packages_in_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, status) = old_image(tmp.path());
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let out = scan(&input, &db, &["--list-all-pkgs"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let header = out.stdout.lines().find(|l| l.contains("Package") && l.contains("Version") && l.contains("Path"));
    assert!(header.is_some(), "{}", out.stdout);
    let installed = stanzas(&status).filter(|s| field(s, "Status").is_some_and(|v| v.ends_with(" installed")));
    for stanza in installed {
        let (name, version) = (field(stanza, "Package").unwrap(), field(stanza, "Version").unwrap());
        assert!(
            out.stdout.lines().any(|l| l.contains(&format!(" {name} ")) && l.contains(&version)),
            "{name} {version} not listed"
        );
    }
    // Without the flag there is no package table.
    let plain = scan(&input, &db, &[]);
    assert!(!plain.stdout.lines().any(|l| l.contains("Path") && l.contains("Version")), "{}", plain.stdout);
}

/// An option or argument line of `-h` output with nothing after the name (env and default notes aside).
fn undocumented(help: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let mut section = "";
    let lines: Vec<&str> = help.lines().collect();
    for (i, line) in lines.iter().copied().enumerate() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = line;
            continue;
        }
        if !matches!(section, "Options:" | "Arguments:" | "Commands:") || !line.starts_with("  ") {
            continue;
        }
        let entry = line.trim_start();
        // Entries are indented 2 (or 6: a long option without a short one); wrapped text lies deeper.
        let indent = line.len() - entry.len();
        if indent <= 6 && (entry.starts_with(['-', '<', '[']) || section == "Commands:") {
            let text = entry.split_once("  ").map_or("", |(_, text)| text.trim());
            let text = text.split(" [").next().unwrap_or("").trim();
            let text = if text.starts_with('[') { "" } else { text };
            // When one help text is too long for the width, clap puts every text on the line below.
            let below = lines.get(i + 1).filter(|next| next.len() - next.trim_start().len() > 6);
            let below = below.map_or("", |next| next.trim().split(" [").next().unwrap_or("").trim());
            let below = if below.starts_with('[') { "" } else { below };
            if text.is_empty() && below.is_empty() {
                bad.push(line.to_string());
            }
        }
    }
    bad
}

/// Subcommand names listed under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

fn help_of(binary: &Path, path: &[String]) -> String {
    let out = Command::new(binary).args(path).arg("-h").env("COLUMNS", "200").output().expect("help");
    assert!(out.status.success(), "{} {path:?} -h: {}", binary.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_help_line_is_filled() {
    let bins = strata_testkit::fleet::Bins::beside(Path::new(env!("CARGO_BIN_EXE_strata")));
    let mut missing = Vec::new();
    let mut checked = 0;
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        let help = help_of(&bins.strata, &path);
        checked += 1;
        missing.extend(undocumented(&help).into_iter().map(|l| format!("strata {}: {l}", path.join(" "))));
        for sub in subcommands(&help) {
            todo.push([path.clone(), vec![sub]].concat());
        }
    }
    for binary in [&bins.coordinator, &bins.worker] {
        let help = help_of(binary, &[]);
        missing.extend(undocumented(&help).into_iter().map(|l| format!("{}: {l}", binary.display())));
    }
    // strata, its 11 commands and the db and defectdojo subcommands: a walk that found nothing is broken.
    assert!(checked >= 15, "only {checked} help texts found");
    assert!(missing.is_empty(), "options without help text:\n{}", missing.join("\n"));
    // The checker itself finds an empty line.
    assert_eq!(undocumented("Options:\n      --json\n  -q, --quiet  No progress\n").len(), 1);
    assert_eq!(undocumented("Options:\n      --url <URL>  [env: STRATA_URL=]\n").len(), 1);
    assert_eq!(undocumented("Options:\n      --url <URL>\n          The URL [env: U=]\n").len(), 0);
    assert_eq!(undocumented("Options:\n      --url <URL>\n          [env: U=]\n      --x\n").len(), 2);
}

#[test]
fn db_info_without_a_db_says_how_to_get_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(strata().args(["db", "info"]).env("STRATA_CACHE_DIR", tmp.path()));
    assert_eq!(out.code, 2);
    let path = tmp.path().join("db/strata.db").display().to_string();
    assert_eq!(out.stderr.matches(&path).count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("strata db update") && out.stderr.contains("strata db build"), "{}", out.stderr);
}

#[test]
fn reference_errors_say_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db(tmp.path(), &[minbase_osv()]);
    let registry = TestRegistry::start();
    let layout = tmp.path().join("layout");
    ImageBuilder::new()
        .layer(LayerContent::Bytes(TarBuilder::new().file("srv/a", b"a").build()), Compression::Gzip, "COPY a /srv/")
        .write_layout(&layout, "1.0");
    registry.push(&layout, "1.0", "team/app:1.0", &[]);
    let image = |reference: &str| {
        let mut cmd = strata();
        cmd.args(["image", reference, "--quiet", "--db"]).arg(&db);
        run(&mut cmd)
    };
    assert_eq!(image(&format!("{}/team/app:1.0", registry.host())).code, 0, "the pushed image scans");

    let upper = image(&format!("{}/Team/App:1.0", registry.host()));
    assert_eq!(upper.code, 2);
    assert!(upper.stderr.contains("repository names must be lower case"), "{}", upper.stderr);
    assert!(upper.stderr.contains(&format!("try {}/team/app:1.0", registry.host())), "{}", upper.stderr);

    let no_repo = image(&format!("{}/team/nothing:1.0", registry.host()));
    assert_eq!(no_repo.code, 2);
    assert!(no_repo.stderr.contains("repository team/nothing does not exist"), "{}", no_repo.stderr);
    let no_tag = image(&format!("{}/team/app:9.9", registry.host()));
    assert_eq!(no_tag.code, 2);
    assert!(no_tag.stderr.contains("tag 9.9 does not exist"), "{}", no_tag.stderr);
    assert!(!no_tag.stderr.contains("repository team/app does not exist"), "{}", no_tag.stderr);
}
