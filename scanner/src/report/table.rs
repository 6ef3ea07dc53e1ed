//! The table rendering for people: one table per target, worst findings first, then a summary line.

use std::fmt::Write as _;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::{Finding, Report};
use crate::severity::Severity;

#[derive(Debug, Clone, Copy, Default)]
pub struct TableStyle {
    /// Colour severities (only when writing to a terminal).
    pub color: bool,
    /// Terminal width to wrap to; `None` lays the table out without wrapping.
    pub width: Option<u16>,
}

pub fn to_table(report: &Report, style: TableStyle) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", report.artifact.name, report.artifact.image_id);
    for result in &report.results {
        let ecosystem = result.ecosystem.as_deref().map(|e| format!(", {e}")).unwrap_or_default();
        let counts = match result.class.as_str() {
            "secret" => format!("{} secrets", result.secrets.len()),
            "config" => format!("{} misconfigurations", result.misconfigurations.len()),
            _ => format!("{} packages, {} findings", result.packages, result.findings.len()),
        };
        let _ = writeln!(out, "\n{} ({}{ecosystem}): {counts}", result.target, result.class);
        if let Some(notice) = &result.notice {
            let _ = writeln!(out, "note: {notice}");
        }
        if !result.secrets.is_empty() {
            out.push_str(&crate::secret::render::table(&result.secrets, style.width));
        }
        if !result.misconfigurations.is_empty() {
            let mut table = Table::new();
            table.load_style(UTF8_FULL_CONDENSED);
            if !style.color {
                table.force_no_tty();
            }
            table.set_header(["ID", "Severity", "Where", "Problem", "Fix"]);
            for m in &result.misconfigurations {
                let place = m.line.map_or_else(|| m.source.clone(), |l| format!("{}:{l}", m.source));
                table.add_row([
                    m.id.as_str(),
                    m.severity.as_str(),
                    place.as_str(),
                    m.message.as_str(),
                    m.resolution.as_str(),
                ]);
            }
            let _ = writeln!(out, "{table}");
        }
        if result.findings.is_empty() {
            continue;
        }
        let mut table = Table::new();
        table.load_style(UTF8_FULL_CONDENSED);
        match style.width {
            Some(width) => {
                table.set_content_arrangement(ContentArrangement::Dynamic).set_width(width);
            }
            None => {
                table.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        if !style.color {
            table.force_no_tty();
        }
        table.set_header(["Package", "Vulnerability", "Severity", "Installed", "Fixed", "Layer", "Title"]);
        for finding in &result.findings {
            table.add_row(row(finding, style.color));
        }
        let _ = writeln!(out, "{table}");
    }
    let counts: Vec<String> = Severity::ALL
        .iter()
        .map(|s| format!("{s}: {}", report.summary.by_severity.get(s).copied().unwrap_or(0)))
        .collect();
    let _ = writeln!(out, "\nTotal: {} ({})", report.summary.total, counts.join(", "));
    if report.summary.secrets + report.summary.misconfigurations > 0 {
        let _ = writeln!(
            out,
            "Secrets: {}, misconfigurations: {}",
            report.summary.secrets, report.summary.misconfigurations
        );
    }
    if let Some(advice) = &report.advice {
        let _ = write!(out, "\n{}", crate::report::advice::render(advice));
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    if !report.is_complete() {
        let _ = writeln!(out, "\nINCOMPLETE: part of the image was not analysed; findings may be missing:");
        for line in report.incomplete_lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

fn row(f: &Finding, color: bool) -> Vec<Cell> {
    let id = match f.aliases.iter().find(|a| a.starts_with("CVE-")) {
        Some(cve) if *cve != f.id => format!("{}\n{cve}{}", f.id, if f.aliases.len() > 1 { " …" } else { "" }),
        _ => f.id.clone(),
    };
    let mut severity = Cell::new(f.severity.as_str());
    if color {
        severity = severity.fg(match f.severity {
            Severity::Critical => Color::Red,
            Severity::High => Color::DarkRed,
            Severity::Medium => Color::Yellow,
            Severity::Low => Color::Blue,
            Severity::Unknown => Color::Grey,
        });
    }
    let step = f.layer.created_by.as_deref().map(shorten).map(|s| format!(" {s}")).unwrap_or_default();
    let mut package = f.package.clone();
    for path in &f.dependency_paths {
        package.push_str(&format!("\n  {path}"));
    }
    if f.dependency_paths_cut > 0 {
        package.push_str(&format!("\n  (+{} more paths)", f.dependency_paths_cut));
    }
    if f.dev {
        package.push_str("\n  (dev dependency)");
    }
    vec![
        Cell::new(package),
        Cell::new(id),
        severity,
        Cell::new(&f.installed_version),
        Cell::new(f.fixed_version.as_deref().unwrap_or("")),
        Cell::new(format!("#{}{step}", f.layer.index)),
        Cell::new(f.title.as_deref().unwrap_or("")),
    ]
}

fn shorten(step: &str) -> String {
    let step = step.trim().trim_start_matches("/bin/sh -c ").trim_start_matches("#(nop) ").trim();
    if step.chars().count() > 40 {
        format!("{}…", step.chars().take(39).collect::<String>())
    } else {
        step.to_string()
    }
}
