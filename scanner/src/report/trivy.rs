//! Trivy's JSON report (`SchemaVersion: 2`), as tools that read Trivy output expect it — DefectDojo's
//! "Trivy Scan" importer above all (see `docs/formats.md` for the field choices).
//!
//! - `VulnerabilityID` is Strata's advisory id (`DSA-5343-1`, `GHSA-…`), and its CVEs go in `VendorIDs`: one
//!   Trivy vulnerability per Strata finding, so DefectDojo counts what Strata's summary and exit code count.
//! - `Target` holds no tag, digest or date: DefectDojo hashes it into each finding, and a changing target
//!   would close and reopen every finding on every rebuild. `Description` is the advisory summary for the same
//!   reason (details text gets rewritten upstream).
//! - No `CreatedAt`: the same image and DB give a byte-identical report, so unchanged uploads can be skipped.

use serde_json::{Map, Value, json};

use super::{Finding, Report, TargetResult, repository};
use crate::misconfig::Misconfiguration;
use crate::secret::SecretFinding;
use crate::severity::Severity;

pub fn to_trivy_json(report: &Report) -> String {
    serde_json::to_string_pretty(&to_value(report)).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

pub fn to_value(report: &Report) -> Value {
    let a = &report.artifact;
    let repo = repository(&a.name);
    let diff_ids: Vec<&str> = a.layers.iter().map(|l| l.diff_id.as_str()).collect();
    let mut metadata = Map::new();
    if let Some(os) = &a.os {
        metadata.insert("OS".into(), json!({"Family": os.family, "Name": os.version}));
    }
    metadata.insert("ImageID".into(), json!(a.image_id));
    metadata.insert("DiffIDs".into(), json!(diff_ids));
    if let Some(digest) = &a.repo_digest {
        metadata.insert("RepoDigests".into(), json!([format!("{repo}@{digest}")]));
    }
    let mut platform = a.platform.split('/');
    let history: Vec<Value> =
        a.layers.iter().map(|l| json!({"created_by": l.created_by.clone().unwrap_or_default()})).collect();
    metadata.insert(
        "ImageConfig".into(),
        json!({
            "os": platform.next().unwrap_or_default(),
            "architecture": platform.next().unwrap_or_default(),
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }),
    );
    let results: Vec<Value> = report.results.iter().map(|r| result(r, &repo)).collect();
    json!({
        "SchemaVersion": 2,
        "ArtifactName": a.name,
        "ArtifactType": "container_image",
        "Metadata": metadata,
        "Results": results,
    })
}

fn result(r: &TargetResult, repo: &str) -> Value {
    let target = if r.class == "os-pkgs" { format!("{repo} ({})", r.target) } else { r.target.clone() };
    let mut out = Map::new();
    out.insert("Target".into(), json!(target));
    out.insert("Class".into(), json!(r.class));
    out.insert("Type".into(), json!(trivy_type(r)));
    if !r.findings.is_empty() {
        let lang = r.class == "lang-pkgs";
        out.insert("Vulnerabilities".into(), r.findings.iter().map(|f| vulnerability(f, lang)).collect());
    }
    if !r.misconfigurations.is_empty() {
        out.insert("Misconfigurations".into(), r.misconfigurations.iter().map(misconfiguration).collect());
    }
    if !r.secrets.is_empty() {
        out.insert("Secrets".into(), r.secrets.iter().map(secret).collect());
    }
    Value::Object(out)
}

/// Trivy's analyser names for the file kinds Strata reads.
fn trivy_type(r: &TargetResult) -> String {
    let file = r.target.rsplit('/').next().unwrap_or(&r.target);
    let t = match (r.kind.as_str(), file) {
        ("npm", "package-lock.json" | "npm-shrinkwrap.json") => "npm",
        ("npm", "yarn.lock") => "yarn",
        ("npm", "pnpm-lock.yaml") => "pnpm",
        ("npm", _) => "node-pkg",
        ("pypi", "poetry.lock") => "poetry",
        ("pypi", "Pipfile.lock") => "pipenv",
        ("pypi", _) => "python-pkg",
        ("gem", "Gemfile.lock") => "bundler",
        ("gem", _) => "gemspec",
        ("golang", "go.mod") => "gomod",
        ("golang", _) => "gobinary",
        ("cargo", "Cargo.lock") => "cargo",
        ("cargo", _) => "rustbinary",
        ("maven", _) => "jar",
        (other, _) => other,
    };
    t.to_string()
}

fn vulnerability(f: &Finding, lang: bool) -> Value {
    let mut v = Map::new();
    v.insert("VulnerabilityID".into(), json!(f.id));
    if !f.aliases.is_empty() {
        v.insert("VendorIDs".into(), json!(f.aliases));
    }
    v.insert("PkgID".into(), json!(format!("{}@{}", f.package, f.installed_version)));
    v.insert("PkgName".into(), json!(f.package));
    if lang {
        // Trivy gives the file only for language packages; DefectDojo takes it as the finding's file_path.
        v.insert("PkgPath".into(), json!(f.path.trim_start_matches('/')));
    }
    v.insert("PkgIdentifier".into(), json!({"PURL": f.purl}));
    v.insert("InstalledVersion".into(), json!(f.installed_version));
    if let Some(fixed) = &f.fixed_version {
        v.insert("FixedVersion".into(), json!(fixed));
    }
    v.insert("Status".into(), json!(if f.fixed_version.is_some() { "fixed" } else { "affected" }));
    v.insert("Layer".into(), json!({"DiffID": f.layer.diff_id}));
    v.insert("SeveritySource".into(), json!("osv"));
    if let Some(url) = &f.primary_url {
        v.insert("PrimaryURL".into(), json!(url));
    }
    v.insert("DataSource".into(), json!({"ID": "osv", "Name": "OSV", "URL": "https://osv.dev"}));
    if let Some(title) = &f.title {
        v.insert("Title".into(), json!(title));
        v.insert("Description".into(), json!(title));
    }
    v.insert("Severity".into(), json!(f.severity.as_str()));
    if let Some(cvss) = cvss(f) {
        v.insert("CVSS".into(), json!({"osv": cvss}));
    }
    let mut references = f.references.clone();
    if references.is_empty() {
        references.extend(f.primary_url.clone());
    }
    if !references.is_empty() {
        v.insert("References".into(), json!(references));
    }
    // Trivy keeps what is not its own under `Custom`; readers that do not know it pass it through.
    if let Some(reachability) = f.reachability {
        v.insert("Custom".into(), json!({"Reachability": reachability.as_str()}));
    }
    Value::Object(v)
}

/// Trivy's per-source CVSS entry, keyed by the vector's version.
fn cvss(f: &Finding) -> Option<Value> {
    let score = f.score?;
    let (vector_key, score_key) = match f.cvss_vector.as_deref() {
        Some(v) if v.starts_with("CVSS:4") => ("V40Vector", "V40Score"),
        Some(v) if v.starts_with("CVSS:3") => ("V3Vector", "V3Score"),
        Some(_) => ("V2Vector", "V2Score"),
        None => ("", "V3Score"),
    };
    let mut entry = Map::new();
    if let Some(vector) = f.cvss_vector.as_ref().filter(|_| !vector_key.is_empty()) {
        entry.insert(vector_key.into(), json!(vector));
    }
    entry.insert(score_key.into(), json!(score));
    Some(Value::Object(entry))
}

fn misconfiguration(m: &Misconfiguration) -> Value {
    let kind = if m.source.to_ascii_lowercase().contains("dockerfile") { "dockerfile" } else { "image-config" };
    let mut v = Map::new();
    v.insert("Type".into(), json!(kind));
    v.insert("ID".into(), json!(m.id));
    v.insert("Title".into(), json!(m.title));
    v.insert("Description".into(), json!(m.title));
    v.insert("Message".into(), json!(m.message));
    v.insert("Resolution".into(), json!(m.resolution));
    v.insert("Severity".into(), json!(m.severity.as_str()));
    if let Some(url) = m.references.first() {
        v.insert("PrimaryURL".into(), json!(url));
    }
    v.insert("References".into(), json!(m.references));
    v.insert("Status".into(), json!("FAIL"));
    let mut cause = Map::new();
    if let Some(line) = m.line {
        cause.insert("StartLine".into(), json!(line));
        cause.insert("EndLine".into(), json!(line));
    }
    v.insert("CauseMetadata".into(), Value::Object(cause));
    Value::Object(v)
}

fn secret(s: &SecretFinding) -> Value {
    let mut v = json!({
        "RuleID": s.rule_id,
        "Category": s.category,
        "Severity": s.severity.as_str(),
        "Title": s.title,
        "StartLine": s.line,
        "EndLine": s.line,
        "Match": s.masked,
        "Layer": {"DiffID": s.layer.diff_id, "CreatedBy": s.layer.created_by.clone().unwrap_or_default()},
    });
    if let Some(deleted) = &s.deleted_in {
        // Not a Trivy field; readers ignore it. The secret stays in the image's blobs all the same.
        v["DeletedIn"] = json!({"DiffID": deleted.diff_id, "Index": deleted.index});
    }
    v
}

/// The rules DefectDojo's importer applies silently (it drops what breaks them, or fails the import):
/// checked before a report is sent so a bad one is refused loudly instead.
pub fn validate(report: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    if report.get("SchemaVersion").and_then(Value::as_u64) != Some(2) {
        errors.push("SchemaVersion must be 2".to_string());
    }
    let results = match report.get("Results") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(results)) => results,
        Some(_) => {
            errors.push("Results must be an array".to_string());
            &Vec::new()
        }
    };
    let severity_ok = |v: &Value| v.as_str().is_some_and(|s| Severity::ALL.iter().any(|l| l.as_str() == s));
    for (i, r) in results.iter().enumerate() {
        let Some(target) = r.get("Target").and_then(Value::as_str) else {
            errors.push(format!("Results[{i}] has no Target"));
            continue;
        };
        for (key, id_key) in
            [("Vulnerabilities", "VulnerabilityID"), ("Misconfigurations", "ID"), ("Secrets", "RuleID")]
        {
            let items = match r.get(key) {
                None => continue,
                Some(Value::Array(items)) => items,
                Some(_) => {
                    errors.push(format!("{target}: {key} must be an array"));
                    continue;
                }
            };
            for (j, item) in items.iter().enumerate() {
                let id = item.get(id_key).and_then(Value::as_str).unwrap_or("?");
                let at = format!("{target}: {key}[{j}] ({id})");
                if !item.get("Severity").is_some_and(severity_ok) {
                    errors.push(format!("{at}: Severity must be one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN"));
                }
                if key == "Vulnerabilities" {
                    if !item.get("PkgName").is_some_and(Value::is_string) {
                        errors.push(format!("{at}: no PkgName"));
                    }
                    // The importer calls .get on CVSS and joins References: null breaks the import.
                    if item.get("CVSS").is_some_and(|c| !c.is_object()) {
                        errors.push(format!("{at}: CVSS must be an object"));
                    }
                    if item.get("References").is_some_and(|c| !c.is_array()) {
                        errors.push(format!("{at}: References must be an array"));
                    }
                }
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}
