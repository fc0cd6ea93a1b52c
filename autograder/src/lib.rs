//! # The netlabs autograder
//!
//! A black-box grader: it launches a program (in any language), talks to it over real
//! sockets, and checks what crosses the wire byte for byte.
//!
//! The components, from the command line down:
//!
//! - [`cli`]: the `autograder` command (`grade`, `check`, `list`, `hint`).
//! - [`check`] and [`watch`]: the student's loop: build, grade, explain; again on save.
//! - [`steps`]: the lab crates' step checks, which `check` runs before the rubric.
//! - [`bench`]: `autograder bench`, the load generator and the throughput/latency graph.
//! - [`demo`]: `autograder demo concurrency`, the three echo servers side by side.
//! - [`handouts`]: `autograder handouts [--fix]`, keeping handouts' code and tables true.
//! - [`batch`] and [`export`]: grading a class in parallel; Gradescope bundles, the
//!   student copy, the GitHub Classroom workflow.
//! - [`sandbox`]: containment of untrusted submissions (subreaper sweep, memory limit,
//!   network namespaces, rlimits).
//! - [`cargo`]: finding the workspace and building a lab's package.
//! - [`runner`]: runs a rubric, one fresh program per test, with time limits.
//! - [`harness`]: starts programs in their own process group, waits until they listen,
//!   and always tears them down.
//! - [`probe`]: the toolkit probes use (recorded connections, deadlines, byte diffs) and
//!   the shared probes of the echo labs.
//! - [`labs`]: one rubric per lab.
//! - [`rubric`]: what a rubric is made of.
//! - [`report`]: text, Gradescope JSON and JUnit output.
//! - [`procfs`]: facts about processes from Linux's `/proc`.
//! - [`rng`]: seeded randomness, so every run can be repeated.
//! - [`output`]: standard output that a reader going away (`| head`) cannot crash.

#[macro_use]
pub mod output;

pub mod batch;
pub mod bench;
pub mod cargo;
pub mod check;
pub mod cli;
pub mod demo;
pub mod export;
pub mod handouts;
pub mod harness;
pub mod labs;
pub mod probe;
pub mod procfs;
pub mod report;
pub mod rng;
pub mod rubric;
pub mod runner;
pub mod sandbox;
pub mod steps;
pub mod watch;
