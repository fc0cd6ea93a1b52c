//! How a probe ends: a pass, a failure that says what crossed the wire and what it looks
//! like from outside ([`Symptom`]), or a skip when the test cannot run here.
//!
//! These types belong to the probe layer: probes build them, the runner records them and
//! the reports render them; the rubric only names which probe runs.

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

impl From<Failure> for Verdict {
    fn from(f: Failure) -> Verdict {
        Verdict::Fail(f)
    }
}

/// A fact about the program that this system cannot tell (no `/proc`) skips the test that
/// needs it: `let threads = server.threads()?;` in a probe.
impl From<crate::os::process::Unknown> for Verdict {
    fn from(unknown: crate::os::process::Unknown) -> Verdict {
        Verdict::Skip(unknown.to_string())
    }
}

/// What a failure looks like from outside, whichever test saw it. `check` chooses its
/// hint from the symptom (through the lab's [`Lab::symptom_hints`]), so one mistake gets
/// one explanation in every test it breaks, instead of each test's own guesses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
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
    /// A client program reported a failure although every byte came back unchanged.
    FalseAlarm,
    /// A client program made its connections one after another, not all at once.
    Serial,
    /// A client program crashed (a panic, a traceback, a signal) instead of reporting.
    ClientCrashed,
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
            Symptom::FalseAlarm => "a correct echo reported as wrong",
            Symptom::Serial => "connections one after another",
            Symptom::ClientCrashed => "client crashed",
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
    /// What crossed the wire, as timed events (the text report's `>`/`<` transcript and
    /// the HTML report's sequence diagram); empty when the probe recorded nothing.
    #[serde(default)]
    pub exchange: super::Exchange,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::process::Unknown;

    #[test]
    fn a_fact_the_system_cannot_tell_skips_the_test_and_says_which() {
        let verdict: Verdict = Unknown {
            fact: "thread count",
        }
        .into();
        match verdict {
            Verdict::Skip(why) => assert!(why.contains("thread count"), "{why}"),
            Verdict::Fail(f) => panic!("a missing /proc failed the test: {}", f.summary),
        }
    }
}
