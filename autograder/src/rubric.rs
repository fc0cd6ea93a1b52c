//! What a rubric is made of: labs, their tests, and how a test can end.
//!
//! Rubrics are static tables (see `labs/`), so `autograder list`, the handouts' rubric
//! tables and the grading run all read one source of truth.

use std::time::Duration;

use serde::Serialize;

use crate::probe::Ctx;

/// Who may see a test's result on Gradescope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// How a probe ends when it does not pass.
#[derive(Debug)]
pub enum Verdict {
    /// The program misbehaved; the failure says how.
    Fail(Failure),
    /// The test cannot run here (e.g. no `/proc`); it is reported, never counted as passed.
    Skip(String),
}

/// What a probe returns.
pub type ProbeResult = Result<(), Verdict>;

/// A probe: a strict black-box client (or server) that checks one behaviour.
pub type Probe = fn(&mut Ctx) -> ProbeResult;

impl From<Failure> for Verdict {
    fn from(f: Failure) -> Verdict {
        Verdict::Fail(f)
    }
}

/// What a failure looks like from outside, whichever test saw it. `check` chooses its
/// hint from the symptom (through the lab's [`Lab::symptom_hints`]), so one mistake gets
/// one explanation in every test it breaks, instead of each test's own guesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Symptom {
    /// Bytes arrived changed into EF BF BD: a conversion of bytes to text.
    TextConversion,
    /// Bytes arrived changed in some other way.
    BytesAltered,
    /// A stretch of bytes is missing and later ones arrived: a write's count ignored.
    BytesSkipped,
    /// What arrived stops right after a newline, and more was due: the program works in
    /// lines, and the bytes after the last newline are held back or lost.
    StoppedAtLineEnd,
    /// The program closed the connection before everything arrived.
    ClosedEarly,
    /// Part of what was due never arrived, and the connection stayed open.
    WentSilent,
    /// The program never closed a connection it should have closed.
    NeverClosed,
    /// A client could not connect.
    Refused,
    /// The program (or a thread of it) crashed during the test.
    Crashed,
    /// The program exited during the test, without a crash message.
    Exited,
    /// A client was kept waiting while the program served another.
    Stalled,
}

impl Symptom {
    /// A few words, for the streak file and messages.
    pub fn label(self) -> &'static str {
        match self {
            Symptom::TextConversion => "bytes converted to text",
            Symptom::BytesAltered => "bytes altered",
            Symptom::BytesSkipped => "bytes skipped",
            Symptom::StoppedAtLineEnd => "stopped at a line end",
            Symptom::ClosedEarly => "closed early",
            Symptom::WentSilent => "went silent",
            Symptom::NeverClosed => "never closed",
            Symptom::Refused => "connection refused",
            Symptom::Crashed => "crashed",
            Symptom::Exited => "exited",
            Symptom::Stalled => "stalled",
        }
    }
}

/// A failed check, with everything a student needs to understand and reproduce it.
///
/// Boxed, so that the many `Result<_, Failure>` values in probes stay one pointer wide.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Failure(Box<FailureDetails>);

impl std::ops::Deref for Failure {
    type Target = FailureDetails;
    fn deref(&self) -> &FailureDetails {
        &self.0
    }
}

impl std::ops::DerefMut for Failure {
    fn deref_mut(&mut self) -> &mut FailureDetails {
        &mut self.0
    }
}

/// The contents of a [`Failure`].
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FailureDetails {
    /// One sentence: what went wrong.
    pub summary: String,
    /// What the program should have done or sent.
    pub expected: Option<String>,
    /// What it did or sent instead.
    pub got: Option<String>,
    /// Further lines of explanation.
    pub details: Vec<String>,
    /// The `>`/`<` transcript of the conversation, already formatted.
    pub transcript: Vec<String>,
    /// A shell command that reproduces the situation by hand.
    pub reproduce: Option<String>,
    /// What the failure looks like from outside (see [`Symptom`]), when known.
    #[serde(default)]
    pub symptom: Option<Symptom>,
}

impl Failure {
    /// A failure described by one sentence.
    pub fn new(summary: impl Into<String>) -> Failure {
        Failure(Box::new(FailureDetails {
            summary: summary.into(),
            ..FailureDetails::default()
        }))
    }

    /// Sets what was expected.
    pub fn expected(mut self, s: impl Into<String>) -> Failure {
        self.expected = Some(s.into());
        self
    }

    /// Sets what arrived instead.
    pub fn got(mut self, s: impl Into<String>) -> Failure {
        self.got = Some(s.into());
        self
    }

    /// Adds a line of explanation.
    pub fn detail(mut self, s: impl Into<String>) -> Failure {
        self.details.push(s.into());
        self
    }

    /// Says what the failure looks like from outside. The last one set wins: a probe
    /// that knows the context (a client kept waiting) overrides what its byte comparison
    /// saw (an echo that went silent).
    pub fn symptom(mut self, symptom: Symptom) -> Failure {
        self.symptom = Some(symptom);
        self
    }

    /// Sets the command that reproduces the failure by hand (kept if one is set already).
    pub fn reproduce(mut self, cmd: impl Into<String>) -> Failure {
        self.reproduce.get_or_insert_with(|| cmd.into());
        self
    }
}

/// One graded behaviour.
#[derive(Debug)]
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
