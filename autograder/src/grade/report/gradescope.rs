//! Gradescope's `results.json`, as types: [`Results`] is written by `grade --format json`
//! and by `batch`, and read back by the grader's own tests.
//!
//! Schema (Gradescope autograder specifications): a top-level `score`, `execution_time`,
//! `output`, `visibility`, `stdout_visibility` and `tests[]`, each with `name`, `score`,
//! `max_score`, `status` (`passed`/`failed`), `output` and `visibility`. We add the test id
//! as `number`, which Gradescope shows beside the name and uses to order tests, and
//! `tags`: the test's id, then its rubric group.
//!
//! The fields are declared in alphabetical order, the order in which the file has always
//! listed them: a results file written now diffs cleanly against one of an earlier run.

use serde::{Deserialize, Serialize};

use crate::grade::report::text;
use crate::grade::rubric::Visibility;
use crate::grade::runner::{Outcome, Report};

/// A whole `results.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Results {
    /// Whole seconds the grading took, rounded up.
    pub execution_time: u64,
    /// The text shown above the tests: the summary line, after any preamble (such as the
    /// compiler's messages when the build failed).
    pub output: String,
    /// Points earned.
    pub score: u32,
    /// Who sees what the autograder printed: never the student (it is the grader's log).
    pub stdout_visibility: Visibility,
    /// One entry per test, in rubric order.
    pub tests: Vec<Test>,
    /// Who sees the results as a whole.
    pub visibility: Visibility,
}

/// One test's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Test {
    /// Points the test is worth (0 for a test that was skipped or not graded).
    pub max_score: u32,
    /// The rubric's name of the test: the behaviour it checks.
    pub name: String,
    /// `POSITION.ID`, e.g. `2.echo-fragments`: Gradescope orders tests by it.
    pub number: String,
    /// The test's text report: its result line and, under a failure, what was expected,
    /// what arrived, how to reproduce it and the first hint.
    pub output: String,
    /// Points earned.
    pub score: u32,
    /// Passed or failed.
    pub status: Status,
    /// The test's id and group.
    pub tags: Tags,
    /// Who may see this test's result.
    pub visibility: Visibility,
}

/// A test's status as Gradescope knows it: passed or failed, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The behaviour is correct.
    Passed,
    /// Anything else: a failure, a test skipped or not graded (the output says which).
    Failed,
}

/// The two tags we give each test, written as Gradescope's list of strings: `[id, group]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(String, String)", into = "(String, String)")]
pub struct Tags {
    /// The test's stable id (`echo-fragments`).
    pub id: String,
    /// Its rubric group (`echo`).
    pub group: String,
}

impl From<(String, String)> for Tags {
    fn from((id, group): (String, String)) -> Tags {
        Tags { id, group }
    }
}

impl From<Tags> for (String, String) {
    fn from(tags: Tags) -> (String, String) {
        (tags.id, tags.group)
    }
}

impl Results {
    /// The report's `results.json`.
    pub fn of(report: &Report) -> Results {
        let tests = report
            .results
            .iter()
            .enumerate()
            .map(|(i, r)| Test {
                max_score: r.max_score(),
                name: r.test.name.to_string(),
                number: format!("{}.{}", i + 1, r.test.id),
                output: text::result(report.lab, r, true),
                score: r.score(),
                status: match r.outcome {
                    Outcome::Passed => Status::Passed,
                    // A skipped test is not a pass: it is shown as failed with no points at
                    // stake, and its output says why it did not run.
                    Outcome::Failed(_) | Outcome::Skipped(_) | Outcome::NotGraded(_) => {
                        Status::Failed
                    }
                },
                tags: Tags {
                    id: r.test.id.to_string(),
                    group: r.test.group.to_string(),
                },
                visibility: r.test.visibility,
            })
            .collect();
        Results {
            execution_time: report.elapsed.as_secs_f64().ceil() as u64,
            output: text::summary(report),
            score: report.score(),
            stdout_visibility: Visibility::Hidden,
            tests,
            visibility: Visibility::Visible,
        }
    }

    /// Puts `preamble` (e.g. the compiler's messages) above the summary in the top-level
    /// output, as `feedback.txt` has it above the tests.
    pub fn with_preamble(mut self, preamble: &str) -> Results {
        self.output = format!("{}\n\n{}", preamble.trim_end(), self.output);
        self
    }

    /// The file's text: pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results always encode")
    }

    /// The test with id `id`.
    pub fn test(&self, id: &str) -> Option<&Test> {
        self.tests.iter().find(|t| t.tags.id == id)
    }

    /// The ids of the tests with `status`, in rubric order.
    pub fn ids_with(&self, status: Status) -> Vec<&str> {
        self.tests
            .iter()
            .filter(|t| t.status == status)
            .map(|t| t.tags.id.as_str())
            .collect()
    }

    /// The points at stake: the sum of the tests' `max_score`.
    pub fn max_score(&self) -> u32 {
        self.tests.iter().map(|t| t.max_score).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_written_in_gradescopes_words_and_read_back_whole() {
        let report = crate::grade::report::sample_report();
        let results = Results::of(&report);
        let json = results.to_json();
        // Gradescope's own spelling, literally: the structs cannot check their own names.
        for key in [
            "\"execution_time\": 2",
            "\"stdout_visibility\": \"hidden\"",
            "\"visibility\": \"visible\"",
            "\"status\": \"passed\"",
            "\"status\": \"failed\"",
            "\"max_score\": 0",
            "\"number\": \"2.",
        ] {
            assert!(json.contains(key), "{key} missing from:\n{json}");
        }
        let first = &report.results[0].test;
        assert!(
            json.contains(&format!(
                "\"tags\": [\n        \"{}\",\n        \"{}\"\n      ]",
                first.id, first.group
            )),
            "tags are a list of two strings:\n{json}"
        );
        let back: Results = serde_json::from_str(&json).unwrap();
        assert_eq!(back, results);
        assert_eq!(back.ids_with(Status::Passed), [first.id]);
        assert_eq!(back.score, report.score());
        assert_eq!(back.max_score(), report.max_score());
    }

    #[test]
    fn a_preamble_goes_above_the_summary() {
        let results = Results::of(&crate::grade::report::sample_report())
            .with_preamble("did not build\nerror[E0308]\n");
        assert!(
            results
                .output
                .starts_with("did not build\nerror[E0308]\n\nlab1: "),
            "{}",
            results.output
        );
    }
}
