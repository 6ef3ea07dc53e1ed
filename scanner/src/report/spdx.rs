//! SPDX 2.3 JSON: the image as the described package, every package of it with its purl, `CONTAINS` from the
//! image to each package and `DEPENDS_ON` where Strata knows the dependency graph. `documentNamespace` and
//! every SPDXID derive from the image ID, so the same image gives the same document apart from `created`.

use serde_json::{Value, json};

use super::artifact::{Component, components, dependency_edges, stable_id};
use super::{Report, image_purl, repository};

const IMAGE_ID: &str = "SPDXRef-Image";

/// `created` is the document's creation time (RFC 3339, UTC, seconds), supplied by the caller: the engine
/// reads no clock.
pub fn to_spdx(report: &Report, created: &str) -> String {
    serde_json::to_string_pretty(&to_value(report, created)).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

pub fn to_value(report: &Report, created: &str) -> Value {
    let a = &report.artifact;
    let repo = repository(&a.name);
    let comps = components(report);
    let ids: Vec<String> = comps.iter().map(spdx_id).collect();
    let image = json!({
        "SPDXID": IMAGE_ID,
        "name": repo,
        "versionInfo": a.repo_digest.as_deref().unwrap_or(&a.image_id),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [purl_ref(&image_purl(a))],
    });
    let mut packages = vec![image];
    packages.extend(comps.iter().zip(&ids).map(|(c, id)| package(c, id)));
    let mut relationships = vec![relationship("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID)];
    relationships.extend(ids.iter().map(|id| relationship(IMAGE_ID, "CONTAINS", id)));
    relationships.extend(
        dependency_edges(&comps).into_iter().map(|(from, to)| relationship(&ids[from], "DEPENDS_ON", &ids[to])),
    );
    let digest = a.image_id.trim_start_matches("sha256:");
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": repo,
        "documentNamespace": format!("https://spdx.org/spdxdocs/strata/{}-{digest}", slug(&repo)),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: strata-{}", env!("CARGO_PKG_VERSION"))],
            "comment": format!("Image {} ({}), {}", a.name, a.image_id, a.platform),
        },
        "packages": packages,
        "relationships": relationships,
    })
}

fn package(c: &Component, id: &str) -> Value {
    let mut p = json!({
        "SPDXID": id,
        "name": c.name,
        "versionInfo": c.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "LIBRARY",
        "externalRefs": [purl_ref(&c.purl)],
        "sourceInfo": format!("listed in {} (layer #{}, {})", c.path, c.layer.index, c.layer.diff_id),
    });
    if let Some(source) = &c.source_name {
        p["comment"] = json!(format!("source package {source}"));
    }
    p
}

/// SPDXIDs allow only letters, digits, `.` and `-`: a hash of what makes the package unique.
fn spdx_id(c: &Component) -> String {
    format!("SPDXRef-Package-{}", &stable_id(&[&c.purl, &c.path])[..16])
}

fn purl_ref(purl: &str) -> Value {
    json!({"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl})
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({"spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": to})
}

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect()
}
