//! What a rubric is made of: labs, their tests, and how a test can end.
//!
//! Rubrics are static tables (see `labs/`), so `autograder list`, the handouts' rubric
//! tables and the grading run all read one source of truth.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::grade::probe::{Ctx, ProbeResult, Symptom};
use crate::grade::swarm::load::Bench;

/// Who may see a test's result on Gradescope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Always shown to the student.
    Visible,
    /// Never shown to the student.
    Hidden,
    /// Shown once the due date has passed.
    AfterDueDate,
}

impl Visibility {
    /// The word used in rubric listings.
    pub fn label(self) -> &'static str {
        match self {
            Visibility::Visible => "visible",
            Visibility::Hidden => "hidden",
            Visibility::AfterDueDate => "after due date",
        }
    }
}

/// What the harness starts before running a test's probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Start the program as a server, wait until it listens, then probe it as a client.
    Server,
    /// Start nothing: the probe runs the program itself (as a client of a test server).
    Client,
}

/// A probe: a strict black-box client (or server) that checks one behaviour.
pub type Probe = fn(&mut Ctx) -> ProbeResult;

/// One graded behaviour (cloned only to make an effective rubric, see `overrides`).
#[derive(Debug, Clone)]
pub struct TestCase {
    /// Stable identifier, used in `--only`, CSV columns and hints (`echo-short`).
    pub id: &'static str,
    /// The behaviour, stated as a sentence fragment ("echoes a short message byte for byte").
    pub name: &'static str,
    /// Group for `--only` (labs with a server and a client use `server` and `client`).
    pub group: &'static str,
    /// Points awarded when the test passes.
    pub points: u32,
    /// Gradescope visibility.
    pub visibility: Visibility,
    /// What the probe does and checks, for `autograder list` and the handouts.
    pub checks: &'static str,
    /// Hints, from gentle to explicit; the last one usually links documentation.
    pub hints: &'static [&'static str],
    /// Wall-clock budget for the probe (the program's start-up is budgeted separately).
    pub time_limit: Duration,
    /// Whether the harness starts the program as a server first.
    pub kind: Kind,
    /// The check itself.
    pub probe: Probe,
}

impl TestCase {
    /// Whether one `--only` item selects this test: its group, its id, or `server`, which
    /// also selects every test that starts the program as a server whatever its group
    /// (lab 2's server tests are in the groups `echo` and `concurrency`, beside its
    /// `client` group, and a server-only program is graded with `--only server` in every
    /// lab). The one definition the runner selects by and `--only` is checked against.
    pub fn selected_by(&self, item: &str) -> bool {
        self.group == item || self.id == item || (item == "server" && self.kind == Kind::Server)
    }
}

/// A lab: its launch contract and its rubric.
#[derive(Debug)]
pub struct Lab {
    /// Package name of the student stub (`lab1`); the solution is `lab1-solution`.
    pub name: &'static str,
    /// A few words describing the lab.
    pub title: &'static str,
    /// The port the lab's program uses when started without `--port`.
    pub default_port: u16,
    /// The handout, relative to the workspace root.
    pub handout: &'static str,
    /// Arguments appended to a program that uses no placeholders, e.g.
    /// `["--port", "{port}"]`; placeholders are substituted (see `harness::Placeholders`).
    pub server_args: &'static [&'static str],
    /// The tests, in the order they run and are listed.
    pub tests: &'static [TestCase],
    /// Run after every server test that passed: does a new client still get served? A
    /// test passes only if the program is alive and serving at its end.
    pub still_serves: Probe,
    /// Tests whose probe ends the program on purpose (a graceful stop): exempt from the
    /// check above.
    pub ends_program: &'static [&'static str],
    /// Hints by symptom, gentle to explicit, in this lab's terms; `check` prefers them to
    /// a test's own hints, so the same mistake is explained the same way everywhere.
    pub symptom_hints: &'static [(Symptom, &'static [&'static str])],
    /// What `autograder bench` measures for this lab's programs (launched with
    /// [`Lab::server_args`], like a test's).
    pub bench: Bench,
}

impl Lab {
    /// Total points of the rubric.
    pub fn max_points(&self) -> u32 {
        self.tests.iter().map(|t| t.points).sum()
    }

    /// The package name of the reference solution.
    pub fn solution_package(&self) -> String {
        format!("{}-solution", self.name)
    }

    /// The hints for `symptom` in this lab, if it has any.
    pub fn hints_for(&self, symptom: Symptom) -> Option<&'static [&'static str]> {
        self.symptom_hints
            .iter()
            .find(|(s, _)| *s == symptom)
            .map(|(_, hints)| *hints)
    }

    /// The hints for a failure of `test` whose symptom is `symptom`: the lab's hints for
    /// that diagnosis, which are the same in every test the mistake breaks, with the
    /// diagnosis; or, where the lab has none for it, the test's own.
    pub fn hints_for_failure(
        &self,
        test: &TestCase,
        symptom: Option<Symptom>,
    ) -> (&'static [&'static str], Option<Symptom>) {
        match symptom.and_then(|s| self.hints_for(s).map(|h| (h, s))) {
            Some((hints, s)) => (hints, Some(s)),
            None => (test.hints, None),
        }
    }

    /// The test with this id.
    pub fn test(&self, id: &str) -> Option<&'static TestCase> {
        self.tests.iter().find(|t| t.id == id)
    }

    /// The groups used by this lab's tests, in order of first appearance.
    pub fn groups(&self) -> Vec<&'static str> {
        let mut groups: Vec<&'static str> = Vec::new();
        for t in self.tests {
            if !groups.contains(&t.group) {
                groups.push(t.group);
            }
        }
        groups
    }
}

/// How a rubric shows itself: `autograder list` and the handouts' rubric tables.
impl Lab {
    /// The rubric as plain text.
    pub fn as_text(&self) -> String {
        let lab = self;
        let mut out = format!(
            "{} — {} ({} points)\n\n",
            lab.name,
            lab.title,
            lab.max_points()
        );
        for t in lab.tests {
            out.push_str(&format!(
                "{:<22} {:>3} pts  [{}{}]  {}\n{:<22}           checks: {}\n",
                t.id,
                t.points,
                t.group,
                if t.visibility == Visibility::Visible {
                    String::new()
                } else {
                    format!(", {}", t.visibility.label())
                },
                t.name,
                "",
                t.checks
            ));
        }
        out
    }

    /// The rubric as the Markdown table the handouts contain (kept equal by a test).
    pub fn as_markdown(&self) -> String {
        let lab = self;
        let mut out =
            String::from("| id | behaviour | points | what the grader does |\n|---|---|---|---|\n");
        for t in lab.tests {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                t.id, t.name, t.points, t.checks
            ));
        }
        out.push_str(&format!("| | **total** | **{}** | |\n", lab.max_points()));
        out
    }
}
