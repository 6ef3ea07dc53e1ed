//! CycloneDX 1.5 JSON: the image as `metadata.component`, every package as a component with its purl, the
//! dependency graph where Strata knows it (npm paths), and the vulnerabilities with ratings and the
//! components they affect. Findings that a VEX statement or an ignore entry suppressed are listed too, with
//! their `analysis`, so the BOM says why they do not count.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::artifact::{Component, components, dependency_edges, stable_id};
use super::policy::{Suppressed, SuppressedItem, Suppression};
use super::{Finding, Reachability, Report, image_purl, repository};
use crate::severity::Severity;

pub fn to_cyclonedx(report: &Report) -> String {
    serde_json::to_string_pretty(&to_value(report)).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

pub fn to_value(report: &Report) -> Value {
    let a = &report.artifact;
    let image_ref = image_purl(a);
    let comps = components(report);
    let edges = dependency_edges(&comps);
    let mut depends: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    let mut has_parent = vec![false; comps.len()];
    for &(from, to) in &edges {
        depends.entry(from).or_default().push(&comps[to].id);
        has_parent[to] = true;
    }
    let mut dependencies = vec![
        json!({"ref": image_ref, "dependsOn": comps.iter().zip(&has_parent).filter(|(_, p)| !**p).map(|(c, _)| &c.id).collect::<Vec<_>>()}),
    ];
    dependencies.extend(
        comps
            .iter()
            .enumerate()
            .map(|(i, c)| json!({"ref": c.id, "dependsOn": depends.remove(&i).unwrap_or_default()})),
    );

    let serial = stable_id(&[&a.image_id, &report.db.content_digest]);
    let mut uuid: Vec<char> = serial[..32].chars().collect();
    uuid[12] = '5';
    uuid[16] = ['8', '9', 'a', 'b'][usize::from(uuid[16].to_digit(16).unwrap_or(0) as u8 & 3)];
    let uuid: String = uuid.into_iter().collect();
    let mut component = json!({
        "bom-ref": image_ref,
        "type": "container",
        "name": repository(&a.name),
        "version": a.repo_digest.as_deref().unwrap_or(&a.image_id),
        "purl": image_ref,
        "properties": [
            {"name": "strata:image_id", "value": a.image_id},
            {"name": "strata:platform", "value": a.platform},
        ],
    });
    if let (Some(os), Some(properties)) = (&a.os, component["properties"].as_array_mut()) {
        properties.push(json!({"name": "strata:os", "value": os.to_string()}));
    }
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}-{}-{}-{}-{}", &uuid[..8], &uuid[8..12], &uuid[12..16], &uuid[16..20], &uuid[20..32]),
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "strata", "version": env!("CARGO_PKG_VERSION")}]},
            "component": component,
            "properties": db_properties(report),
        },
        "components": comps.iter().map(component_json).collect::<Vec<_>>(),
        "dependencies": dependencies,
        "vulnerabilities": vulnerabilities(report, &comps),
    })
}

fn component_json(c: &Component) -> Value {
    let mut properties = vec![
        json!({"name": "strata:path", "value": c.path}),
        json!({"name": "strata:layer:diff_id", "value": c.layer.diff_id}),
    ];
    if let Some(source) = &c.source_name {
        properties.push(json!({"name": "strata:source_package", "value": source}));
    }
    let (group, name) = match c.name.rsplit_once('/').filter(|_| !c.os && c.name.starts_with('@')) {
        Some((scope, name)) => (Some(scope), name),
        None => (None, c.name.as_str()),
    };
    let mut v = json!({
        "bom-ref": c.id,
        "type": "library",
        "name": name,
        "version": c.version,
        "purl": c.purl,
        "properties": properties,
    });
    if let Some(group) = group {
        v["group"] = json!(group);
    }
    v
}

/// One entry per advisory, affecting every component it was found in.
fn vulnerabilities(report: &Report, comps: &[Component]) -> Vec<Value> {
    let by_key: BTreeMap<(&str, &str), &str> =
        comps.iter().map(|c| ((c.purl.as_str(), c.path.as_str()), c.id.as_str())).collect();
    let mut grouped: BTreeMap<String, (&Finding, Vec<&str>, Option<&Suppression>)> = BTreeMap::new();
    let live = report.results.iter().flat_map(|r| r.findings.iter().map(|f| (f, None)));
    let suppressed =
        report.results.iter().flat_map(|r| &r.suppressed).filter_map(|Suppressed { item, suppression }| match item {
            SuppressedItem::Vulnerability(f) => Some((f, Some(suppression))),
            _ => None,
        });
    for (f, suppression) in live.chain(suppressed) {
        // The same advisory live in one place and suppressed in another, or reachable in one binary and not in
        // another: separate entries, separate analyses.
        let reachability = f.reachability.map_or("", Reachability::as_str);
        let key = format!("{}\u{0}{}\u{0}{reachability}", f.id, suppression.map_or("", |s| s.by.as_str()));
        let entry = grouped.entry(key).or_insert((f, Vec::new(), suppression));
        if let Some(id) = by_key.get(&(f.purl.as_str(), f.path.as_str()))
            && !entry.1.contains(id)
        {
            entry.1.push(id);
        }
    }
    grouped
        .into_values()
        .filter(|(_, affects, _)| !affects.is_empty())
        .map(|(f, affects, suppression)| {
            let mut v = json!({
                "bom-ref": format!("{}#{}", f.id, stable_id(&affects)[..12].to_string()),
                "id": f.id,
                "source": {"name": "OSV", "url": format!("https://osv.dev/vulnerability/{}", f.id)},
                "ratings": [rating(f)],
                "affects": affects.iter().map(|r| json!({"ref": r})).collect::<Vec<_>>(),
            });
            if !f.aliases.is_empty() {
                v["references"] =
                    f.aliases.iter().map(|a| json!({"id": a, "source": {"name": alias_source(a)}})).collect();
            }
            if let Some(title) = &f.title {
                v["description"] = json!(title);
            }
            if let Some(url) = &f.primary_url {
                v["advisories"] = json!([{"url": url}]);
            }
            if let Some(fixed) = &f.fixed_version {
                v["recommendation"] = json!(format!("Upgrade {} to {fixed}", f.package));
            }
            if let Some(s) = suppression {
                v["analysis"] = analysis(s);
            }
            if let Some(reachability) = f.reachability {
                v["properties"] = json!([{"name": "strata:reachability", "value": reachability.as_str()}]);
                if reachability == Reachability::Unreachable {
                    unreachable_analysis(&mut v["analysis"]);
                }
            }
            v
        })
        .collect()
}

fn rating(f: &Finding) -> Value {
    let severity = match f.severity {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Unknown => "unknown",
    };
    let mut r = json!({"source": {"name": "OSV"}, "severity": severity});
    if let Some(score) = f.score {
        r["score"] = json!(score);
    }
    match f.cvss_vector.as_deref() {
        Some(v) => {
            r["method"] = json!(if v.starts_with("CVSS:4") {
                "CVSSv4"
            } else if v.starts_with("CVSS:3.1") {
                "CVSSv31"
            } else if v.starts_with("CVSS:3") {
                "CVSSv3"
            } else {
                "CVSSv2"
            });
            r["vector"] = json!(v);
        }
        None => r["method"] = json!("other"),
    }
    r
}

fn alias_source(id: &str) -> &'static str {
    match id.split('-').next().unwrap_or("") {
        "CVE" => "NVD",
        "GHSA" => "GitHub Advisories",
        _ => "OSV",
    }
}

/// OpenVEX's statuses and justifications in CycloneDX's vocabulary; an ignore entry is the user's decision,
/// not a claim about the code, so it carries only its reason.
fn analysis(s: &Suppression) -> Value {
    let detail = match &s.reason {
        Some(reason) => format!("{} ({}): {reason}", s.by, s.source),
        None => format!("{} ({})", s.by, s.source),
    };
    let mut a = json!({"detail": detail});
    if s.by == "vex" {
        a["state"] = json!(if s.rule == "fixed" { "resolved" } else { "not_affected" });
        let justification = match s.justification.as_deref() {
            Some("component_not_present" | "vulnerable_code_not_present") => Some("code_not_present"),
            Some("vulnerable_code_not_in_execute_path") => Some("code_not_reachable"),
            Some("vulnerable_code_cannot_be_controlled_by_adversary" | "inline_mitigations_already_exist") => {
                Some("protected_by_mitigating_control")
            }
            _ => None,
        };
        if let Some(j) = justification {
            a["justification"] = json!(j);
        }
    }
    a
}

/// The engine's evidence, where no VEX statement already said otherwise: the vulnerable Go symbols are not
/// in the binary, so the code is not present.
fn unreachable_analysis(analysis: &mut Value) {
    if analysis.get("state").is_some() {
        return;
    }
    let note = "strata: none of the advisory's vulnerable Go symbols is in the binary's function table";
    let detail = match analysis.get("detail").and_then(Value::as_str) {
        Some(detail) => format!("{detail}; {note}"),
        None => note.to_string(),
    };
    *analysis = json!({"state": "not_affected", "justification": "code_not_present", "detail": detail});
}

/// The DB the findings were matched against: its digest, and how current its advisories are.
fn db_properties(report: &Report) -> Vec<Value> {
    let mut properties = vec![json!({"name": "strata:db:content_digest", "value": report.db.content_digest})];
    if let Some(newest) = &report.db.newest_advisory {
        properties.push(json!({"name": "strata:db:newest_advisory", "value": newest}));
    }
    properties
}
