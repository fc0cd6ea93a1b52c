//! What the grader's SVG charts share (the bench graph, [`crate::cmd::bench`], and the
//! captures' I/O graphs, [`crate::cmd::iograph`]): the line colours, "nice" axes and tick
//! labels. Each chart is hand-written SVG text: two kinds of line chart do not need a
//! plotting library, and text output stays byte-stable for tests.

/// Colour-blind-friendly line colours (Okabe–Ito), cycled when there are more lines.
pub const COLOURS: &[&str] = &[
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
];

/// A "nice" upper bound and tick step (1, 2 or 5 times a power of ten).
pub fn nice_axis(max: f64) -> (f64, f64) {
    if max.is_nan() || max <= 0.0 || max.is_infinite() {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

/// A tick's label: `15k` or `5M` for round large values, as many decimals as the step
/// needs.
pub fn format_tick(v: f64, step: f64) -> String {
    if v >= 1_000_000.0 && (v / 100_000.0).fract() == 0.0 {
        format!("{}M", v / 1_000_000.0)
    } else if v >= 10_000.0 && v.fract() == 0.0 {
        format!("{:.0}k", v / 1000.0)
    } else if step >= 1.0 {
        format!("{v:.0}")
    } else {
        let digits = (-step.log10().floor()) as usize;
        format!("{v:.digits$}")
    }
}

/// A panel's horizontal grid lines from 0 to `y_max`, one per `step`, each labelled at
/// the left of `left`; `y` maps a value to its pixel row.
pub fn y_grid(
    out: &mut String,
    (left, right): (f64, f64),
    (y_max, step): (f64, f64),
    y: impl Fn(f64) -> f64,
) {
    use std::fmt::Write as _;
    let mut v = 0.0;
    while v <= y_max + step / 2.0 {
        let py = y(v);
        let _ = writeln!(
            out,
            r##"<line x1="{left}" y1="{py:.1}" x2="{right}" y2="{py:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left - 6.0,
            py + 4.0,
            format_tick(v, step)
        );
        v += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axes_round_up_to_1_2_5_steps() {
        assert_eq!(nice_axis(93.0), (100.0, 20.0));
        assert_eq!(nice_axis(12_345.0), (15_000.0, 5_000.0));
        assert_eq!(nice_axis(0.0), (1.0, 0.2));
    }

    #[test]
    fn large_ticks_are_short() {
        assert_eq!(format_tick(15_000.0, 5_000.0), "15k");
        assert_eq!(format_tick(5_000_000.0, 1_000_000.0), "5M");
        assert_eq!(format_tick(2_500_000.0, 500_000.0), "2.5M");
        assert_eq!(format_tick(0.4, 0.2), "0.4");
    }
}
