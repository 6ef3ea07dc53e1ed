//! The table rows for one file's secrets, in the style of the vulnerability tables.

use comfy_table::{Cell, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::SecretFinding;

/// A table of `secrets`: line, rule, severity, layer (and the layer that deleted the file) and the masked
/// match. `width`: wrap to it; `None`: no wrapping.
pub fn table(secrets: &[SecretFinding], width: Option<u16>) -> String {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).force_no_tty();
    match width {
        Some(w) => table.set_content_arrangement(ContentArrangement::Dynamic).set_width(w),
        None => table.set_content_arrangement(ContentArrangement::Disabled),
    };
    table.set_header(["Line", "Rule", "Severity", "Layer", "Match (masked)"]);
    for s in secrets {
        let mut layer = format!("#{}", s.layer.index);
        if let Some(step) = &s.layer.created_by {
            layer.push(' ');
            layer.push_str(&step.trim().trim_start_matches("/bin/sh -c ").chars().take(40).collect::<String>());
        }
        if let Some(gone) = &s.deleted_in {
            layer.push_str(&format!("\ndeleted in layer {}, still in the image", gone.index));
        }
        table.add_row([
            Cell::new(s.line),
            Cell::new(&s.rule_id),
            Cell::new(s.severity.as_str()),
            Cell::new(layer),
            Cell::new(&s.masked),
        ]);
    }
    format!("{table}\n")
}
