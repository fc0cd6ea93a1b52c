//! Gradescope's `results.json` format.
//!
//! Schema (Gradescope autograder specifications): a top-level `score`, `execution_time`,
//! `output`, `visibility`, and `tests[]`, each with `name`, `score`, `max_score`,
//! `status` (`passed`/`failed`), `output` and `visibility`. We add the test id as
//! `number`, which Gradescope shows beside the name and uses to order tests.

use serde_json::{json, Value};

use crate::grade::report::text;
use crate::grade::runner::{Outcome, Report};

/// The report as a Gradescope `results.json` value.
pub fn results_json(report: &Report) -> Value {
    let tests: Vec<Value> = report
        .results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let status = match r.outcome {
                Outcome::Passed => "passed",
                // A skipped test is not a pass: it is shown as failed with no points at
                // stake, and its output says why it did not run.
                Outcome::Failed(_) | Outcome::Skipped(_) | Outcome::NotGraded(_) => "failed",
            };
            let detail = text::result(report.lab, r, true);
            json!({
                "name": r.test.name,
                "number": format!("{}.{}", i + 1, r.test.id),
                "score": r.score(),
                "max_score": r.max_score(),
                "status": status,
                "output": detail,
                "visibility": r.test.visibility,
                "tags": [r.test.id, r.test.group],
            })
        })
        .collect();
    json!({
        "score": report.score(),
        "execution_time": report.elapsed.as_secs_f64().ceil() as u64,
        "output": text::summary(report),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    })
}
