//! The run as an SVG, written by hand (no plotting dependency): scans finished per second (top) and layer
//! jobs waiting in the queue (bottom) over each night's time, one colour per night, faults marked.

use std::fmt::Write;

use crate::report::NightReport;

const W: f64 = 900.0;
const PANEL: f64 = 230.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const GAP: f64 = 60.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// Scans finished per second, over a sliding window of `span` samples.
pub fn throughput(points: &[crate::sampler::Point], span: usize) -> Vec<(f64, f64)> {
    (0..points.len())
        .map(|i| {
            let j = i.saturating_sub(span);
            let dt = points[i].t - points[j].t;
            let rate = if dt > 0.0 { points[i].done.saturating_sub(points[j].done) as f64 / dt } else { 0.0 };
            (points[i].t, rate)
        })
        .collect()
}

/// A round number ≥ `v` for an axis' top.
fn nice(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|&c| c >= v).unwrap_or(10.0 * magnitude)
}

struct Panel {
    top: f64,
    max_x: f64,
    max_y: f64,
}

impl Panel {
    fn x(&self, t: f64) -> f64 {
        LEFT + t / self.max_x * (W - LEFT - RIGHT)
    }
    fn y(&self, v: f64) -> f64 {
        self.top + PANEL - v / self.max_y * PANEL
    }

    fn axes(&self, svg: &mut String, title: &str, unit: &str) {
        let (bottom, right) = (self.top + PANEL, W - RIGHT);
        let _ = writeln!(svg, r##"<text x="{LEFT}" y="{}" font-weight="bold">{title}</text>"##, self.top - 10.0);
        let _ = writeln!(
            svg,
            r##"<rect x="{LEFT}" y="{}" width="{}" height="{PANEL}" fill="none" stroke="#888"/>"##,
            self.top,
            right - LEFT
        );
        for k in 0..=4 {
            let v = self.max_y * f64::from(k) / 4.0;
            let y = self.y(v);
            let _ = writeln!(svg, r##"<line x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#eee"/>"##);
            let _ = writeln!(svg, r##"<text x="{}" y="{:.1}" text-anchor="end">{v:.0}</text>"##, LEFT - 6.0, y + 4.0);
            let t = self.max_x * f64::from(k) / 4.0;
            let x = self.x(t);
            let label = if t.fract() == 0.0 || self.max_x >= 20.0 { format!("{t:.0}") } else { format!("{t:.1}") };
            let _ = writeln!(svg, r##"<text x="{x:.1}" y="{}" text-anchor="middle">{label} s</text>"##, bottom + 16.0);
        }
        let _ = writeln!(
            svg,
            r##"<text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle">{unit}</text>"##,
            self.top + PANEL / 2.0
        );
    }

    fn line(&self, svg: &mut String, points: &[(f64, f64)], colour: &str) {
        let path: Vec<String> =
            points.iter().map(|(t, v)| format!("{:.1},{:.1}", self.x(*t), self.y(v.min(self.max_y)))).collect();
        let _ = writeln!(
            svg,
            r##"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"##,
            path.join(" ")
        );
    }
}

/// One line per `(label, night)`.
pub fn svg(title: &str, series: &[(String, &NightReport)]) -> String {
    let nights: Vec<&NightReport> = series.iter().map(|s| s.1).collect();
    let rates: Vec<Vec<(f64, f64)>> = nights.iter().map(|n| throughput(&n.timeline, 5)).collect();
    let depths: Vec<Vec<(f64, f64)>> =
        nights.iter().map(|n| n.timeline.iter().filter_map(|p| Some((p.t, p.queue_depth?))).collect()).collect();
    let max_x = nice(nights.iter().flat_map(|n| n.timeline.last().map(|p| p.t)).fold(1.0, f64::max));
    let max_rate = nice(rates.iter().flatten().map(|p| p.1).fold(1.0, f64::max));
    let max_depth = nice(depths.iter().flatten().map(|p| p.1).fold(1.0, f64::max));
    let height = TOP + 2.0 * PANEL + GAP + 70.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(svg, r##"<text x="{LEFT}" y="18" font-size="14">{}</text>"##, escape(title));
    let top = Panel { top: TOP + 10.0, max_x, max_y: max_rate };
    let bottom = Panel { top: TOP + PANEL + GAP, max_x, max_y: max_depth };
    top.axes(&mut svg, "Scans finished per second (5 s window)", "images/s");
    bottom.axes(&mut svg, "Layer jobs waiting in the queue", "jobs");
    for (i, night) in nights.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        top.line(&mut svg, &rates[i], colour);
        bottom.line(&mut svg, &depths[i], colour);
        for fault in night.faults.iter().filter(|f| !f.action.contains("not reached")) {
            let x = top.x(fault.at_seconds);
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{}" font-size="10" fill="{colour}">{}</text>"##,
                x + 3.0,
                top.top + 12.0,
                fault_label(&fault.action)
            );
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="{colour}" stroke-dasharray="4 3"/><title>{}</title>"##,
                top.top,
                bottom.top + PANEL,
                escape(&fault.action)
            );
        }
        let (x, y) = (LEFT, height - 44.0 + 18.0 * i as f64);
        let label = format!(
            "{}: {} images in {:.0} s ({:.0} images/s)",
            series[i].0, night.images, night.wall_seconds, night.images_per_second
        );
        let _ = writeln!(svg, r##"<rect x="{x}" y="{}" width="14" height="4" fill="{colour}"/>"##, y - 4.0);
        let _ = writeln!(svg, r##"<text x="{}" y="{y}">{}</text>"##, x + 20.0, escape(&label));
    }
    svg.push_str("</svg>\n");
    svg
}

/// A word or two for a fault's marker (the whole action is its tooltip).
fn fault_label(action: &str) -> &'static str {
    if action.contains("supervisor") {
        "restarted by supervisor"
    } else if action.starts_with("SIGKILL") {
        "worker killed"
    } else if action.contains("RabbitMQ") {
        "RabbitMQ restart"
    } else if action.contains("Redis") {
        "Redis restart"
    } else {
        "fault"
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use crate::sampler::Point;

    fn point(t: f64, done: usize) -> Point {
        Point { t, done, queue_depth: Some(3.0), jobs_in_flight: None, coordinator_rss_mib: 0.0, workers_rss_mib: 0.0 }
    }

    #[test]
    fn throughput_is_finished_scans_per_second() {
        let points: Vec<Point> = (0..10).map(|i| point(f64::from(i), 20 * i as usize)).collect();
        let rates = super::throughput(&points, 5);
        assert_eq!(rates[0].1, 0.0);
        assert!(rates[9].1 > 19.9 && rates[9].1 < 20.1);
        assert_eq!(super::nice(37.0), 50.0);
        assert_eq!(super::nice(0.3), 0.5);
    }
}
