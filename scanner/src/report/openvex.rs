//! OpenVEX v0.2.0 (`--format openvex`): what the engine's reachability analysis says about each Go finding,
//! as statements a VEX consumer (this scanner's own `--vex` among them) can act on.
//!
//! - One statement per advisory and package: `not_affected` / `vulnerable_code_not_present` when no binary
//!   holding the package kept a vulnerable symbol, `affected` when one did, `under_investigation` when the
//!   advisory names no symbols or a function table could not be read. Several binaries with the same module
//!   are one subcomponent, so the worst of their answers stands: a claim of `not_affected` is never made
//!   for a package some binary can still reach.
//! - Findings without a reachability (the engine did not assess them) get no statement: the document says
//!   only what the analysis established.
//! - Deterministic: the timestamp is the DB's build time (the data the statements rest on), not the clock,
//!   and `@id` is a hash of the content, so the same scan and DB give the same bytes.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::artifact::stable_id;
use super::{Finding, Reachability, Report, image_purl};

pub const CONTEXT: &str = "https://openvex.dev/ns/v0.2.0";

pub fn to_openvex(report: &Report) -> String {
    serde_json::to_string_pretty(&to_value(report)).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

pub fn to_value(report: &Report) -> Value {
    let image = image_purl(&report.artifact);
    // Keyed by advisory and package purl; the value is the finding with the worst reachability seen.
    let mut decided: BTreeMap<(&str, &str), (&Finding, Reachability)> = BTreeMap::new();
    for f in report.results.iter().flat_map(|r| &r.findings) {
        let Some(reachability) = f.reachability else { continue };
        decided
            .entry((f.id.as_str(), f.purl.as_str()))
            .and_modify(|entry| {
                if weight(reachability) > weight(entry.1) {
                    *entry = (f, reachability);
                }
            })
            .or_insert((f, reachability));
    }
    let statements: Vec<Value> = decided.into_values().map(|(f, r)| statement(f, r, &image, report)).collect();
    let timestamp = report.db.built_at.as_str();
    let content = serde_json::to_string(&statements).unwrap_or_default();
    let id = stable_id(&[CONTEXT, &image, timestamp, &content]);
    let mut document = json!({
        "@context": CONTEXT,
        "@id": format!("urn:strata:openvex:{}", &id[..32]),
        "author": "Strata",
        "role": "scanner",
        "version": 1,
        "tooling": format!("strata {}", env!("CARGO_PKG_VERSION")),
        "statements": statements,
    });
    // Only a report without a DB (no vulnerability scanner) has no time to give, and it has no statements.
    if !timestamp.is_empty() {
        document["timestamp"] = json!(timestamp);
    }
    document
}

/// Reachable outranks unknown outranks unreachable: the order in which a package's statements combine.
fn weight(r: Reachability) -> u8 {
    match r {
        Reachability::Unreachable => 0,
        Reachability::Unknown => 1,
        Reachability::Reachable => 2,
    }
}

fn statement(f: &Finding, reachability: Reachability, image: &str, report: &Report) -> Value {
    let mut product = json!({
        "@id": image,
        "identifiers": {"purl": image},
        "subcomponents": [{"@id": f.purl, "identifiers": {"purl": f.purl}}],
    });
    if let Some(hex) = report.artifact.repo_digest.as_deref().and_then(|d| d.strip_prefix("sha256:")) {
        product["hashes"] = json!({"sha-256": hex});
    }
    let mut vulnerability = json!({
        "@id": format!("https://osv.dev/vulnerability/{}", f.id),
        "name": f.id,
    });
    if !f.aliases.is_empty() {
        vulnerability["aliases"] = json!(f.aliases);
    }
    if let Some(title) = &f.title {
        vulnerability["description"] = json!(title);
    }
    let mut s = json!({"vulnerability": vulnerability, "products": [product]});
    match reachability {
        Reachability::Unreachable => {
            s["status"] = json!("not_affected");
            s["justification"] = json!("vulnerable_code_not_present");
            s["impact_statement"] = json!(format!(
                "None of the vulnerable symbols the advisory names is in the function table of {} ({} {}).",
                f.path, f.package, f.installed_version
            ));
        }
        Reachability::Reachable => {
            s["status"] = json!("affected");
            s["action_statement"] = json!(match &f.fixed_version {
                Some(fixed) => format!("Upgrade {} to {fixed} and rebuild {}.", f.package, f.path),
                None => format!("No fixed version of {} yet; the vulnerable code is in {}.", f.package, f.path),
            });
        }
        Reachability::Unknown => {
            s["status"] = json!("under_investigation");
            s["status_notes"] =
                json!("The advisory names no vulnerable symbols, or the binary's function table could not be read.");
        }
    }
    s
}
