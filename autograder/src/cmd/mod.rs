//! # Commands: what a person runs
//!
//! Each `autograder` subcommand lives here, above the grading core ([`crate::grade`]) and
//! the OS layer ([`crate::os`]); nothing below imports from here.
//!
//! - [`cli`]: argument parsing and dispatch (`grade`, `check`, `list`, `hint`, …).
//! - [`check`] and [`watch`]: the student's loop: build, grade, explain; again on save.
//! - [`steps`]: the lab crates' step checks, which `check` runs before the rubric.
//! - [`batch`] and [`export`]: grading a class in parallel; Gradescope bundles, the
//!   student copy, the GitHub Classroom workflow.
//! - [`bench`](mod@bench): `autograder bench`, measurements with the grading core's load
//!   generator, and the throughput/latency graph.
//! - [`demo`]: `autograder demo concurrency`, the three echo servers side by side.
//! - [`capture`] and [`iograph`]: `--capture DIR`, each test's packets as a pcap file
//!   and its I/O graph beside it.
//! - [`plot`]: what the SVG charts share.
//! - [`limits`]: the limits flags `grade` and `batch` share.
//! - [`handouts`]: `autograder handouts [--fix]`, keeping handouts' code and tables true.

pub mod batch;
pub mod bench;
pub mod capture;
pub mod check;
pub mod cli;
pub mod demo;
pub mod export;
pub mod handouts;
pub mod iograph;
pub mod limits;
pub mod plot;
pub mod steps;
pub mod watch;
