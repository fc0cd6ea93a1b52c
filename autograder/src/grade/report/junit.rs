//! JUnit XML, which CI systems (GitHub Actions, GitLab, Jenkins) display natively.

use crate::grade::report::text;
use crate::grade::runner::{Outcome, Report};

/// The report as a JUnit XML document with one `<testsuite>` for the lab.
pub fn xml(report: &Report) -> String {
    let failures = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    let skipped = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .count();
    let errors = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::NotGraded(_)))
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites>\n<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{:.3}\">\n",
        escape(report.lab.name),
        report.results.len(),
        report.elapsed.as_secs_f64()
    ));
    for r in &report.results {
        out.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{} ({} points)\" time=\"{:.3}\">",
            escape(report.lab.name),
            escape(&format!("{}: {}", r.test.id, r.test.name)),
            r.test.points,
            r.elapsed.as_secs_f64()
        ));
        match &r.outcome {
            Outcome::Passed => {}
            Outcome::Skipped(reason) => {
                out.push_str(&format!("<skipped message=\"{}\"/>", escape(reason)))
            }
            // JUnit's distinction exactly: an error is the harness's, a failure the code's.
            Outcome::NotGraded(reason) => {
                out.push_str(&format!("<error message=\"{}\"/>", escape(reason)))
            }
            Outcome::Failed(f) => out.push_str(&format!(
                "<failure message=\"{}\">{}</failure>",
                escape(&f.summary),
                escape(&text::result(report.lab, r, true))
            )),
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n</testsuites>\n");
    out
}

/// Escapes text for XML attributes and content, dropping characters XML cannot carry.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
