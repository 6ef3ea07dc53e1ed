//! The table rendering for people: one table per target, worst findings first, then a summary line.

use std::fmt::Write as _;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::{Finding, Hidden, PackageEntry, Reachability, Report};
use crate::severity::Severity;

#[derive(Debug, Clone, Copy, Default)]
pub struct TableStyle {
    /// Colour severities (only when writing to a terminal).
    pub color: bool,
    /// Width to wrap to; `None` lays the table out without wrapping, unless `fit_terminal`.
    pub width: Option<u16>,
    /// Without `width`: wrap to the width of the terminal on standard output (120 when it cannot be read).
    pub fit_terminal: bool,
}

/// The width a terminal is assumed to have when it cannot be asked.
const FALLBACK_WIDTH: u16 = 120;

pub fn to_table(report: &Report, style: TableStyle) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", report.artifact.name, report.artifact.image_id);
    if let Some(newest) = &report.db.newest_advisory {
        let _ = writeln!(out, "advisory data as of {}", newest.get(..10).unwrap_or(newest));
    }
    if let Some(stale) = &report.db.stale {
        let _ = writeln!(out, "warning: {stale}");
    }
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
        if let Some(packages) = &result.package_list {
            let _ = writeln!(out, "{}", package_table(packages, style));
        }
        if result.findings.is_empty() {
            continue;
        }
        let mut table = new_table(style);
        // The column only where the engine assessed reachability (Go binaries), so other tables keep their shape.
        let reachability = result.findings.iter().any(|f| f.reachability.is_some());
        let mut header = vec!["Package", "Vulnerability", "Severity", "Installed", "Fixed", "Layer", "Title"];
        if reachability {
            header.insert(3, "Reachable");
        }
        table.set_header(header);
        for finding in &result.findings {
            let mut cells = row(finding, style.color);
            if reachability {
                cells.insert(3, reachability_cell(finding.reachability, style.color));
            }
            table.add_row(cells);
        }
        let _ = writeln!(out, "{table}");
    }
    let counts: Vec<String> = Severity::ALL
        .iter()
        .map(|s| format!("{s}: {}", report.summary.by_severity.get(s).copied().unwrap_or(0)))
        .collect();
    let _ = writeln!(out, "\nTotal: {} ({})", report.summary.total, counts.join(", "));
    if let Some(line) = hidden_line(&report.summary.hidden_by) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(line) = unreachable_line(report) {
        let _ = writeln!(out, "{line}");
    }
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

/// What the filters left out, e.g. `Hidden by filters: 12 (--severity: 10 UNKNOWN; --ignore-unfixed: 2)`.
fn hidden_line(hidden: &Hidden) -> Option<String> {
    if hidden.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !hidden.by_severity.is_empty() {
        let levels: Vec<String> = hidden.by_severity.iter().rev().map(|(s, n)| format!("{n} {s}")).collect();
        parts.push(format!("--severity: {}", levels.join(", ")));
    }
    if hidden.unfixed > 0 {
        parts.push(format!("--ignore-unfixed: {}", hidden.unfixed));
    }
    if hidden.unreachable > 0 {
        parts.push(format!("--reachable-only: {} unreachable", hidden.unreachable));
    }
    Some(format!("Hidden by filters: {} ({})", hidden.total(), parts.join("; ")))
}

/// How many findings the engine found unreachable, listed or hidden, so a short list never reads as a
/// clean one.
fn unreachable_line(report: &Report) -> Option<String> {
    let n = report.summary.unreachable;
    let hidden = report.summary.hidden_by.unreachable;
    let s = if n == 1 { "" } else { "s" };
    match (n, hidden) {
        (0, _) => None,
        (_, 0) => Some(format!("{n} finding{s} unreachable (Go symbols not in the binary)")),
        _ => Some(format!(
            "{n} finding{s} unreachable (Go symbols not in the binary), {hidden} hidden by --reachable-only"
        )),
    }
}

/// An empty table laid out for `style`: colours only on a terminal, wrapped as `style` says.
fn new_table(style: TableStyle) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    if !style.color {
        table.force_no_tty();
    }
    match style.width {
        Some(width) => {
            table.set_content_arrangement(ContentArrangement::Dynamic).set_width(width);
        }
        // comfy-table reads the terminal's size itself when standard output is one.
        None if style.fit_terminal => {
            table.set_content_arrangement(ContentArrangement::Dynamic);
            if table.width().is_none() {
                table.set_width(FALLBACK_WIDTH);
            }
        }
        None => {
            table.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    table
}

/// `--list-all-pkgs`: every package of the target, with the layer that put it there.
fn package_table(packages: &[PackageEntry], style: TableStyle) -> Table {
    let mut table = new_table(style);
    table.set_header(["Package", "Version", "Source", "Layer", "Path"]);
    for p in packages {
        let source = match (&p.source_name, &p.source_version) {
            (Some(name), Some(version)) if *name != p.name || *version != p.version => format!("{name} {version}"),
            (Some(name), None) if *name != p.name => name.clone(),
            _ => String::new(),
        };
        table.add_row([p.name.clone(), p.version.clone(), source, format!("#{}", p.layer.index), p.path.clone()]);
    }
    table
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

fn reachability_cell(reachability: Option<Reachability>, color: bool) -> Cell {
    let cell = Cell::new(reachability.map_or("", Reachability::as_str));
    match (reachability, color) {
        (Some(Reachability::Unreachable), true) => cell.fg(Color::Grey),
        (Some(Reachability::Reachable), true) => cell.fg(Color::Red),
        _ => cell,
    }
}

fn shorten(step: &str) -> String {
    let step = step.trim().trim_start_matches("/bin/sh -c ").trim_start_matches("#(nop) ").trim();
    if step.chars().count() > 40 {
        format!("{}…", step.chars().take(39).collect::<String>())
    } else {
        step.to_string()
    }
}
