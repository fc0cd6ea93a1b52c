//! # The grading core: rubrics, probes and reports
//!
//! Independent of how it was invoked (the commands in [`crate::cmd`]) and built on the OS
//! layer ([`crate::os`]) for starting and watching programs.
//!
//! - [`ftp_reply`]: FTP's passive-mode replies, for the probes and the bench alike.
//! - [`labs`]: one rubric per lab — a new lab's tests and hints go here.
//! - [`rubric`]: what a rubric is made of, and its Markdown table.
//! - [`overrides`]: an instructor's `rubric.toml` and the effective rubric made from it.
//! - [`probe`]: the black-box clients (and, for lab 4's client, servers) that test a
//!   program over real sockets, the toolkit they share (recorded connections, deadlines,
//!   byte diffs) and their verdicts — a new lab's probes go here.
//! - [`swarm`]: the readiness-loop client engine (mio) that drives many connections from
//!   one thread — the probes' swarms and the bench's load generator ([`swarm::load`]).
//! - [`runner`]: runs a rubric, one fresh program per test, with time limits.
//! - [`unfinished`]: the `todo!()` step a stub stopped at, read from its output.
//! - [`report`]: text, Gradescope's `results.json` (as types), JUnit and the worker's wire
//!   format, and the XML and CSV quoting they share — a new report format goes here.

pub mod ftp_reply;
pub mod labs;
pub mod overrides;
pub mod probe;
pub mod report;
pub mod rubric;
pub mod runner;
pub mod swarm;
pub mod unfinished;
