//! Encodings: protobuf for messages, zstd-compressed JSON for inventories inside them. JSON because the
//! inventory is the engine's serde model and must stay readable when debugging a cache entry; zstd because
//! a layer's inventory is mostly repetitive package text.

use prost::Message;
use strata_scanner::layer::LayerInventory;

use crate::{FleetError, LayerJob, LayerResult, Result};

pub fn encode_job(job: &LayerJob) -> Vec<u8> {
    job.encode_to_vec()
}

pub fn decode_job(bytes: &[u8]) -> Result<LayerJob> {
    LayerJob::decode(bytes).map_err(|e| FleetError::Decode { what: "layer job", message: e.to_string() })
}

pub fn encode_result(result: &LayerResult) -> Vec<u8> {
    result.encode_to_vec()
}

pub fn decode_result(bytes: &[u8]) -> Result<LayerResult> {
    LayerResult::decode(bytes).map_err(|e| FleetError::Decode { what: "layer result", message: e.to_string() })
}

pub fn compress_inventory(inventory: &LayerInventory) -> Result<Vec<u8>> {
    let json =
        serde_json::to_vec(inventory).map_err(|e| FleetError::Decode { what: "inventory", message: e.to_string() })?;
    zstd::encode_all(&json[..], 3).map_err(|e| FleetError::Decode { what: "inventory", message: e.to_string() })
}

pub fn decompress_inventory(bytes: &[u8]) -> Result<LayerInventory> {
    let json = zstd::decode_all(bytes).map_err(|e| FleetError::Decode { what: "inventory", message: e.to_string() })?;
    serde_json::from_slice(&json).map_err(|e| FleetError::Decode { what: "inventory", message: e.to_string() })
}

/// The successful result for an analysed layer.
pub fn ok_result(inventory: &LayerInventory, attempts: u32) -> Result<LayerResult> {
    Ok(LayerResult {
        digest: inventory.digest.clone(),
        analyzer_version: inventory.analyzer_version,
        ok: true,
        error: String::new(),
        inventory: compress_inventory(inventory)?,
        attempts,
    })
}

/// The result for a layer that failed for good.
pub fn failed_result(digest: &str, error: &str, attempts: u32) -> LayerResult {
    LayerResult {
        digest: digest.to_string(),
        analyzer_version: strata_scanner::ANALYZER_VERSION,
        ok: false,
        error: error.to_string(),
        inventory: Vec::new(),
        attempts,
    }
}
