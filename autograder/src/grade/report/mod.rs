//! Turning a grading [`Report`] into what people read: text ([`text`]), Gradescope's
//! `results.json` ([`gradescope`]), JUnit XML ([`junit`]), HTML pages ([`html`]: a
//! student's feedback, with each failing exchange drawn by [`sequence`]; and the class
//! report, [`class_report`]), and the report's trip from a grading worker to `batch`
//! ([`wire`]). [`escape`] holds the quoting rules of the formats reports and tables are
//! written in (XML, HTML, CSV, URL paths). A new report format goes here, beside them.

pub mod class_report;
pub mod escape;
pub mod gradescope;
pub mod html;
pub mod junit;
pub mod sequence;
pub mod text;
pub mod wire;

use crate::grade::runner::{Outcome, Report};

/// How many tests of a report ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Passed.
    pub passed: usize,
    /// Failed: a verdict on the program.
    pub failed: usize,
    /// Could not run on this machine.
    pub skipped: usize,
    /// Not graded: the grader's own trouble.
    pub not_graded: usize,
}

impl Tally {
    /// Counts `report`'s results.
    pub fn of(report: &Report) -> Tally {
        let mut tally = Tally::default();
        for r in &report.results {
            match r.outcome {
                Outcome::Passed => tally.passed += 1,
                Outcome::Failed(_) => tally.failed += 1,
                Outcome::Skipped(_) => tally.skipped += 1,
                Outcome::NotGraded(_) => tally.not_graded += 1,
            }
        }
        tally
    }

    /// The tests that ran and got a verdict (passed or failed).
    pub fn ran(&self) -> usize {
        self.passed + self.failed
    }
}

/// A lab 1 report of its first three tests, for the formats' tests: one passed, one failed
/// (with what was expected, what arrived, and the program's last words, as a crash's
/// failure has them), one skipped.
#[cfg(test)]
pub(crate) fn sample_report() -> Report {
    use std::time::Duration;
    let outcomes = [
        Outcome::Passed,
        Outcome::Failed(
            crate::grade::probe::Failure::new("no echo")
                .expected("abc")
                .got("ab"),
        ),
        Outcome::Skipped("no /proc here".into()),
    ];
    let lab = crate::grade::labs::find("lab1").unwrap();
    let results = lab
        .tests
        .iter()
        .zip(outcomes)
        .map(|(test, outcome)| crate::grade::runner::TestResult {
            test,
            program_output: matches!(outcome, Outcome::Failed(_))
                .then(|| "panicked at src/echo.rs:3".to_string()),
            outcome,
            elapsed: Duration::from_millis(120),
        })
        .collect();
    Report {
        lab,
        program: "./server".into(),
        seed: 7,
        results,
        elapsed: Duration::from_millis(1300),
    }
}
