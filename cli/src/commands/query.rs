//! `strata query` and `strata rollup`: the coordinator's fleet index answers (docs/query.md), printed as
//! lines or as the coordinator's JSON.

use anyhow::{Context, Result};
use serde_json::Value;
use strata_proto::v1::{FleetQueryRequest, RollupRequest};

use crate::args::{QueryArgs, RollupArgs};
use crate::commands::fleet::connect;

pub async fn query(args: QueryArgs) -> Result<u8> {
    let mut client = connect(&args.coordinator).await?;
    let request = FleetQueryRequest {
        advisory: args.advisory.unwrap_or_default(),
        package: args.package.unwrap_or_default(),
        repository: args.repository.unwrap_or_default(),
    };
    let json = client.query(request).await.context("querying the fleet")?.into_inner().json;
    if args.json {
        println!("{}", String::from_utf8_lossy(&json));
        return Ok(0);
    }
    let answer: Value = serde_json::from_slice(&json).context("the coordinator's answer")?;
    let matches = answer["matches"].as_array().cloned().unwrap_or_default();
    for m in &matches {
        let text = |k: &str| m[k].as_str().unwrap_or("").to_string();
        let fix = m["fixed_version"].as_str().map_or_else(|| "no fix yet".to_string(), |f| format!("fixed in {f}"));
        println!(
            "{}  {} {}@{} ({}, {})\n    layer {} {}: {}",
            text("reference"),
            text("advisory"),
            text("package"),
            text("installed_version"),
            text("severity"),
            fix,
            m["layer_index"],
            short(&text("layer_digest")),
            m["created_by"].as_str().unwrap_or("(no Dockerfile step recorded)"),
        );
    }
    println!("{} image(s), {} finding(s)", answer["images"], matches.len());
    Ok(0)
}

pub async fn rollup(args: RollupArgs) -> Result<u8> {
    let mut client = connect(&args.coordinator).await?;
    let request = RollupRequest {
        repository: args.repository.unwrap_or_default(),
        min_images: args.min_images,
        limit: args.limit,
    };
    let json = client.rollup(request).await.context("rolling up the fleet")?.into_inner().json;
    if args.json {
        println!("{}", String::from_utf8_lossy(&json));
        return Ok(0);
    }
    let answer: Value = serde_json::from_slice(&json).context("the coordinator's answer")?;
    for base in answer["bases"].as_array().into_iter().flatten() {
        println!(
            "rebuilding on base@{} ({} images) fixes {} findings\n    {} layer(s), top step: {}",
            short(base["top_layer"].as_str().unwrap_or("")),
            base["images"],
            base["fixes"],
            base["depth"],
            base["created_by"].as_str().unwrap_or("(not recorded)"),
        );
    }
    println!("{} image(s) looked at", answer["images"]);
    Ok(0)
}

/// `sha256:` and the first 12 hex digits, as `docker images` shows them.
fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}
