//! Orphan tests: a report split by target delivers to `<title> | <target>` tests. When a target
//! disappears, or the report no longer needs a split (or newly needs one), the tests it no longer
//! delivers to keep their findings active for ever. After each delivery, the tests of the engagement
//! under the same base title that this scan did not deliver to, and that still have active findings,
//! get an empty reimport: DefectDojo's own `close_old_findings` closes what they hold (the triage stays
//! on the closed findings). DefectDojo is asked each time — what Strata remembers may be stale.

use serde_json::{Value, json};
use tracing::info;

use super::client::{Client, DefectDojoError, Upload};

/// Closes the findings of `upload`'s orphan sibling tests; returns the titles it closed.
pub async fn close(client: &Client, upload: &Upload) -> Result<Vec<String>, DefectDojoError> {
    let names = &upload.names;
    let base = if upload.base_title.is_empty() { names.test_title.clone() } else { upload.base_title.clone() };
    let titles = if upload.titles.is_empty() { vec![names.test_title.clone()] } else { upload.titles.clone() };
    let products = client.get("/api/v2/products/", &[("name_exact", names.product.clone())]).await?;
    let Some(product) = first_id(products.as_ref(), |p| p["name"].as_str() == Some(names.product.as_str())) else {
        return Ok(Vec::new());
    };
    let engagements =
        client.get("/api/v2/engagements/", &[("product", product.to_string()), ("limit", "1000".into())]).await?;
    let Some(engagement) = first_id(engagements.as_ref(), |e| e["name"].as_str() == Some(names.engagement.as_str()))
    else {
        return Ok(Vec::new());
    };
    let tests = client
        .get("/api/v2/tests/", &[("engagement", engagement.to_string()), ("limit", "1000".into())])
        .await?
        .unwrap_or(Value::Null);
    let prefix = format!("{base} | ");
    let mut closed = Vec::new();
    for test in tests["results"].as_array().into_iter().flatten() {
        let Some(title) = test["title"].as_str() else { continue };
        if (title != base && !title.starts_with(&prefix)) || titles.iter().any(|t| t == title) {
            continue;
        }
        let Some(id) = test["id"].as_i64() else { continue };
        let active = client
            .get("/api/v2/findings/", &[("test", id.to_string()), ("active", "true".into()), ("limit", "1".into())])
            .await?;
        if active.as_ref().and_then(|a| a["count"].as_u64()).unwrap_or(0) == 0 {
            continue;
        }
        let mut empty = upload.clone();
        empty.names.test_title = title.to_string();
        let file =
            serde_json::to_vec(&json!({"SchemaVersion": 2, "ArtifactName": base, "Results": []})).unwrap_or_default();
        let result = client.reimport(&empty, &file).await?;
        info!(test_id = id, title, closed = result.delta.closed.total, "DefectDojo: closed an orphan test's findings");
        closed.push(title.to_string());
    }
    Ok(closed)
}

fn first_id(list: Option<&Value>, matches: impl Fn(&Value) -> bool) -> Option<i64> {
    list?["results"].as_array()?.iter().find(|v| matches(v)).and_then(|v| v["id"].as_i64())
}
