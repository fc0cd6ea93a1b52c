//! JUnit XML, which CI systems (GitHub Actions, GitLab, Jenkins) display natively.

use crate::grade::report::{escape, text, Tally};
use crate::grade::runner::{Outcome, Report};

/// The report as a JUnit XML document with one `<testsuite>` for the lab.
pub fn xml(report: &Report) -> String {
    let Tally {
        failed: failures,
        skipped,
        not_graded: errors,
        ..
    } = Tally::of(report);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites>\n<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{:.3}\">\n",
        escape::xml(report.lab.name),
        report.results.len(),
        report.elapsed.as_secs_f64()
    ));
    for r in &report.results {
        out.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{} ({} points)\" time=\"{:.3}\">",
            escape::xml(report.lab.name),
            escape::xml(&format!("{}: {}", r.test.id, r.test.name)),
            r.test.points,
            r.elapsed.as_secs_f64()
        ));
        match &r.outcome {
            Outcome::Passed => {}
            Outcome::Skipped(reason) => {
                out.push_str(&format!("<skipped message=\"{}\"/>", escape::xml(reason)))
            }
            // JUnit's distinction exactly: an error is the harness's, a failure the code's.
            Outcome::NotGraded(reason) => {
                out.push_str(&format!("<error message=\"{}\"/>", escape::xml(reason)))
            }
            Outcome::Failed(f) => out.push_str(&format!(
                "<failure message=\"{}\">{}</failure>",
                escape::xml(&f.summary),
                escape::xml(&text::result(report.lab, r, true))
            )),
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n</testsuites>\n");
    out
}
