//! Turning a grading [`Report`] into what people read: text ([`text`]), Gradescope's
//! `results.json` ([`gradescope`]), JUnit XML ([`junit`]), and the report's trip from a
//! grading worker to `batch` ([`wire`]). [`escape`] holds the quoting rules of the formats
//! reports and tables are written in (XML, CSV). A new report format goes here, beside
//! them.

pub mod escape;
pub mod gradescope;
pub mod junit;
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
