//! SARIF 2.1.0 for code-scanning UIs (GitHub, GitLab, Azure DevOps): one rule per advisory, secret rule and
//! misconfiguration id, one result per finding located at the file that holds it (the package DB or
//! lockfile, the secret's file and line, the Dockerfile line). GitHub ranks results by the rule's
//! `security-severity`: the highest CVSS score among the rule's findings, else a score for the severity.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Finding, Reachability, Report};
use crate::misconfig::Misconfiguration;
use crate::secret::SecretFinding;
use crate::severity::Severity;

const SCHEMA: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

struct Rule {
    name: String,
    short: String,
    help: String,
    help_uri: Option<String>,
    severity: Severity,
    score: Option<f64>,
    tags: Vec<&'static str>,
}

pub fn to_sarif(report: &Report) -> String {
    serde_json::to_string_pretty(&to_value(report)).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

pub fn to_value(report: &Report) -> Value {
    let mut rules: BTreeMap<String, Rule> = BTreeMap::new();
    let mut results = Vec::new();
    for r in &report.results {
        for f in &r.findings {
            let rule = rules.entry(f.id.clone()).or_insert_with(|| vulnerability_rule(f));
            rule.severity = rule.severity.max(f.severity);
            rule.score = match (rule.score, f.score) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            results.push((
                f.id.clone(),
                f.severity,
                vulnerability_message(f),
                f.path.clone(),
                1,
                fingerprint(&[&f.id, &f.package, &f.installed_version, &f.path]),
                f.reachability,
            ));
        }
        for s in &r.secrets {
            rules.entry(s.rule_id.clone()).or_insert_with(|| secret_rule(s)).severity = s.severity;
            let message = format!("{} in {} (layer #{}): {}", s.title, s.path, s.layer.index, s.masked);
            results.push((
                s.rule_id.clone(),
                s.severity,
                message,
                s.path.clone(),
                s.line.max(1),
                fingerprint(&[&s.rule_id, &s.path, &s.line.to_string(), &s.layer.diff_id]),
                None,
            ));
        }
        for m in &r.misconfigurations {
            rules.entry(m.id.clone()).or_insert_with(|| misconfig_rule(m));
            let line = m.line.unwrap_or(1).max(1);
            results.push((
                m.id.clone(),
                m.severity,
                m.message.clone(),
                m.source.clone(),
                line,
                fingerprint(&[&m.id, &m.source, &line.to_string(), &m.message]),
                None,
            ));
        }
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    let results: Vec<Value> = results
        .iter()
        .map(|(rule, severity, message, path, line, fp, reachability)| {
            let mut result = json!({
                "ruleId": rule,
                "ruleIndex": index[rule.as_str()],
                "level": level(*severity),
                "message": {"text": message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(path), "uriBaseId": "ROOTPATH"},
                        "region": {"startLine": line, "endLine": line, "startColumn": 1, "endColumn": 1},
                    },
                    "message": {"text": format!("{}: {path}", report.artifact.name)},
                }],
                "partialFingerprints": {"strataFinding/v1": fp},
            });
            if let Some(reachability) = reachability {
                mark_reachability(&mut result, *reachability);
            }
            result
        })
        .collect();
    let rules: Vec<Value> = rules.into_iter().map(|(id, r)| rule_json(&id, r)).collect();
    // An incomplete analysis is a failed execution with a notification per gap, so a code-scanning UI
    // never shows a partial result as a clean one.
    let mut notifications: Vec<Value> = report
        .incomplete_lines()
        .into_iter()
        .map(|line| json!({"level": "error", "message": {"text": format!("not analysed: {line}")}}))
        .collect();
    if let Some(stale) = &report.db.stale {
        notifications.push(json!({"level": "warning", "message": {"text": stale}}));
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "Strata",
                "fullName": "Strata container image scanner",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "originalUriBaseIds": {"ROOTPATH": {"uri": "file:///"}},
            "invocations": [{
                "executionSuccessful": report.is_complete(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
            "properties": {
                "imageName": report.artifact.name,
                "imageID": report.artifact.image_id,
                "repoDigest": report.artifact.repo_digest,
                "dbDigest": report.db.content_digest,
                "dbNewestAdvisory": report.db.newest_advisory,
            },
        }],
    })
}

fn rule_json(id: &str, r: Rule) -> Value {
    let score = r.score.unwrap_or(match r.severity {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::Unknown => 0.0,
    });
    let mut tags = r.tags;
    tags.push(r.severity.as_str());
    let mut rule = json!({
        "id": id,
        "name": r.name,
        "shortDescription": {"text": r.short},
        "fullDescription": {"text": r.short},
        "defaultConfiguration": {"level": level(r.severity)},
        "help": {"text": r.help, "markdown": r.help},
        "properties": {"precision": "very-high", "security-severity": format!("{score:.1}"), "tags": tags},
    });
    if let Some(uri) = r.help_uri {
        rule["helpUri"] = json!(uri);
    }
    rule
}

fn vulnerability_rule(f: &Finding) -> Rule {
    let short = f.title.clone().unwrap_or_else(|| format!("{} in {}", f.id, f.package));
    let aliases = if f.aliases.is_empty() { String::new() } else { format!("\nAliases: {}", f.aliases.join(", ")) };
    Rule {
        name: "PackageVulnerability".into(),
        help: format!(
            "{}: {short}{aliases}{}",
            f.id,
            f.primary_url.as_deref().map(|u| format!("\n{u}")).unwrap_or_default()
        ),
        short,
        help_uri: f.primary_url.clone(),
        severity: f.severity,
        score: f.score,
        tags: vec!["vulnerability", "security"],
    }
}

fn vulnerability_message(f: &Finding) -> String {
    let fixed = f.fixed_version.as_deref().unwrap_or("none yet");
    let step = f.layer.created_by.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
    format!(
        "Package: {}\nInstalled Version: {}\nVulnerability: {}\nSeverity: {}\nFixed Version: {fixed}\nLayer: #{}{step}",
        f.package, f.installed_version, f.id, f.severity, f.layer.index
    )
}

fn secret_rule(s: &SecretFinding) -> Rule {
    Rule {
        name: "Secret".into(),
        short: s.title.clone(),
        help: format!(
            "{} ({}): remove it from the image and rotate it; deleting it in a later layer is not enough.",
            s.title, s.category
        ),
        help_uri: None,
        severity: s.severity,
        score: None,
        tags: vec!["secret", "security"],
    }
}

fn misconfig_rule(m: &Misconfiguration) -> Rule {
    Rule {
        name: "Misconfiguration".into(),
        short: m.title.clone(),
        help: format!("{}\n{}", m.title, m.resolution),
        help_uri: m.references.first().cloned(),
        severity: m.severity,
        score: None,
        tags: vec!["misconfiguration", "security"],
    }
}

/// Every assessed result carries its reachability; an unreachable one drops to a `note` ranked at the
/// bottom and tagged, so code-scanning UIs list it after everything that can run, without hiding it.
fn mark_reachability(result: &mut Value, reachability: Reachability) {
    let mut properties = json!({"reachability": reachability.as_str()});
    if reachability == Reachability::Unreachable {
        result["level"] = json!("note");
        result["rank"] = json!(1.0);
        properties["tags"] = json!(["unreachable"]);
    }
    result["properties"] = properties;
}

/// SARIF levels: GitHub shows `error` for CRITICAL and HIGH.
fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// A path in the image as a URI relative to its root, each segment percent-encoded where RFC 3986 needs it.
fn uri(path: &str) -> String {
    let path = path.trim_start_matches('/');
    let path = if path.is_empty() { "image-config" } else { path };
    path.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' | b'+' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}
