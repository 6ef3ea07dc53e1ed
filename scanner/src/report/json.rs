//! The JSON rendering: the [`super::Report`] as is, pretty-printed, in its stable order.

use super::Report;

pub fn to_json(report: &Report) -> String {
    // Serialising plain data with string keys cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
