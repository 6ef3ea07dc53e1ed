//! The corpus table test: every good Dockerfile passes the six practices, every bad one fires the rule
//! its directory is named after (`bad/DS005-cargo` must produce DS005).

use std::path::{Path, PathBuf};

use super::*;

const SIX: [&str; 6] = ["DS001", "DS002", "DS003", "DS004", "DS005", "DS006"];

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dockerfiles").join(kind);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "corpus {kind} is too small: {dirs:?}");
    dirs
}

fn run(dir: &Path) -> Vec<Misconfiguration> {
    let text = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    let dockerignore = std::fs::read_to_string(dir.join(".dockerignore")).ok();
    check(&text, &BuildContext { dockerignore }).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

#[test]
fn good_dockerfiles_follow_the_six_practices() {
    for dir in corpus("good") {
        let broken: Vec<String> = run(&dir)
            .into_iter()
            .filter(|m| SIX.contains(&m.id.as_str()))
            .map(|m| format!("{} line {:?}: {}", m.id, m.line, m.message))
            .collect();
        assert!(broken.is_empty(), "{}:\n{}", dir.display(), broken.join("\n"));
    }
}

#[test]
fn bad_dockerfiles_fire_their_rule() {
    let mut covered = std::collections::BTreeSet::new();
    for dir in corpus("bad") {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let id = &name[..5];
        let found = run(&dir);
        assert!(
            found.iter().any(|m| m.id == id),
            "{name} should fire {id}, got {:?}",
            found.iter().map(|m| &m.id).collect::<Vec<_>>()
        );
        covered.insert(id.to_string());
    }
    for rule in rules::ALL {
        assert!(covered.contains(rule.id), "no bad Dockerfile for {}", rule.id);
    }
}

fn ids(text: &str, dockerignore: Option<&str>) -> Vec<(String, Option<u32>)> {
    check(text, &BuildContext { dockerignore: dockerignore.map(str::to_string) })
        .unwrap()
        .into_iter()
        .map(|m| (m.id, m.line))
        .collect()
}

#[test]
fn findings_point_at_the_line() {
    let text = "FROM node:20\nRUN apt-get update && apt-get install -y gcc\nCOPY . .\nRUN npm ci\nCMD [\"node\"]\n";
    assert_eq!(
        ids(text, None),
        [
            (s("DS004"), None),
            (s("DS003"), Some(1)),
            (s("DS006"), Some(1)),
            (s("DS015"), Some(1)),
            (s("DS005"), Some(2)),
            (s("DS007"), Some(2)),
            (s("DS008"), Some(2)),
            (s("DS009"), Some(2)),
            (s("DS012"), Some(3)),
            (s("DS005"), Some(4)),
        ]
    );
}

fn s(id: &str) -> String {
    id.to_string()
}

#[test]
fn a_later_stage_built_from_an_earlier_one_inherits_its_user_and_tools() {
    let text = "FROM python:3.12-slim AS base\nRUN groupadd -r app && useradd -r -g app app\nUSER app:app\n\
                HEALTHCHECK NONE\nFROM base AS final\nCOPY app.py .\n";
    assert!(ids(text, Some(".git\n.env\n*.pem\nid_rsa\n")).is_empty());
    let text = "FROM golang:1.22 AS build\nRUN go build -o /app .\nFROM build\nUSER 1:1\nHEALTHCHECK NONE\n";
    let found = ids(text, Some(".git\n.env\n*.pem\nid_rsa\n"));
    assert!(found.contains(&(s("DS005"), Some(2))), "{found:?}");
}

#[test]
fn secrets_are_masked() {
    let found = check(
        "FROM alpine:3.19\nENV DB_PASSWORD=hunter2hunter2 API_URL=https://x\nARG GITHUB_TOKEN\n",
        &BuildContext::default(),
    )
    .unwrap();
    let secrets: Vec<&Misconfiguration> = found.iter().filter(|m| m.id == "DS013").collect();
    assert_eq!(secrets.len(), 1, "an ARG without a value is not a secret in the image: {secrets:?}");
    let shown = serde_json::to_string(&secrets).unwrap();
    assert!(shown.contains("DB_PASSWORD=********") && !shown.contains("hunter2"), "{shown}");
}

#[test]
fn not_a_dockerfile() {
    assert!(check("just some text\n", &BuildContext::default()).is_err());
    assert!(check("# only a comment\n", &BuildContext::default()).is_err());
}
