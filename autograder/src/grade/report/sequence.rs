//! A failing test's exchange drawn as a two-lane sequence diagram, in SVG for an HTML
//! page: the grader on the left, the program on the right (each lane titled with its role:
//! the grader is the client in a server test, the test server in a client test), one
//! row per event from top to bottom with its time, the bytes each way, the FINs and RSTs,
//! and at the bottom, where the test gave up, what was expected there.
//!
//! Rows are evenly spaced rather than drawn to scale: a test that waits 5 s for one byte
//! would otherwise be one long empty line. Gaps of a second or more get a row of their
//! own that says how long nothing happened.
//!
//! Everything drawn from the exchange (previews of the program's bytes, its error
//! messages) goes through [`escape::html`]; no identifiers are written, so several
//! diagrams sit on one page without clashing.

use crate::grade::probe::bytes;
use crate::grade::probe::transcript::{Event, Exchange, Side, Step, Timed, PREVIEW};
use crate::grade::probe::FailureDetails;
use crate::grade::report::escape;

/// The drawing's width, in pixels (the page scales it down on a narrow screen).
const WIDTH: u32 = 860;
/// Where the grader's lifeline runs.
const GRADER_X: u32 = 210;
/// Where the program's lifeline runs.
const PROGRAM_X: u32 = 760;
/// Where the first row starts, below the lane titles.
const TOP: u32 = 52;
/// The height of one row.
const ROW: u32 = 30;
/// The height of one line of text in the failure box.
const LINE: u32 = 17;
/// How many characters of monospace text fit between the lifelines.
const LABEL_CHARS: usize = 76;
/// A gap between two events that gets a row of its own, in microseconds.
const LONG_GAP_US: u64 = 1_000_000;

/// How a row of the diagram looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Bytes.
    Data,
    /// Connecting.
    Control,
    /// A FIN.
    Fin,
    /// An RST, or a connection that could not be made.
    Reset,
}

impl Style {
    fn class(self) -> &'static str {
        match self {
            Style::Data => "sq-data",
            Style::Control => "sq-control",
            Style::Fin => "sq-fin",
            Style::Reset => "sq-rst",
        }
    }
}

/// One drawn row.
#[derive(Debug)]
enum Row {
    /// An arrow from one lane to the other; `broken` ends half-way with a cross (a
    /// connection refused).
    Arrow {
        at_us: u64,
        by_grader: bool,
        label: String,
        style: Style,
        broken: bool,
    },
    /// A note beside the grader's lifeline (what it saw go wrong, or did on purpose).
    Note { at_us: u64, label: String },
    /// Text across the diagram: a long gap, or events not kept.
    Aside { label: String },
}

/// The rows of an exchange.
fn rows(exchange: &Exchange) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut last_us: Option<u64> = None;
    for step in exchange.steps() {
        let timed = match step {
            Step::Event(timed) => timed,
            Step::NotShown(n) => {
                rows.push(Row::Aside {
                    label: format!("… {n} more events not shown …"),
                });
                last_us = None;
                continue;
            }
        };
        if let Some(last) = last_us {
            if timed.at_us.saturating_sub(last) >= LONG_GAP_US {
                rows.push(Row::Aside {
                    label: format!("… {} with nothing sent …", duration(timed.at_us - last)),
                });
            }
        }
        last_us = Some(timed.until_us);
        rows.push(row(timed, exchange.grader));
    }
    rows
}

/// The row of one event, in an exchange where the grader is the `grader` end.
fn row(timed: &Timed, grader: Side) -> Row {
    let at_us = timed.at_us;
    let conn = &timed.conn;
    let arrow = |by_grader: bool, label: String, style: Style| Row::Arrow {
        at_us,
        by_grader,
        label: format!("{conn}  {label}"),
        style,
        broken: false,
    };
    match &timed.event {
        Event::Connect { small_buffer } => arrow(
            true,
            if *small_buffer {
                "connect (SYN; small receive buffer)".into()
            } else {
                "connect (SYN)".into()
            },
            Style::Control,
        ),
        Event::Accepted => arrow(false, "connect (SYN)".into(), Style::Control),
        Event::ConnectFailed { error } => Row::Arrow {
            at_us,
            by_grader: true,
            label: format!("{conn}  connect failed: {error}"),
            style: Style::Reset,
            broken: true,
        },
        Event::Data {
            from,
            count,
            preview,
        } => {
            let spread = timed.until_us.saturating_sub(timed.at_us);
            let over = if spread >= 1000 {
                format!(", over {}", duration(spread))
            } else {
                String::new()
            };
            let shown = bytes::escape(preview, PREVIEW);
            let more = if *count > preview.len() { "…" } else { "" };
            arrow(
                *from == grader,
                format!("{count} {}{over}  {shown}{more}", plural(*count, "byte")),
                Style::Data,
            )
        }
        Event::HalfClose => arrow(true, "FIN (half-close)".into(), Style::Fin),
        Event::Close => arrow(true, "FIN (close)".into(), Style::Fin),
        Event::Reset => arrow(true, "RST (reset)".into(), Style::Reset),
        Event::Eof => arrow(false, "FIN (the program closed)".into(), Style::Fin),
        Event::Failed {
            error, reset: true, ..
        } => arrow(false, format!("RST ({error})"), Style::Reset),
        other => Row::Note {
            at_us,
            label: format!("{conn}  {}", other.line(grader).1),
        },
    }
}

/// The diagram of `exchange`, ending with what `failure` expected; `title` names it for
/// screen readers. Empty when nothing was recorded.
pub fn diagram(exchange: &Exchange, failure: &FailureDetails, title: &str) -> String {
    if exchange.is_empty() {
        return String::new();
    }
    let rows = rows(exchange);
    let mut failure_lines = vec![format!("✗ {}", failure.summary)];
    if let Some(e) = &failure.expected {
        failure_lines.push(format!("expected: {e}"));
    }
    if let Some(g) = &failure.got {
        failure_lines.push(format!("received: {g}"));
    }
    failure_lines.push(totals(exchange));
    let box_top = TOP + ROW * rows.len() as u32 + 10;
    let box_height = LINE * failure_lines.len() as u32 + 12;
    let height = box_top + box_height + 12;
    let mut svg = format!(
        "<svg class=\"sequence\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"{WIDTH}\" height=\"{height}\" role=\"img\">\n<title>{}</title>\n",
        escape::html(title)
    );
    // The lanes: titles and lifelines.
    let names = match exchange.grader {
        Side::Client => ["grader (client)", "your program (server)"],
        Side::Server => ["grader (test server)", "your program (client)"],
    };
    for (x, name) in [(GRADER_X, names[0]), (PROGRAM_X, names[1])] {
        svg.push_str(&format!(
            "<text class=\"sq-lane\" x=\"{x}\" y=\"20\" text-anchor=\"middle\">{name}</text>\n\
             <line class=\"sq-life\" x1=\"{x}\" y1=\"30\" x2=\"{x}\" y2=\"{}\"/>\n",
            box_top - 4
        ));
    }
    svg.push_str("<text class=\"sq-time\" x=\"8\" y=\"20\">time</text>\n");
    // Where the test went wrong, when the exchange ends with the grader's trouble.
    let marked = matches!(rows.last(), Some(Row::Note { .. })).then(|| rows.len() - 1);
    for (i, r) in rows.iter().enumerate() {
        let y = TOP + ROW * i as u32;
        svg.push_str(&draw(r, y, marked == Some(i)));
    }
    // The failure, where the exchange ends.
    svg.push_str(&format!(
        "<text class=\"sq-time\" x=\"8\" y=\"{}\">{}</text>\n\
         <rect class=\"sq-failure\" x=\"{}\" y=\"{box_top}\" width=\"{}\" height=\"{box_height}\" rx=\"4\"/>\n",
        box_top + 16,
        time(exchange.ended_us),
        GRADER_X - 40,
        PROGRAM_X - GRADER_X + 80
    ));
    for (k, line) in failure_lines.iter().enumerate() {
        svg.push_str(&format!(
            "<text class=\"sq-failure-text\" x=\"{}\" y=\"{}\">{}</text>\n",
            GRADER_X - 30,
            box_top + 18 + LINE * k as u32,
            escape::html(&fit(line, LABEL_CHARS + 10))
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// One row's drawing, with its top at `y`; `marked` rows are where the test went wrong.
fn draw(r: &Row, y: u32, marked: bool) -> String {
    match r {
        Row::Arrow {
            at_us,
            by_grader,
            label,
            style,
            broken,
        } => {
            let (x1, x2) = if *by_grader {
                (GRADER_X, PROGRAM_X)
            } else {
                (PROGRAM_X, GRADER_X)
            };
            // A little slope: what is sent arrives a moment later.
            let (y1, y2) = (y + 14, y + 22);
            let end = if *broken { (x1 + x2) / 2 } else { x2 };
            let class = style.class();
            let mut out = format!(
                "<text class=\"sq-time\" x=\"8\" y=\"{}\">{}</text>\n\
                 <text class=\"{class}\" x=\"{}\" y=\"{}\">{}</text>\n\
                 <line class=\"{class}\" x1=\"{x1}\" y1=\"{y1}\" x2=\"{end}\" y2=\"{}\"/>\n",
                y + 18,
                time(*at_us),
                GRADER_X + 10,
                y + 9,
                escape::html(&fit(label, LABEL_CHARS)),
                if *broken { (y1 + y2) / 2 } else { y2 },
            );
            if *broken {
                let (cx, cy) = (end, (y1 + y2) / 2);
                out.push_str(&format!(
                    "<path class=\"{class}\" d=\"M{} {} L{} {} M{} {} L{} {}\"/>\n",
                    cx - 5,
                    cy - 5,
                    cx + 5,
                    cy + 5,
                    cx - 5,
                    cy + 5,
                    cx + 5,
                    cy - 5
                ));
            } else {
                // The arrowhead, pointing along the line.
                let back = if x2 > x1 { x2 - 9 } else { x2 + 9 };
                out.push_str(&format!(
                    "<polygon class=\"{class} sq-head\" points=\"{x2},{y2} {back},{} {back},{}\"/>\n",
                    y2 - 5,
                    y2 + 3
                ));
            }
            out
        }
        Row::Note { at_us, label } => {
            let text = fit(label, LABEL_CHARS);
            let width = 14 + 7 * text.chars().count() as u32;
            format!(
                "<text class=\"sq-time\" x=\"8\" y=\"{}\">{}</text>\n\
                 <rect class=\"sq-note{}\" x=\"{}\" y=\"{}\" width=\"{width}\" height=\"22\" rx=\"3\"/>\n\
                 <text class=\"sq-trouble\" x=\"{}\" y=\"{}\">{}</text>\n",
                y + 18,
                time(*at_us),
                if marked { " sq-marked" } else { "" },
                GRADER_X + 6,
                y + 3,
                GRADER_X + 13,
                y + 18,
                escape::html(&text)
            )
        }
        Row::Aside { label } => format!(
            "<text class=\"sq-aside\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            (GRADER_X + PROGRAM_X) / 2,
            y + 18,
            escape::html(label)
        ),
    }
}

/// How many bytes went each way before the test gave up (at least, when events were
/// dropped from the middle).
fn totals(exchange: &Exchange) -> String {
    let at_least = if exchange.dropped > 0 {
        "at least "
    } else {
        ""
    };
    format!(
        "by then: the grader sent {at_least}{} bytes, your program {at_least}{}",
        exchange.bytes_from(exchange.grader),
        exchange.bytes_from(exchange.program())
    )
}

/// `text` cut to `max` characters, ending in `…` when cut.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// A time since the probe started: `12.3 ms`, `2.041 s`.
fn time(us: u64) -> String {
    if us < 10_000_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.3} s", us as f64 / 1e6)
    }
}

/// A duration for a sentence: `340 ms`, `5.0 s`.
fn duration(us: u64) -> String {
    if us < 1_000_000 {
        format!("{} ms", us / 1000)
    } else {
        format!("{:.1} s", us as f64 / 1e6)
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::probe::transcript::{Call, Transcript};

    fn sample() -> (Exchange, FailureDetails) {
        let t = Transcript::default();
        t.event(
            "c1",
            Event::Connect {
                small_buffer: false,
            },
        );
        t.data("c1", Side::Client, b"hello\n");
        t.event("c1", Event::HalfClose);
        t.data("c1", Side::Server, b"</script><img src=x onerror=alert(1)>");
        t.event(
            "c1",
            Event::Failed {
                call: Call::Receive,
                error: "Connection reset by peer".into(),
                reset: true,
            },
        );
        t.event("c2", Event::Silence { waited_ms: 5000 });
        let failure = crate::grade::probe::Failure::new("the echo on c1 does not match")
            .expected("b\"hello\\n\" (6 bytes)")
            .got("b\"<b>\"");
        (t.exchange(), (*failure).clone())
    }

    #[test]
    fn each_event_is_a_row_in_its_lane_with_its_time() {
        let (exchange, failure) = sample();
        let svg = diagram(&exchange, &failure, "echo-short");
        assert!(svg.starts_with("<svg class=\"sequence\""), "{svg}");
        assert!(svg.contains("c1  connect (SYN)"), "{svg}");
        assert!(svg.contains("c1  6 bytes  b&quot;hello\\n&quot;"), "{svg}");
        assert!(svg.contains("c1  FIN (half-close)"), "{svg}");
        assert!(svg.contains("c1  RST (Connection reset by peer)"), "{svg}");
        assert!(svg.contains("class=\"sq-note sq-marked\""), "{svg}");
        assert!(
            svg.contains("expected: b&quot;hello\\n&quot; (6 bytes)"),
            "{svg}"
        );
        assert!(svg.contains(" ms</text>"), "{svg}");
        assert!(
            svg.contains("by then: the grader sent 6 bytes, your program 37"),
            "{svg}"
        );
        // Arrows from the server run right to left.
        assert_eq!(
            svg.matches("class=\"sq-rst\" x1=\"760\"").count(),
            1,
            "{svg}"
        );
    }

    #[test]
    fn the_programs_bytes_are_text_in_the_drawing() {
        let (exchange, failure) = sample();
        let svg = diagram(&exchange, &failure, "<title>");
        assert!(!svg.contains("<img"), "{svg}");
        assert!(!svg.contains("</script>"), "{svg}");
        assert!(
            svg.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"),
            "{svg}"
        );
        assert!(svg.contains("<title>&lt;title&gt;</title>"), "{svg}");
        assert!(svg.contains("received: b&quot;&lt;b&gt;&quot;"), "{svg}");
    }

    #[test]
    fn in_a_client_test_the_program_is_the_client_lane() {
        let t = Transcript::default();
        t.grader_is(Side::Server);
        t.event("c1", Event::Accepted);
        t.data("c1", Side::Client, b"ping");
        t.event(
            "c1",
            Event::OnPurpose {
                what: "altered byte 2 of the echo".into(),
            },
        );
        t.data("c1", Side::Server, b"pi?g");
        t.event("c1", Event::HalfClose);
        let failure = crate::grade::probe::Failure::new("exited with status 0 after a mismatch");
        let svg = diagram(&t.exchange(), &failure, "client-mismatch");
        assert!(svg.contains(">grader (test server)</text>"), "{svg}");
        assert!(svg.contains(">your program (client)</text>"), "{svg}");
        // The program's connect and bytes run from its lane (right) to the grader's.
        assert!(
            svg.contains("class=\"sq-control\" x1=\"760\" y1=\"66\" x2=\"210\""),
            "{svg}"
        );
        assert!(svg.contains("c1  4 bytes  b&quot;ping&quot;"), "{svg}");
        assert!(svg.contains("c1  on purpose: altered byte 2"), "{svg}");
        assert!(
            svg.contains("by then: the grader sent 4 bytes, your program 4"),
            "{svg}"
        );
    }

    #[test]
    fn nothing_recorded_draws_nothing() {
        let failure = FailureDetails::default();
        assert_eq!(diagram(&Exchange::default(), &failure, "x"), "");
    }
}
