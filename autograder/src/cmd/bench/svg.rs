//! The bench graph as a self-contained SVG: throughput, p99 latency, and the server's CPU
//! and memory against concurrent clients, one line per program, with labelled axes and a
//! legend.
//!
//! Hand-written rather than drawn by a plotting library: the picture is a few line charts,
//! and an SVG is text, so a hundred lines of `format!` keep the dependency list short and
//! the output byte-stable for tests. Open `bench.svg` in any browser.
//!
//! The x axis is logarithmic (base 2) when the client counts span a factor of 8 or more,
//! which is how such graphs are usually read (1, 2, 4, … clients at equal spacing).

use std::fmt::Write as _;

use super::Row;
use crate::cmd::plot::{nice_axis, y_grid, COLOURS};
use crate::grade::report::escape;

const WIDTH: f64 = 820.0;
const PANEL_H: f64 = 300.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 60.0;
const GAP: f64 = 80.0;

/// The whole picture: throughput and p99 latency, then (where `/proc` gave them) the
/// server's CPU and memory, each against clients.
pub fn chart(title: &str, rows: &[Row]) -> String {
    let programs = programs(rows);
    let mut panels: Vec<Panel> = vec![
        ("throughput (requests/s)", "throughput", |r| {
            Some(r.requests_per_sec)
        }),
        ("p99 latency (ms)", "p99-latency", |r| Some(r.p99_ms)),
    ];
    // The lecture's other two goals: minimise CPU and memory. Without /proc (not Linux)
    // there is nothing to draw, and no empty panels are drawn either.
    if rows.iter().any(|r| r.cpu_percent.is_some()) {
        panels.push(("server CPU (% of one core)", "cpu", |r| r.cpu_percent));
    }
    if rows.iter().any(|r| r.rss_mb.is_some()) {
        panels.push(("server memory (RSS, MiB)", "memory", |r| r.rss_mb));
    }
    let n = panels.len() as f64;
    let height = TOP + n * PANEL_H + (n - 1.0) * GAP + 60.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, "<title>{}</title>", escape::xml(title));
    let _ = writeln!(
        out,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="28" font-size="16" font-weight="bold" text-anchor="middle">{}</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        escape::xml(title)
    );
    let xs = XScale::new(rows);
    for (i, (label, class, value)) in panels.into_iter().enumerate() {
        let top = TOP + i as f64 * (PANEL_H + GAP);
        panel(&mut out, top, label, class, rows, &programs, &xs, value);
    }
    legend(&mut out, &programs, rows.iter().any(|r| r.errors > 0));
    out.push_str("</svg>\n");
    out
}

/// A panel: its y-axis label, its class, and the value it draws (`None`: no point).
type Panel = (&'static str, &'static str, fn(&Row) -> Option<f64>);

/// Program labels in order of first appearance.
fn programs(rows: &[Row]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for r in rows {
        if !seen.contains(&r.program) {
            seen.push(r.program.clone());
        }
    }
    seen
}

/// Maps client counts to x pixels.
struct XScale {
    log: bool,
    lo: f64,
    hi: f64,
    ticks: Vec<usize>,
}

impl XScale {
    fn new(rows: &[Row]) -> XScale {
        let mut ticks: Vec<usize> = rows.iter().map(|r| r.clients.max(1)).collect();
        ticks.sort_unstable();
        ticks.dedup();
        let lo = ticks.first().copied().unwrap_or(1) as f64;
        let hi = ticks.last().copied().unwrap_or(1) as f64;
        let log = hi / lo >= 8.0;
        // Too many labels would overlap: keep about a dozen, spread evenly.
        if ticks.len() > 12 {
            let step = ticks.len().div_ceil(12);
            ticks = ticks.into_iter().step_by(step).collect();
        }
        XScale { log, lo, hi, ticks }
    }

    fn x(&self, clients: usize) -> f64 {
        let f = |v: f64| if self.log { v.log2() } else { v };
        let span = f(self.hi) - f(self.lo);
        let t = if span > 0.0 {
            (f(clients.max(1) as f64) - f(self.lo)) / span
        } else {
            0.5
        };
        LEFT + t * (WIDTH - LEFT - RIGHT)
    }
}

#[allow(clippy::too_many_arguments)]
fn panel(
    out: &mut String,
    top: f64,
    y_label: &str,
    class: &str,
    rows: &[Row],
    programs: &[String],
    xs: &XScale,
    value: fn(&Row) -> Option<f64>,
) {
    let bottom = top + PANEL_H;
    let right = WIDTH - RIGHT;
    let max = rows.iter().filter_map(value).fold(0.0, f64::max);
    let (y_max, step) = nice_axis(max);
    let y = |v: f64| bottom - (v / y_max) * PANEL_H;
    let _ = writeln!(out, r#"<g class="panel {class}">"#);
    // Grid and y ticks.
    y_grid(out, (LEFT, right), (y_max, step), y);
    // X ticks.
    for &c in &xs.ticks {
        let px = xs.x(c);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{bottom}" x2="{px:.1}" y2="{:.1}" stroke="#444"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{c}</text>"##,
            bottom + 5.0,
            bottom + 18.0
        );
    }
    // Axes and their labels.
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#444"/><line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}" stroke="#444"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">concurrent clients{}</text>"#,
        (LEFT + right) / 2.0,
        bottom + 38.0,
        if xs.log { " (log scale)" } else { "" }
    );
    let _ = writeln!(
        out,
        r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">{}</text>"#,
        LEFT - 62.0,
        top + PANEL_H / 2.0,
        LEFT - 62.0,
        top + PANEL_H / 2.0,
        escape::xml(y_label)
    );
    // Errors are marked where they happened, on the throughput panel: an iterative
    // server keeps its one-client throughput while every other client starves, and the
    // line alone would hide that.
    if class == "throughput" {
        for r in rows.iter().filter(|r| r.errors > 0) {
            let (px, py) = (xs.x(r.clients), y(value(r).unwrap_or(0.0)));
            let _ = writeln!(
                out,
                r##"<circle class="errors" cx="{px:.1}" cy="{py:.1}" r="7" fill="none" stroke="#D00000" stroke-width="1.5"/><text class="errors" x="{:.1}" y="{:.1}" fill="#D00000" font-size="10">{} err</text>"##,
                px + 8.0,
                py - 8.0,
                r.errors
            );
        }
    }
    // One line per program.
    for (i, program) in programs.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| &r.program == program)
            .filter_map(|r| Some((xs.x(r.clients), y(value(r)?))))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let list: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline class="series" data-program="{}" points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            escape::xml(program),
            list.join(" ")
        );
        for (x, y) in points {
            let _ = writeln!(
                out,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{colour}"/>"#
            );
        }
    }
    out.push_str("</g>\n");
}

fn legend(out: &mut String, programs: &[String], errors: bool) {
    let x = WIDTH - RIGHT + 20.0;
    out.push_str("<g class=\"legend\">\n");
    for (i, program) in programs.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let y = TOP + 10.0 + 22.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            x + 24.0,
            x + 30.0,
            y + 4.0,
            escape::xml(program)
        );
    }
    if errors {
        let y = TOP + 10.0 + 22.0 * programs.len() as f64 + 10.0;
        let _ = writeln!(
            out,
            r##"<circle cx="{:.1}" cy="{y}" r="7" fill="none" stroke="#D00000" stroke-width="1.5"/><text x="{}" y="{}" font-size="11">errors: starved or</text><text x="{}" y="{}" font-size="11">failed clients</text>"##,
            x + 12.0,
            x + 30.0,
            y + 4.0,
            x + 30.0,
            y + 18.0
        );
    }
    out.push_str("</g>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_is_escaped() {
        let svg = chart("lab5: GET <1 KiB> & more", &[]);
        assert!(
            svg.contains("<title>lab5: GET &lt;1 KiB&gt; &amp; more</title>"),
            "{svg}"
        );
    }
}
