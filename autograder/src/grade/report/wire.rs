//! A report as it travels from a grading worker to `batch`: JSON on the worker's standard
//! output, a pipe only the two of them hold.
//!
//! Why a wire format instead of files: a file the worker writes is a file a submission
//! might write too. The worker writes nothing to disk; `batch` receives the report over the
//! pipe, checks it against the rubric it asked for, and writes every report itself.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::grade::probe::Failure;
use crate::grade::rubric::Lab;
use crate::grade::runner::{Outcome, Report, TestResult};

/// One test's result on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct WireResult {
    id: String,
    outcome: WireOutcome,
    elapsed_ms: u64,
    program_output: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireOutcome {
    Passed,
    Failed(Failure),
    Skipped(String),
    NotGraded(String),
}

/// A whole report on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct WireReport {
    lab: String,
    program: String,
    seed: u64,
    elapsed_ms: u64,
    results: Vec<WireResult>,
}

/// Encodes `report` as one line of JSON.
pub fn encode(report: &Report) -> String {
    let wire = WireReport {
        lab: report.lab.name.to_string(),
        program: report.program.clone(),
        seed: report.seed,
        elapsed_ms: report.elapsed.as_millis() as u64,
        results: report
            .results
            .iter()
            .map(|r| WireResult {
                id: r.test.id.to_string(),
                outcome: match &r.outcome {
                    Outcome::Passed => WireOutcome::Passed,
                    Outcome::Failed(f) => WireOutcome::Failed(f.clone()),
                    Outcome::Skipped(why) => WireOutcome::Skipped(why.clone()),
                    Outcome::NotGraded(why) => WireOutcome::NotGraded(why.clone()),
                },
                elapsed_ms: r.elapsed.as_millis() as u64,
                program_output: r.program_output.clone(),
            })
            .collect(),
    };
    serde_json::to_string(&wire).expect("a report always encodes")
}

/// Decodes a worker's report of `lab`, which must hold exactly the tests `expected` (in
/// that order) and carry `seed`: anything else is not a report of the run that was asked
/// for.
///
/// # Errors
/// A sentence saying what is wrong with it.
pub fn decode(
    text: &str,
    lab: &'static Lab,
    expected: &[&'static crate::grade::rubric::TestCase],
    seed: u64,
) -> Result<Report, String> {
    let wire: WireReport =
        serde_json::from_str(text.trim()).map_err(|e| format!("unreadable report: {e}"))?;
    if wire.lab != lab.name || wire.seed != seed {
        return Err(format!(
            "a report of {} with seed {} where {} with seed {seed} was asked for",
            wire.lab, wire.seed, lab.name
        ));
    }
    let ids: Vec<&str> = wire.results.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<&str> = expected.iter().map(|t| t.id).collect();
    if ids != want {
        return Err(format!(
            "the report holds tests [{}], not [{}]",
            ids.join(", "),
            want.join(", ")
        ));
    }
    let results = wire
        .results
        .into_iter()
        .zip(expected)
        .map(|(r, &test)| TestResult {
            test,
            outcome: match r.outcome {
                WireOutcome::Passed => Outcome::Passed,
                WireOutcome::Failed(f) => Outcome::Failed(f),
                WireOutcome::Skipped(why) => Outcome::Skipped(why),
                WireOutcome::NotGraded(why) => Outcome::NotGraded(why),
            },
            elapsed: Duration::from_millis(r.elapsed_ms),
            program_output: r.program_output,
        })
        .collect();
    Ok(Report {
        lab,
        program: wire.program,
        seed,
        results,
        elapsed: Duration::from_millis(wire.elapsed_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_survives_the_trip() {
        let report = crate::grade::report::sample_report();
        let lab = report.lab;
        let tests: Vec<_> = lab.tests.iter().take(3).collect();
        let back = decode(&encode(&report), lab, &tests, 7).unwrap();
        assert_eq!(back.score(), report.score());
        assert_eq!(
            crate::grade::report::text::full(&back, true),
            crate::grade::report::text::full(&report, true)
        );
    }

    #[test]
    fn the_graders_trouble_is_not_a_grade_anywhere() {
        let mut report = crate::grade::report::sample_report();
        report.results[1].outcome = Outcome::NotGraded("the grader found no free port".into());
        let lab = report.lab;
        let tests: Vec<_> = lab.tests.iter().take(3).collect();
        let back = decode(&encode(&report), lab, &tests, 7).unwrap();
        assert!(back.could_not_grade());
        assert_eq!(back.exit_code(), std::process::ExitCode::from(2));
        // Not counted against the student: no points at stake for it.
        assert_eq!(back.max_score(), lab.tests[0].points);
        let text = crate::grade::report::text::full(&back, true);
        assert!(
            text.contains("could not grade: the grader found no free port"),
            "{text}"
        );
        assert!(text.contains("not your program's"), "{text}");
        let junit = crate::grade::report::junit::xml(&back);
        assert!(
            junit.contains("errors=\"1\"") && junit.contains("<error message="),
            "{junit}"
        );
        assert!(junit.contains("failures=\"0\""), "{junit}");
    }

    #[test]
    fn a_report_of_another_run_is_refused() {
        let report = crate::grade::report::sample_report();
        let lab = report.lab;
        let tests: Vec<_> = lab.tests.iter().take(3).collect();
        let text = encode(&report);
        assert!(decode(&text, lab, &tests, 8).unwrap_err().contains("seed"));
        assert!(decode(&text, lab, &tests[..1], 7)
            .unwrap_err()
            .contains("holds tests"));
        assert!(decode("{\"score\": 50}", lab, &tests, 7).is_err());
    }
}
